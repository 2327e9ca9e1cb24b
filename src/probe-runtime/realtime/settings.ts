import { z } from "zod";
import { connectionShape, type ConnectionSettings } from "./connection.ts";
import { adapters, isProtocol, PROTOCOLS, type ProtocolName } from "./registry.ts";
import type { Capabilities, RealtimeAdapter } from "./types.ts";

/** What a capability is called in a config error. */
const CAPABILITY_WORDS: Record<keyof Capabilities, string> = {
  channels: "channels to publish and subscribe on",
  resume: "resume after a dropped connection",
  resumeOnAnyNode: "resume on another node than the one it left",
};

/** The protocol's own settings blocks, each optional: `socket.io: {…}`, `mqtt: {…}`, … */
const protocolBlocks = Object.fromEntries(PROTOCOLS.map((p) => [p, adapters[p].settingsSchema.optional()])) as Record<ProtocolName, z.ZodOptional<z.ZodType>>;

/** What every realtime probe kind's parsed settings carry: the connection, the adapter chosen, and its own block parsed. */
export type RealtimeSettings = ConnectionSettings & {
  protocol: ProtocolName;
  adapter: RealtimeAdapter;
  /** The protocol's own block (`mqtt: {…}`), defaults applied. */
  protocolSettings: unknown;
};

/**
 * A probe kind's `with:` schema, for a kind that works through the realtime
 * adapters: the shared connection fields (`protocol`, `url`, `headers`,
 * `auth`, `subprotocol`, `tls`), one optional block per protocol, and the
 * kind's own `shape`. Validation names, with the field's path:
 * - a misspelt protocol, listing the valid ones;
 * - a protocol the kind cannot run on (`needs` a capability it lacks), naming both;
 * - a URL (and every `nodes` URL) of a scheme the protocol is not reached at;
 * - another protocol's block (`mqtt:` with `protocol: nats`);
 * - a missing `url` for any protocol but our own gateway's.
 */
export function realtimeSettings<Shape extends z.ZodRawShape>(kind: string, needs: (keyof Capabilities)[], shape: Shape) {
  return z
    .strictObject({
      /** Which broker protocol to speak. @defaultValue "pulseboard" (our gateway) */
      protocol: z.string().default("pulseboard"),
      ...connectionShape,
      ...protocolBlocks,
      ...shape,
    })
    .superRefine((value, ctx) => {
      const settings = value as Record<string, unknown> & { protocol: string; url?: string; nodes?: unknown };
      if (!isProtocol(settings.protocol)) {
        ctx.addIssue({ code: "custom", path: ["protocol"], message: `unknown protocol ${JSON.stringify(settings.protocol)} (valid: ${PROTOCOLS.join(", ")})` });
        return;
      }
      const adapter = adapters[settings.protocol];
      for (const need of needs) {
        if (!adapter.capabilities[need]) {
          const able = PROTOCOLS.filter((p) => adapters[p].capabilities[need]).join(", ");
          ctx.addIssue({ code: "custom", path: ["protocol"], message: `the ${kind} kind needs ${CAPABILITY_WORDS[need]}, which ${settings.protocol} lacks (use one of: ${able})` });
        }
      }
      if (needs.includes("resume") && adapter.resumeProblem) {
        const problem = adapter.resumeProblem(settings[settings.protocol] ?? adapter.settingsSchema.parse({}));
        if (problem) ctx.addIssue({ code: "custom", path: [settings.protocol], message: `the ${kind} kind ${problem}` });
      }
      for (const other of PROTOCOLS) {
        if (other !== settings.protocol && settings[other] !== undefined) {
          ctx.addIssue({ code: "custom", path: [other], message: `settings for ${other}, but this probe speaks ${settings.protocol}: rename the block to "${settings.protocol}" or set protocol: ${other}` });
        }
      }
      const urls: [PropertyKey[], string][] = [];
      if (settings.url) urls.push([["url"], settings.url]);
      if (Array.isArray(settings.nodes)) settings.nodes.forEach((url, i) => typeof url === "string" && urls.push([["nodes", i], url]));
      for (const [path, url] of urls) {
        const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
        if (scheme && !adapter.schemes.includes(scheme)) {
          ctx.addIssue({ code: "custom", path, message: `${settings.protocol} is reached at ${adapter.schemes.map((s) => `${s}://`).join(", ")} URLs, not ${scheme}://` });
        }
      }
      if (settings.protocol !== "pulseboard" && urls.length === 0) {
        ctx.addIssue({ code: "custom", path: ["url"], message: `required for protocol ${settings.protocol}: the broker's URL, like ${adapter.schemes[0]}://broker.example.com` });
      }
    })
    .transform((value) => {
      const protocol = (value as { protocol: string }).protocol as ProtocolName;
      const adapter = adapters[protocol];
      const block = (value as Record<string, unknown>)[protocol];
      const protocolSettings = block === undefined ? adapter.settingsSchema.parse({}) : block;
      // Not enumerable: the adapter (its schemas, its code) is no setting to show, scan for secrets or serialise.
      return Object.defineProperty({ ...value, protocol, protocolSettings }, "adapter", { value: adapter, enumerable: false }) as typeof value & RealtimeSettings;
    });
}
