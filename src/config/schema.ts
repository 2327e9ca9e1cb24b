import { z } from "zod";
import { parseDuration } from "./duration.ts";
import { parseSize } from "./size.ts";

/** Statuspage's component statuses, in order of severity (worst last). */
export const COMPONENT_STATUSES = [
  "operational",
  "under_maintenance",
  "degraded_performance",
  "partial_outage",
  "major_outage",
] as const;
export type ComponentStatus = (typeof COMPONENT_STATUSES)[number];

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const idMessage = "expected an id of lowercase letters, digits and dashes, like \"realtime-gateway\"";

export const id = z.string({ error: idMessage }).regex(ID, { error: idMessage });

/** A duration written like "10s"; parses to milliseconds. */
export const duration = z.unknown().transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a duration like "10s", got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return ms;
});

/** A size written like "64KiB" or a number of bytes; parses to bytes. */
export const size = z.unknown().transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a size like "64KiB" or a number of bytes, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return bytes;
});

const port = z
  .number({ error: "expected a port number from 1 to 65535" })
  .int({ error: "expected a port number from 1 to 65535" })
  .min(1, { error: "expected a port number from 1 to 65535" })
  .max(65535, { error: "expected a port number from 1 to 65535" });

const redisUrl = z
  .string()
  .regex(/^rediss?:\/\//, { error: "expected a Redis URL like redis://host:6379" });

const pageSchema = z.strictObject({
  name: z.string().min(1).default("Status"),
  url: z.string().url({ error: "expected the public URL of the status page, like https://status.example.com" }).default("http://localhost:3000"),
  time_zone: z
    .string()
    .refine(isTimeZone, { error: "expected an IANA time zone like \"Europe/Berlin\" or \"Etc/UTC\"" })
    .default("Etc/UTC"),
  description: z.string().optional(),
});

const locationSchema = z.strictObject({
  id,
  name: z.string().min(1).optional(),
});

const componentSchema = z.strictObject({
  id,
  name: z.string().min(1),
  description: z.string().optional(),
  group: z.string().min(1).optional(),
  only_show_if_degraded: z.boolean().default(false),
  showcase: z.boolean().default(true),
});

const probeSchema = z.strictObject({
  id,
  name: z.string().min(1).optional(),
  kind: z.string().min(1),
  enabled: z.boolean().default(true),
  interval: duration.default(10_000).refine((ms) => ms >= 1_000, { error: "must be at least 1s" }),
  timeout: duration.optional(),
  locations: z.union([z.literal("all"), z.array(id).min(1)]).default("all"),
  components: z.array(id).default([]),
  /** Latency above this makes a passing result `degraded`. */
  degraded_over: duration.optional(),
  /** Consecutive bad results before a location's state changes. */
  fail_after: z.number().int().min(1).max(100).default(2),
  /** Consecutive good results before a location recovers. */
  recover_after: z.number().int().min(1).max(100).default(2),
  /** What the probe's components become when it fails. */
  impact: z.enum(["degraded_performance", "partial_outage", "major_outage"]).default("major_outage"),
  /** Locations that must agree before the probe's state changes. */
  quorum: z.union([z.literal("majority"), z.number().int().min(1)]).default("majority"),
  /** Settings of the probe's kind, validated by that kind's own schema. */
  with: z.record(z.string(), z.unknown()).default({}),
});

/** A channel: `id`, `kind`, and the kind's own settings (checked by its notifier's schema). */
const channelSchema = z.looseObject({ id, kind: z.string().min(1) });

const IMPACTS = ["none", "minor", "major", "critical"] as const;

const routeSchema = z.strictObject({
  /** Channels this route posts to. */
  channels: z.array(id).min(1),
  /** Only incidents affecting one of these components. @defaultValue all */
  components: z.array(id).optional(),
  /** Only incidents of these impacts. @defaultValue all */
  impacts: z.array(z.enum(IMPACTS)).optional(),
});

const notificationsSchema = z.strictObject({
  channels: z.array(channelSchema).default([]),
  /** Which incidents go where; without routes every channel gets every post. */
  routes: z.array(routeSchema).default([]),
  /** Delivery retries: exponential from `retry_base`, capped at `retry_max`, for `attempts` tries. */
  retry_base: duration.default(1_000),
  retry_max: duration.default(5 * 60_000),
  attempts: z.number().int().min(1).max(100).default(20),
});

const maintenanceSchema = z
  .strictObject({
    id,
    name: z.string().min(1),
    components: z.array(id).min(1),
    message: z.string().min(1).default("Scheduled maintenance."),
    /** A one-off window. */
    starts_at: z.iso.datetime({ offset: true, error: 'expected an ISO 8601 time like "2026-12-01T02:00:00Z"' }).optional(),
    ends_at: z.iso.datetime({ offset: true, error: 'expected an ISO 8601 time like "2026-12-01T03:00:00Z"' }).optional(),
    /** A recurring window: when it starts (cron, in `timezone`) and how long it lasts. */
    cron: z.string().optional(),
    duration: duration.optional(),
    timezone: z.string().default("Etc/UTC"),
  })
  .superRefine((m, ctx) => {
    const once = m.starts_at !== undefined || m.ends_at !== undefined;
    const recurring = m.cron !== undefined || m.duration !== undefined;
    if (once === recurring) ctx.addIssue({ code: "custom", message: "give either starts_at and ends_at, or cron and duration" });
    if (once && (m.starts_at === undefined || m.ends_at === undefined)) ctx.addIssue({ code: "custom", message: "a one-off window needs both starts_at and ends_at" });
    if (once && m.starts_at && m.ends_at && Date.parse(m.ends_at) <= Date.parse(m.starts_at)) ctx.addIssue({ code: "custom", path: ["ends_at"], message: "must be after starts_at" });
    if (recurring && (m.cron === undefined || m.duration === undefined)) ctx.addIssue({ code: "custom", message: "a recurring window needs both cron and duration" });
    if (!isTimeZone(m.timezone)) ctx.addIssue({ code: "custom", path: ["timezone"], message: 'expected an IANA time zone like "Europe/Berlin"' });
  });

const evaluationSchema = z.strictObject({
  /** A component whose status changes `flap_changes` times within `flap_window` is held at the worse state. */
  flap_window: duration.default(10 * 60_000),
  flap_changes: z.number().int().min(2).max(100).default(4),
  /** After recovery, an automatic incident is monitored this long before it resolves; a relapse reopens it. */
  quiet_period: duration.default(5 * 60_000),
});

export const PLAYBOOK_ACTIONS = [
  "restart-gateway",
  "bypass-cache",
  "restore-cache",
  "scale-out",
  "scale-in",
  "wait",
  "verify",
  "notify",
  "webhook",
  "command",
] as const;

const playbookSchema = z.strictObject({
  id,
  enabled: z.boolean().default(true),
  mode: z.enum(["auto", "approve", "dry-run"]).default("auto"),
  trigger: z.strictObject({
    component: id.optional(),
    probe: id.optional(),
    status: z.enum(COMPONENT_STATUSES).default("major_outage"),
    for: duration.default(0),
  }),
  steps: z
    .array(z.looseObject({ action: z.enum(PLAYBOOK_ACTIONS) }))
    .min(1, { error: "a playbook needs at least one step" }),
});

const gatewaySchema = z.strictObject({
  nodes: z.number().int().min(1).max(64).default(2),
  port: port.default(4000),
  host: z.string().optional(),
  /** Where probes reach the gateway; defaults to ws://127.0.0.1:<port>/ws. */
  url: z.string().regex(/^wss?:\/\//, { error: "expected a WebSocket URL like ws://host:4000/ws" }).optional(),
  /** Each node also listens alone on node_port_base + index. @defaultValue port + 1 */
  node_port_base: port.optional(),
  /** Heartbeat interval of the server's pings; a peer silent for two is dropped. */
  heartbeat: duration.default(15_000),
  /** The fleet's admin API (bearer-token protected). @defaultValue port + 100 */
  admin_port: port.optional(),
  /** Interface of the admin API. @defaultValue "127.0.0.1" */
  admin_host: z.string().min(1).default("127.0.0.1"),
  /** Where probes and playbooks reach the admin API. @defaultValue http://127.0.0.1:<admin_port> */
  admin_url: z.string().regex(/^https?:\/\//, { error: "expected an HTTP URL like http://gateway:4100" }).optional(),
  /** Bearer token of the fleet's admin API; `start` generates one when unset. */
  admin_token: z.string().min(16, { error: "must be at least 16 characters" }).optional(),
  /**
   * Connections one node accepts; beyond it new clients get close 1013 and a
   * retry hint. @defaultValue what the node's open-file limit allows (minus a reserve)
   */
  max_connections: z.number().int().min(1).max(1_000_000).optional(),
  /** Largest frame a client may send; larger ones get an error frame. */
  max_payload: size.default(64 * 1024).refine((b) => b >= 1024 && b <= 16 * 1024 * 1024, { error: "must be from 1KiB to 16MiB" }),
  /** Unsent bytes queued for one client before it is disconnected as a slow consumer. */
  max_buffered: size.default(1024 * 1024),
  /** Publishes per second one connection may sustain, and its burst. */
  publish_rate: z.number().positive().max(100_000).default(100),
  publish_burst: z.number().int().min(1).max(100_000).default(200),
  /** Channels one connection may subscribe to. */
  max_subscriptions: z.number().int().min(1).max(10_000).default(100),
  /** History kept per channel, for resume: at most `size` messages, kept `ttl` after the last publish. */
  history: z
    .strictObject({
      size: z.number().int().min(10).max(100_000).default(1_000),
      ttl: duration.default(10 * 60_000),
      meta_ttl: duration.default(30 * 86_400_000),
    })
    .prefault({}),
  /** How long a publish waits for the cache Redis before it fails. */
  cache_timeout: duration.default(1_000),
  /** Key prefix in the cache Redis. */
  cache_prefix: z.string().regex(/^[A-Za-z0-9_.-]+$/).default("pbgw"),
  /** Lets the admin API inject faults (tests, demos, `pulseboard chaos`). Never on in production. */
  faults: z.boolean().default(false),
});

export const fileSchema = z.strictObject({
  page: pageSchema.prefault({}),
  home: z.string().min(1).default(".pulseboard"),
  web: z.strictObject({ port: port.default(3000), host: z.string().optional() }).prefault({}),
  redis: z
    .strictObject({ url: redisUrl.optional(), prefix: z.string().regex(/^[A-Za-z0-9_.-]+$/).default("pulseboard") })
    .prefault({}),
  cache: z.strictObject({ url: redisUrl.optional() }).prefault({}),
  admin: z.strictObject({ token: z.string().min(16, { error: "must be at least 16 characters" }).optional() }).prefault({}),
  log: z.strictObject({ level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info") }).prefault({}),
  locations: z.array(locationSchema).min(1, { error: "configure at least one location" }),
  components: z.array(componentSchema).min(1, { error: "configure at least one component" }),
  gateway: gatewaySchema.prefault({}),
  probes: z.array(probeSchema).default([]),
  notifications: notificationsSchema.prefault({}),
  evaluation: evaluationSchema.prefault({}),
  maintenance: z.array(maintenanceSchema).default([]),
  playbooks: z.array(playbookSchema).default([]),
});

export type ConfigFile = z.output<typeof fileSchema>;
export type ProbeConfig = z.output<typeof probeSchema>;
export type ComponentConfig = z.output<typeof componentSchema>;
export type LocationConfig = z.output<typeof locationSchema>;
export type PlaybookConfig = z.output<typeof playbookSchema>;
export type ChannelConfig = z.output<typeof channelSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type MaintenanceConfig = z.output<typeof maintenanceSchema>;

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
