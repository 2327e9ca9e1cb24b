import { z } from "zod";
import { durationSchema, parseDuration } from "./duration.ts";
import { shown } from "./issues.ts";
import { parseSize } from "./size.ts";
import { incidentsSchema } from "./incidents.ts";
import { oidcSchema } from "./oidc.ts";
import { playbookEntrySchema } from "./playbooks.ts";
import { wordingSchema } from "./wording.ts";

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
export const duration = durationSchema("10s");

/** A size written like "64KiB" or a number of bytes; parses to bytes. */
export const size = z.unknown().transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a size like "64KiB" or a number of bytes, got ${shown(value)}` });
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

/** The public URL of the status page (`page.url`, PUBLIC_URL). */
export const pageUrl = z.string().url({ error: "expected the public URL of the status page, like https://status.example.com" });

const pageSchema = z.strictObject({
  name: z.string().min(1).default("Status"),
  /** Where people reach the page; every absolute link is built from it. @defaultValue $PUBLIC_URL, else http://localhost:<web.port> */
  url: pageUrl.optional(),
  time_zone: z
    .string()
    .refine(isTimeZone, { error: "expected an IANA time zone like \"Europe/Berlin\" or \"Etc/UTC\"" })
    .default("Etc/UTC"),
  description: z.string().optional(),
  /** Logo shown in the header: an https URL, or a path under public/ like /static/logo.svg. */
  logo: z
    .string()
    .regex(/^(https:\/\/|\/static\/)[^"'<>\s]+$/, { error: "expected an https:// URL or a /static/ path without quotes, spaces or angle brackets" })
    .optional(),
  /** Links in the header (the product, support, the company's site). */
  links: z
    .array(z.strictObject({ label: z.string().min(1).max(40), url: z.string().regex(/^(https?:\/\/|mailto:)/, { error: "expected an http(s):// or mailto: link" }) }))
    .max(6)
    .default([]),
  /** Brand colour of the header and links, as #rrggbb. @defaultValue #2456d6 */
  brand_color: z
    .string()
    .regex(/^#[0-9a-fA-F]{6}$/, { error: "expected a colour as #rrggbb" })
    .default("#2456d6"),
});

const locationSchema = z.strictObject({
  id,
  name: z.string().min(1).optional(),
  /**
   * Its agent reaches the control plane over HTTPS only (`pulseboard agent
   * --server …`), never through Redis: `start` runs no local agent for it
   * and no probe queue is scheduled for it.
   */
  remote: z.boolean().default(false),
  /** A remote location that pushed nothing for this many of its shortest probe interval is silent. */
  silent_after: z.number().int().min(2).max(100).default(3),
});

const componentSchema = z.strictObject({
  id,
  name: z.string().min(1),
  description: z.string().optional(),
  group: z.string().min(1).optional(),
  only_show_if_degraded: z.boolean().default(false),
  showcase: z.boolean().default(true),
  /** What automatic incidents say of this component on the public page (see src/config/wording.ts). */
  wording: wordingSchema.optional(),
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
  /** Show this probe's response time (24 h and 7 d) on the public status page. */
  chart: z.boolean().default(false),
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

/** The longest a maintenance reminder may lead its window by. */
const MAX_REMIND_BEFORE_MS = 7 * 86_400_000;

/** How long before a window starts its reminder goes out: a duration like "1h", or 0 for none; parses to milliseconds. */
const remindBefore = z.unknown().transform((value, ctx) => {
  if (value === 0 || value === "0") return 0;
  const text = typeof value === "string" ? value.trim() : undefined;
  if (text?.startsWith("-") && parseDuration(text.slice(1)) !== undefined) {
    ctx.addIssue({ code: "custom", message: `must not be negative, got ${shown(value)}; write 0 for no reminder` });
    return z.NEVER;
  }
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a duration like "1h" or "30m" (0 for no reminder), got ${shown(value)}` });
    return z.NEVER;
  }
  if (ms > MAX_REMIND_BEFORE_MS) {
    ctx.addIssue({ code: "custom", message: `must be at most 7d, got ${shown(value)}` });
    return z.NEVER;
  }
  return ms;
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
    /** How long before each start subscribers and on-call channels are reminded; 0 for no reminder. @defaultValue "1h" */
    remind_before: remindBefore.default(3_600_000),
    /** Announce each start and completion to subscribers and on-call channels. @defaultValue true */
    notify: z.boolean({ error: "expected true or false" }).default(true),
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
  flap_changes: z.number().int().min(2).max(100).default(6),
  /** After recovery, an automatic incident is monitored this long before it resolves; a relapse reopens it. */
  quiet_period: duration.default(5 * 60_000),
});

/** One `playbooks[]` entry (src/config/playbooks.ts); each step's settings are checked by its step's schema. */
const playbookSchema = playbookEntrySchema({ id, duration });

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

/**
 * How playbooks reach the gateway fleet: `driver` names a fleet driver
 * (src/fleet/<driver>.ts) and the rest are that driver's own settings,
 * checked by its schema. @defaultValue { driver: local }
 */
const fleetSchema = z.looseObject({
  driver: z.string({ error: 'expected the name of a fleet driver, like "local" or "command"' }).min(1).default("local"),
});

const subscriptionsSchema = z.strictObject({
  /** Webhook subscribers: Statuspage-shaped JSON POSTs. */
  webhook: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
  /**
   * E-mail subscribers with double opt-in; only when this section is set.
   * `smtp` takes the email channel's settings (host, port, secure, starttls,
   * user, pass, timeout) and is checked by that channel's schema.
   */
  email: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Sender of subscriber mail, like "Acme Status <status@acme.example>". */
      from: z.string({ error: 'expected a sender like "Acme Status <status@acme.example>"' }),
      smtp: z.record(z.string(), z.unknown(), { error: "expected the SMTP server's settings (host, port, …)" }),
    })
    .optional(),
  /** How long a confirmation link works; unconfirmed requests are forgotten after it. @defaultValue 24h */
  confirm_ttl: duration.default(24 * 3_600_000).refine((ms) => ms >= 5 * 60_000 && ms <= 7 * 86_400_000, { error: "must be from 5m to 7d" }),
  /**
   * Key of the confirm and unsubscribe links (an HMAC key: links are never
   * stored). Write it as ${SUBSCRIPTIONS_SECRET}. @defaultValue a random key
   * kept in the control-plane Redis
   */
  secret: z.string().min(32, { error: "must be at least 32 characters (e.g. `openssl rand -base64 32`)" }).optional(),
  /** Requests one client address may make to the public subscription endpoints. @defaultValue 10 per 1m */
  rate_limit: z
    .strictObject({ requests: z.number().int().min(1).max(100_000).default(10), per: duration.default(60_000) })
    .prefault({}),
});

export const fileSchema = z.strictObject({
  page: pageSchema.prefault({}),
  home: z.string().min(1).default(".pulseboard"),
  web: z
    .strictObject({
      port: port.default(3000),
      host: z.string().optional(),
      /**
       * A per-address limit on the public page and API (cached snapshots:
       * they cost next to nothing): a steady `per_second`, bursts of up to
       * `burst`, then 429 with Retry-After. Off by default: during an outage
       * a whole company behind one NAT, or every visitor behind a proxy
       * without `trust_proxy`, is one address, and must not be turned away.
       * What costs something (subscriptions, failed admin logins) has limits
       * of its own. @defaultValue no limit
       */
      rate_limit: z
        .strictObject({
          per_second: z.number().positive().max(1_000_000).default(20),
          burst: z.number().int().min(1).max(1_000_000).default(200),
        })
        .optional(),
      /**
       * Take the client's address from the left-most X-Forwarded-For entry.
       * Only behind a proxy that sets it: anyone can send that header.
       * @defaultValue false
       */
      trust_proxy: z.boolean().default(false),
    })
    .prefault({}),
  redis: z
    .strictObject({ url: redisUrl.optional(), prefix: z.string().regex(/^[A-Za-z0-9_.-]+$/).default("pulseboard") })
    .prefault({}),
  cache: z.strictObject({ url: redisUrl.optional() }).prefault({}),
  admin: z
    .strictObject({
      token: z.string().min(16, { error: "must be at least 16 characters" }).optional(),
      /** Failed admin logins (401s) one client address may make in `per`; then 429 until the window moves on. */
      failed_logins: z
        .strictObject({ max: z.number().int().min(1).max(100_000).default(10), per: duration.default(60_000) })
        .prefault({}),
      /**
       * A console session (/admin) that sees no request for this long is
       * signed out. From 1m to 7d. @defaultValue 30m
       */
      session_idle: durationSchema("30m")
        .refine((ms) => ms >= 60_000 && ms <= 7 * 86_400_000, { error: "must be from 1m to 7d (an idle console session is signed out after it)" })
        .default(30 * 60_000),
      /** Sign in to the console with the team's identity provider (src/config/oidc.ts). @defaultValue tokens only */
      oidc: oidcSchema.optional(),
    })
    .prefault({}),
  /**
   * Outbound requests to configured addresses (webhooks, http probes,
   * subscriber URLs, playbook webhooks). Link-local and cloud-metadata
   * addresses are refused unless `allow_link_local` is true.
   */
  egress: z.strictObject({ allow_link_local: z.boolean().default(false) }).prefault({}),
  log: z.strictObject({ level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info") }).prefault({}),
  locations: z.array(locationSchema).min(1, { error: "configure at least one location" }),
  components: z.array(componentSchema).min(1, { error: "configure at least one component" }),
  /** What automatic incidents say on the public page, per incident status; plain words with {placeholders}. */
  wording: wordingSchema.prefault({}),
  gateway: gatewaySchema.prefault({}),
  fleet: fleetSchema.prefault({}),
  probes: z.array(probeSchema).default([]),
  notifications: notificationsSchema.prefault({}),
  evaluation: evaluationSchema.prefault({}),
  /** Whether automatic incidents reach customers at once or wait for a person (src/config/incidents.ts). */
  incidents: incidentsSchema.prefault({}),
  maintenance: z.array(maintenanceSchema).default([]),
  playbooks: z.array(playbookSchema).default([]),
  subscriptions: subscriptionsSchema.prefault({}),
});

export type ConfigFile = z.output<typeof fileSchema>;
export type ProbeConfig = z.output<typeof probeSchema>;
export type ComponentConfig = z.output<typeof componentSchema>;
export type LocationConfig = z.output<typeof locationSchema>;
export type PlaybookEntry = z.output<typeof playbookSchema>;
export type FleetSection = z.output<typeof fleetSchema>;
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
