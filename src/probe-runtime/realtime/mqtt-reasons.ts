import type { Refusal } from "./types.ts";

/**
 * What MQTT's reason codes mean, in the words a failure quotes: CONNACK
 * return codes of 3.1.1, and the reason codes of MQTT 5 (CONNACK, SUBACK,
 * PUBACK, DISCONNECT share one table).
 */

/** MQTT 3.1.1 CONNACK return codes (section 3.2.2.3). */
const CONNACK_311: Record<number, string> = {
  1: "unacceptable protocol version",
  2: "identifier rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorized",
};

/** MQTT 5 reason codes that end or refuse something (section 2.4), and DISCONNECT's 0. */
const REASONS_5: Record<number, string> = {
  0x00: "normal disconnection",
  0x80: "unspecified error",
  0x81: "malformed packet",
  0x82: "protocol error",
  0x83: "implementation specific error",
  0x84: "unsupported protocol version",
  0x85: "client identifier not valid",
  0x86: "bad user name or password",
  0x87: "not authorized",
  0x88: "server unavailable",
  0x89: "server busy",
  0x8a: "banned",
  0x8b: "server shutting down",
  0x8c: "bad authentication method",
  0x8d: "keep alive timeout",
  0x8e: "session taken over",
  0x8f: "topic filter invalid",
  0x90: "topic name invalid",
  0x91: "packet identifier in use",
  0x93: "receive maximum exceeded",
  0x95: "packet too large",
  0x96: "message rate too high",
  0x97: "quota exceeded",
  0x98: "administrative action",
  0x99: "payload format invalid",
  0x9a: "retain not supported",
  0x9b: "QoS not supported",
  0x9c: "use another server",
  0x9d: "server moved",
  0x9e: "shared subscriptions not supported",
  0x9f: "connection rate exceeded",
  0xa0: "maximum connect time",
  0xa1: "subscription identifiers not supported",
  0xa2: "wildcard subscriptions not supported",
};

/** The CONNACK codes by which a broker says it is full (or too busy) rather than that this client is unwelcome. */
const FULL: Record<4 | 5, number[]> = { 4: [3], 5: [0x88, 0x89, 0x97, 0x9f] };

/** A reason code as written in a failure: `5` for 3.1.1, `0x87` for 5. */
export function codeText(version: 4 | 5, code: number): string {
  return version === 4 ? String(code) : `0x${code.toString(16).toUpperCase().padStart(2, "0")}`;
}

/** What a reason code means: "not authorized". */
export function reasonName(version: 4 | 5, code: number): string {
  return (version === 4 ? CONNACK_311[code] : REASONS_5[code]) ?? "unknown reason code";
}

/** A reason code and its meaning: `5 (not authorized)`, `0x87 (not authorized)`. */
export function reasonText(version: 4 | 5, code: number): string {
  return `${codeText(version, code)} (${reasonName(version, code)})`;
}

/** A CONNACK that refused the connection, as a Refusal. */
export function connackRefusal(version: 4 | 5, code: number): Refusal {
  return { message: `CONNACK ${reasonText(version, code)}`, full: FULL[version].includes(code) };
}

/** A SUBACK failure, as the end of "the broker refused the subscription to <topic> (…)". */
export function subackText(version: 4 | 5, code: number): string {
  // 3.1.1 has a single failure code and no reason: Mosquitto sends it for an ACL denial or a bad filter alike.
  if (version === 4) return `SUBACK ${code}: not authorized or invalid topic`;
  return `SUBACK ${codeText(5, code)}: ${reasonName(5, code)}`;
}
