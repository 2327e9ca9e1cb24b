import { z } from "zod";

/** The `mqtt:` block of a probe's `with:`. */
export const mqttSettings = z.strictObject({
  /**
   * The QoS of the probe's subscriptions and publishes: 1 waits for the
   * broker's PUBACK and lets a persistent session queue messages while the
   * probe is away; 0 is fire-and-forget. @defaultValue 1
   */
  qos: z.union([z.literal(0), z.literal(1)], { error: "qos is 0 or 1 (QoS 2 is not supported)" }).default(1),
  /**
   * Connect with a clean session. The resume kind needs `false`, so the
   * broker keeps the session (and queues QoS 1 messages) across a dropped
   * connection (with MQTT 5, the broker is asked to keep it 300 s after the
   * connection ends). @defaultValue true
   */
  clean: z.boolean({ error: "clean is true or false" }).default(true),
  /** The protocol version: 4 is MQTT 3.1.1, 5 is MQTT 5. @defaultValue 4 */
  version: z.union([z.literal(4), z.literal(5)], { error: "version is 4 (MQTT 3.1.1) or 5 (MQTT 5)" }).default(4),
  /** Seconds between keepalive pings; 0 turns them off. @defaultValue 30 */
  keepalive: z
    .number({ error: "keepalive is a number of seconds" })
    .int({ error: "keepalive is whole seconds" })
    .min(0, { error: "keepalive is 0 (off) or more seconds" })
    .max(65_535, { error: "keepalive is at most 65535 seconds (MQTT's limit)" })
    .default(30),
  /**
   * The start of each connection's client id; a random part follows, unless
   * the caller gives the id. The random part is 12 characters, and MQTT
   * 3.1.1 only promises ids of up to 23, so keep it short. @defaultValue "pulseboard-"
   */
  client_id_prefix: z
    .string({ error: "client_id_prefix is a string" })
    .max(64, { error: "client_id_prefix is at most 64 characters" })
    .regex(/^[\x21-\x7e]*$/, { error: "client_id_prefix is printable ASCII without spaces (brokers reject other client ids)" })
    .default("pulseboard-"),
});

/** The `mqtt:` block as an adapter gets it (defaults applied). */
export type MqttSettings = z.output<typeof mqttSettings>;
