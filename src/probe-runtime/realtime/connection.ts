import { z } from "zod";
import { tlsSetting } from "../../config/index.ts";

/**
 * The connection settings every realtime protocol shares, inside a probe's
 * `with:` (the protocol itself and its own block are added by
 * `realtimeSettings`, which knows the adapters). Secrets belong in
 * `${VAR}` references, never in the file.
 */

const AUTH_FORMS = "give one of { bearer: TOKEN }, { username: NAME, password: SECRET } or { token: TOKEN }";

/**
 * How the probe proves who it is. `bearer` goes in an Authorization header
 * of the WebSocket upgrade; `username`/`password` is HTTP basic auth on an
 * upgrade, and the protocol's own user and password where it has them (MQTT
 * CONNECT, NATS `user`/`pass`); `token` is carried in the protocol's own
 * handshake (Socket.IO `auth.token`, NATS `auth_token`, MQTT password).
 */
export const authSetting = z.union(
  [
    z.strictObject({ bearer: z.string().min(1) }),
    z.strictObject({ username: z.string().min(1), password: z.string() }),
    z.strictObject({ token: z.string().min(1) }),
  ],
  { error: AUTH_FORMS },
);

/** A URL of any scheme (the adapter checks the scheme). */
export const anyUrlSetting = z.string().regex(/^[a-z][a-z0-9+.-]*:\/\/[^\s/?#]+\S*$/i, { error: "expected a URL like ws://host:4000/ws or mqtt://host:1883" });

/** The shared fields, as a zod shape (`protocol` and the per-protocol blocks are added by realtimeSettings). */
export const connectionShape = {
  /** The broker's URL. @defaultValue for `pulseboard`, the managed gateway's shared URL; required for every other protocol */
  url: anyUrlSetting.optional(),
  /** Sent with the WebSocket upgrade (or the protocol's handshake headers). */
  headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: "header names are letters, digits and - _ ." }), z.string()).default({}),
  auth: authSetting.optional(),
  /** The WebSocket subprotocol to ask for (Sec-WebSocket-Protocol). @defaultValue the protocol's own (mqtt for MQTT over WebSocket), else none */
  subprotocol: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: "a subprotocol is one token, like mqtt or v1.chat" }).optional(),
  tls: tlsSetting.optional(),
};

/** The connection settings as an adapter gets them (defaults applied). */
export type ConnectionSettings = z.output<z.ZodObject<typeof connectionShape>> & {
  /** The protocol named by `with.protocol`. */
  protocol: string;
};
