import mqtt from "./mqtt.ts";
import nats from "./nats.ts";
import pulseboard from "./pulseboard.ts";
import socketIo from "./socket-io.ts";
import websocket from "./websocket.ts";
import type { RealtimeAdapter } from "./types.ts";

/** Every realtime protocol there is; a probe's `with.protocol` names one of these. */
export const PROTOCOLS = ["pulseboard", "websocket", "socket.io", "mqtt", "nats"] as const;
/** The name of a protocol, as written in `with.protocol`. */
export type ProtocolName = (typeof PROTOCOLS)[number];

/**
 * Every adapter by protocol. A Record over ProtocolName, so a protocol
 * listed above without an adapter does not compile.
 */
export const adapters: Record<ProtocolName, RealtimeAdapter> = {
  pulseboard,
  websocket,
  "socket.io": socketIo,
  mqtt,
  nats,
} as Record<ProtocolName, RealtimeAdapter>;

/** True for a protocol that has an adapter. */
export function isProtocol(name: string): name is ProtocolName {
  return (PROTOCOLS as readonly string[]).includes(name);
}
