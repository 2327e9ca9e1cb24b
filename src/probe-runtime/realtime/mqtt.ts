import { ProbeFailure } from "../types.ts";
import { MqttProbeClient } from "./mqtt-client.ts";
import { mqttSettings } from "./mqtt-settings.ts";
import { defineAdapter } from "./types.ts";

/** Mosquitto (and EMQX, HiveMQ, VerneMQ) publish the number of connected clients here, retained. */
const CONNECTED_TOPIC = "$SYS/broker/clients/connected";

/**
 * MQTT brokers (Mosquitto, EMQX, HiveMQ, …), over TCP, TLS or WebSocket,
 * through mqtt.js on a wire we open ourselves so each phase is timed:
 * `connect` (TCP, and TLS), `upgrade` (ws:// and wss://, offering the
 * `mqtt` subprotocol) and `handshake` (CONNECT until CONNACK). A channel is
 * a topic (filter). Auth: `{ username, password }` as MQTT's own;
 * `{ token }` as the password, with the user name "pulseboard";
 * `{ bearer }` only as the WebSocket upgrade's Authorization header.
 * `headers` go on the upgrade (ws only). Resume keeps the client id and
 * reconnects with `clean: false`; it needs `mqtt: { clean: false }` from the
 * first connection on, or the broker keeps no session to resume.
 */
export default defineAdapter({
  protocol: "mqtt",
  description: "MQTT 3.1.1 / 5 over TCP, TLS or WebSocket",
  schemes: ["mqtt", "mqtts", "ws", "wss"],
  capabilities: { channels: true, resume: true },
  settingsSchema: mqttSettings,
  resumeProblem(settings) {
    if (settings.clean || settings.qos !== 1) return "needs a persistent session on MQTT, or the broker keeps nothing for the client to come back to: set mqtt: { clean: false, qos: 1 }";
    return undefined;
  },
  async connect(options) {
    if (options.settings.auth && "bearer" in options.settings.auth && !/^wss?:/i.test(options.url)) {
      throw new ProbeFailure(`auth.bearer is sent in a WebSocket upgrade's Authorization header, and ${options.url.split("://")[0]}:// has no upgrade: use a ws:// or wss:// URL, or auth { username, password } or { token } (sent in CONNECT)`);
    }
    const client = new MqttProbeClient(options);
    try {
      await client.open(options, options.phase, options.protocolSettings.clean);
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  },
  /** `$SYS/broker/clients/connected` (this client included); undefined from a broker that publishes no $SYS topics. */
  async load(client, { signal, withinMs }) {
    if (!(client instanceof MqttProbeClient)) return undefined;
    const text = await client.sample(CONNECTED_TOPIC, withinMs, signal);
    return text !== undefined && /^\d+$/.test(text.trim()) ? { connections: Number(text), source: CONNECTED_TOPIC } : undefined;
  },
});
