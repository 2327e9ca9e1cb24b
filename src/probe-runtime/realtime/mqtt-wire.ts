import type { Duplex } from "node:stream";
import { createWebSocketStream } from "ws";
import { openSocket, openWebSocket, type WireOptions } from "./transport.ts";

/** MQTT's registered ports (mqtt:// and mqtts://). */
const DEFAULT_PORTS: Record<string, number> = { mqtt: 1883, mqtts: 8883 };

/**
 * Opens the byte stream an MQTT client runs on: a TCP or TLS socket for
 * mqtt:// and mqtts://, timed as `connect`; for ws:// and wss://, a
 * WebSocket offering the `mqtt` subprotocol, timed as `connect` and
 * `upgrade`, as a stream of its binary frames.
 */
export async function openMqttStream(options: WireOptions): Promise<Duplex> {
  const url = new URL(options.url);
  const scheme = url.protocol.slice(0, -1);
  if (scheme === "ws" || scheme === "wss") {
    const ws = await openWebSocket({ ...options, defaultSubprotocols: ["mqtt"] });
    const stream = createWebSocketStream(ws);
    // The stream only ends its readable side when the socket closes; mqtt.js learns of a dead broker from the stream's close.
    ws.once("close", () => stream.destroy());
    return stream;
  }
  return openSocket({
    ...options,
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port ? Number(url.port) : DEFAULT_PORTS[scheme]!,
    secure: scheme === "mqtts",
  });
}
