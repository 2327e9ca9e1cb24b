/**
 * The brokers the probe benchmark's per-protocol steps probe besides our
 * gateway: Mosquitto (MQTT over TCP), one nats-server (NATS over TCP), a
 * one-node Socket.IO app and a plain `ws` echo server, each a real process
 * on loopback, started with the same launchers the tests use and stopped
 * with the rest of the run.
 */
import type { ProtocolName } from "../../src/probe-runtime/index.ts";
import { startMosquitto } from "../../test/helpers/brokers/mosquitto.ts";
import { startNats } from "../../test/helpers/brokers/nats.ts";
import { startPlainWebSocket } from "../../test/helpers/brokers/plain-websocket.ts";
import { startSocketIo } from "../../test/helpers/brokers/socket-io.ts";
import type { Processes } from "../gateway/servers.ts";

/** How the websocket probes of one protocol reach their broker, and the broker's processes (for CPU). */
export interface BenchBroker {
  /** A probe's `with:` without its channel. */
  settings: Record<string, unknown>;
  pids: number[];
}

/** Starts the four foreign brokers; `gatewayUrl` is ours. Each is stopped with `procs`. */
export async function startBrokers(procs: Processes, gatewayUrl: string, gatewayPids: () => Promise<number[]>): Promise<Record<ProtocolName, BenchBroker>> {
  const [mqtt, nats, socketIo, plain] = await Promise.all([
    startMosquitto({ transport: "tcp" }),
    startNats({ nodes: 1 }),
    startSocketIo({ nodes: 1 }),
    startPlainWebSocket({ mode: "echo" }),
  ]);
  for (const broker of [mqtt, nats, socketIo, plain]) procs.onStop(() => broker.stop());
  return {
    pulseboard: { settings: { url: gatewayUrl }, pids: await gatewayPids() },
    // A clean session, as a probe should have: a persistent one per run would pile up in the broker.
    mqtt: { settings: { ...mqtt.settings, mqtt: { qos: 1 } }, pids: [mqtt.pid] },
    nats: { settings: { ...nats.settings, url: nats.tcpUrls[0]! }, pids: nats.pids },
    "socket.io": { settings: socketIo.settings, pids: socketIo.pids },
    websocket: { settings: plain.settings, pids: [plain.pid] },
  };
}
