import { z } from "zod";
import { durationProblem, parseDuration } from "../config/index.ts";
import { anyUrlSetting } from "./realtime/connection.ts";
import { realtimeChannelSetting } from "./realtime/messaging.ts";
import { realtimeSettings } from "./realtime/settings.ts";
import type { Capabilities } from "./realtime/types.ts";

/**
 * Building blocks for probe kinds' `with:` schemas, so every kind spells
 * durations, URLs and the gateway admin API the same way in pulseboard.yaml.
 */

/** A duration written like "500ms" or "2s"; parses to milliseconds. */
export function durationSetting() {
  return z.string({ error: 'expected a duration like "2s"' }).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: durationProblem(value, "2s") });
      return z.NEVER;
    }
    return ms;
  });
}

/** A ws:// or wss:// URL. */
export const wsUrlSetting = z.string().regex(/^wss?:\/\/[^\s]+$/, { error: "expected a WebSocket URL like ws://host:4000/ws" });

/** An http:// or https:// URL. */
export const httpUrlSetting = z.string().regex(/^https?:\/\/[^\s]+$/, { error: "expected an HTTP URL like https://example.com/" });

/**
 * The gateway fleet's admin API.
 * @defaultValue the managed gateway's admin API
 */
export const gatewayAdminSetting = z.strictObject({
  url: httpUrlSetting,
  /** Bearer token; write it as ${GATEWAY_ADMIN_TOKEN} rather than in the file. */
  token: z.string().min(1).optional(),
});

/** A channel name the gateway accepts (docs/protocol.md). */
export const channelSetting = z.string().regex(/^[A-Za-z0-9_.:@-]{1,200}$/, { error: "channel names are 1-200 characters of letters, digits and _ . : @ -" });

/**
 * The settings of a probe that publishes through a broker's nodes, on any
 * protocol (`realtimeSettings`): its channel (default `defaultChannel`),
 * how many messages a run publishes, the node URLs to use, and (our gateway
 * only) the fleet admin API that lists the live nodes.
 */
export function fleetMessagingSettings(kind: string, needs: (keyof Capabilities)[], defaultChannel: string, messages: { max: number; default: number }) {
  return realtimeSettings(kind, needs, {
    /**
     * Channel (room, topic, subject) the probe's channel starts with; the
     * probe id and location are appended so no two probes share one.
     */
    channel: realtimeChannelSetting.default(defaultChannel),
    /** Messages published per run, back to back. */
    messages: z.int().min(1).max(messages.max).default(messages.default),
    /**
     * One URL per node: a message published on one must arrive on another.
     * @defaultValue our gateway: the fleet's live nodes (admin API), else the configured node URLs; any other broker: its `url`
     */
    nodes: z.array(anyUrlSetting).min(1).optional(),
    /** Our gateway's fleet admin API for the live node list; null uses the configured node URLs only. @defaultValue the managed gateway's */
    admin: gatewayAdminSetting.nullable().optional(),
  }).superRefine((value, ctx) => {
    if (value.protocol !== "pulseboard" && value.admin) ctx.addIssue({ code: "custom", path: ["admin"], message: `the gateway admin API is our gateway's; a ${value.protocol} broker has none: remove admin, and list its nodes under nodes` });
  });
}

/**
 * The channel a probe run uses: `base` with the probe and location appended,
 * so runs from different probes or locations never share a channel (a shared
 * one would break the serial-continuity checks). Characters the protocol
 * does not take in a name become "_".
 */
export function probeChannel(base: string, probe: string, location: string, protocol = "pulseboard"): string {
  const invalid = protocol === "pulseboard" ? /[^A-Za-z0-9_.:@-]/g : /[\s#+*>]/g;
  return `${base}.${probe}.${location}`.replace(invalid, "_").slice(0, 200);
}
