import path from "node:path";
import type { z } from "zod";
import type { RedisTarget } from "../core/index.ts";
import cron from "node-cron";
import type { ChannelConfig, ComponentConfig, ConfigFile, FleetSection, LocationConfig, MaintenanceConfig, ProbeConfig, RouteConfig } from "./schema.ts";
import { COMPONENT_STATUSES } from "./schema.ts";
import { resolvePlaybooks, type PlaybookConfig, type PlaybookStepKinds } from "./playbooks.ts";
import { formatDuration } from "./duration.ts";
import { heartbeatProbe } from "./heartbeat.ts";
import { formatIssues, shown, suggestKeys } from "./issues.ts";
import { didYouMean, noSuchId } from "./closest.ts";
import { servedPageUrl } from "./page-url.ts";
import type { Wording } from "./wording.ts";
import type { PublishMode } from "./incidents.ts";
import { resolveOidc, type OidcConfig } from "./oidc.ts";

/** The kinds of something that exist (probes, notification channels), so config naming them can be checked. */
export interface KindSchemas {
  kinds(): string[];
  schema(kind: string): z.ZodType | undefined;
}

/** The probe kinds that exist, so `probes[].kind` and `probes[].with` can be checked. */
export type ProbeKindSchemas = KindSchemas;

/** A notification channel with its kind's settings parsed. */
export interface ResolvedChannel {
  id: string;
  kind: string;
  /** The channel's settings as its notifier's schema parsed them (may hold secrets: never log). */
  settings: unknown;
}

/** A probe with every default applied and its kind's settings parsed. */
export interface ResolvedProbe extends Omit<ProbeConfig, "locations" | "timeout" | "quorum" | "with"> {
  name: string;
  locations: string[];
  /** Hard deadline of one run, in ms. @defaultValue the smaller of the interval and 5s */
  timeout: number;
  /** Locations that must agree before the probe's state changes. */
  quorum: number;
  with: unknown;
  /** The settings as written in the file (after ${ENV} interpolation): what a remote agent parses with its own kinds. */
  rawWith: unknown;
}

/** The managed gateway: fleet shape, limits, history and admin API. */
export interface GatewayConfig {
  nodes: number;
  port: number;
  host?: string;
  /** Where probes reach the fleet's shared port. */
  url: string;
  /** Node i also listens alone on nodePortBase + i. */
  nodePortBase: number;
  adminPort: number;
  adminHost: string;
  /** Where probes and playbooks reach the admin API. */
  adminUrl: string;
  adminToken?: string;
  heartbeat: number;
  /** Undefined: as many as the node's open-file limit allows. */
  maxConnections?: number;
  maxPayload: number;
  maxBuffered: number;
  publishRate: number;
  publishBurst: number;
  maxSubscriptions: number;
  history: { size: number; ttl: number; metaTtl: number };
  cacheTimeout: number;
  cachePrefix: string;
  faults: boolean;
}

/** How playbooks reach the gateway fleet (src/fleet/). */
export interface FleetConfig {
  /** The driver kind, one of the fleet registry's (src/fleet/registry.ts). @defaultValue "local" */
  driver: string;
  /**
   * The driver's settings as written (the `fleet:` section without `driver`);
   * its schema parses them when the driver is created (may hold secrets: never log).
   */
  settings: Record<string, unknown>;
  /** Pulseboard itself runs in a Kubernetes pod (KUBERNETES_SERVICE_HOST is set). */
  inCluster: boolean;
}

/** Status-page subscriptions: who may subscribe, how they are mailed, link lifetimes and limits. */
export interface SubscriptionsConfig {
  webhook: { enabled: boolean };
  /** Undefined when e-mail subscriptions are not configured (or disabled). */
  email?: {
    /**
     * The email channel's settings (SMTP server and `from`) as its schema
     * parsed them, with a placeholder recipient (may hold secrets: never log).
     */
    settings: unknown;
  };
  confirmTtlMs: number;
  /** HMAC key of confirm and unsubscribe links; undefined: a random one kept in Redis. */
  secret?: string;
  rateLimit: { requests: number; perMs: number };
}

/** The whole configuration, validated and resolved: what every role receives. */
export interface Config {
  /** Absolute path of the file it came from. */
  file: string;
  /** Absolute data directory (PULSEBOARD_HOME). */
  home: string;
  /** `url`: PUBLIC_URL, else page.url, else where the web role serves (`http://localhost:<PORT>`). */
  page: ConfigFile["page"] & { url: string };
  /** `rateLimit`: the public routes' per-address limit, when configured (off by default). */
  web: { port: number; host?: string; rateLimit?: { perSecond: number; burst: number }; trustProxy: boolean };
  /**
   * Control-plane Redis: a URL, a Sentinel group or a Redis Cluster (src/config/redis-target.ts); none
   * means `start` embeds one. On a cluster, `prefix` is the file's in braces (`{pulseboard}`): one slot.
   */
  redis: { target?: RedisTarget; prefix: string };
  /** The gateway's cache Redis, the same way; none means `start` embeds one. */
  cache: { target?: RedisTarget };
  /** `sessionIdleMs`: how long a console session lives without a request; `oidc`: sign-in with an identity provider, when configured. */
  admin: { token?: string; failedLogins: { max: number; perMs: number }; sessionIdleMs: number; oidc?: OidcConfig };
  egress: { allowLinkLocal: boolean };
  log: { level: string };
  locations: Required<LocationConfig>[];
  components: ComponentConfig[];
  /** Page-wide templates of automatic incidents' public entries (defaults filled in by the renderer). */
  wording: Wording;
  gateway: GatewayConfig;
  fleet: FleetConfig;
  probes: ResolvedProbe[];
  notifications: {
    channels: ResolvedChannel[];
    routes: RouteConfig[];
    retry: { baseMs: number; maxMs: number; attempts: number };
  };
  evaluation: { flapWindow: number; flapChanges: number; quietPeriod: number };
  /** `publish`: whether automatic incidents open public (`auto`) or as drafts for a person (`review`); `reviewTimeout`: ms a draft waits before it publishes itself. */
  incidents: { publish: PublishMode; reviewTimeout: number };
  maintenance: MaintenanceConfig[];
  playbooks: PlaybookConfig[];
  subscriptions: SubscriptionsConfig;
  /** What `start` needs to embed Redis. */
  embedded: {
    /** Path of redis-server, if one was found. */
    redisServer?: string;
    /** REDIS_SERVER_BIN as set, to name it when it points nowhere. */
    redisServerSetting?: string;
  };
}

interface ResolveContext {
  file: string;
  cwd: string;
  probeKinds: ProbeKindSchemas;
  /** Notification channel kinds; without them channel settings are taken as written. */
  channelKinds?: KindSchemas;
  /** Fleet driver kinds; without them the `fleet:` settings are checked only when the driver is created. */
  fleetKinds?: KindSchemas;
  /** Playbook step kinds; without them step settings are checked only when a step runs. */
  playbookSteps?: PlaybookStepKinds;
  problems: string[];
}

/** Applies defaults that depend on other fields and checks every cross-reference. */
export function resolveConfig(file: ConfigFile, ctx: ResolveContext): Config {
  const { problems } = ctx;
  checkUnique(file.locations, "locations", problems);
  checkUnique(file.components, "components", problems);
  checkUnique(file.probes, "probes", problems);
  checkUnique(file.notifications.channels as { id: string }[], "notifications.channels", problems);
  checkUnique(file.playbooks, "playbooks", problems);

  const locationIds = new Set(file.locations.map((l) => l.id));
  const componentIds = new Set(file.components.map((c) => c.id));
  const probes = file.probes.map((probe, i) => resolveProbe(probe, `probes[${i}]`, { ...ctx, locationIds, componentIds, locations: file.locations }));
  const probeIds = new Set(file.probes.map((p) => p.id));
  checkUnique(file.maintenance, "maintenance", problems);
  file.maintenance.forEach((m, i) => {
    m.components.forEach((c, j) => {
      if (!componentIds.has(c)) problems.push(`maintenance[${i}].components[${j}]: ${noSuchId("component", c, componentIds)}`);
    });
    if (m.cron !== undefined && !cron.validate(m.cron)) problems.push(`maintenance[${i}].cron: "${m.cron}" is not a cron expression (like "0 3 * * 0")`);
  });
  const channels = file.notifications.channels.map((channel, i) => resolveChannel(channel, `notifications.channels[${i}]`, ctx));
  const channelIds = new Set(channels.map((c) => c.id));
  const playbooks = resolvePlaybooks(file.playbooks, {
    componentIds,
    probeIds,
    channelIds,
    probeComponents: new Map(file.probes.map((p) => [p.id, p.components])),
    statuses: COMPONENT_STATUSES,
    stepKinds: ctx.playbookSteps,
    problems,
  });
  file.notifications.routes.forEach((route, i) => {
    route.channels.forEach((c, j) => {
      if (!channelIds.has(c)) problems.push(`notifications.routes[${i}].channels[${j}]: ${noSuchId("channel", c, channelIds)}`);
    });
    route.components?.forEach((c, j) => {
      if (!componentIds.has(c)) problems.push(`notifications.routes[${i}].components[${j}]: ${noSuchId("component", c, componentIds)}`);
    });
  });

  const gatewayUrl = file.gateway.url ?? `ws://127.0.0.1:${file.gateway.port}/ws`;
  const nodePortBase = file.gateway.node_port_base ?? file.gateway.port + 1;
  if (nodePortBase <= file.gateway.port && nodePortBase + file.gateway.nodes > file.gateway.port) {
    problems.push(`gateway.node_port_base: node ports ${nodePortBase}-${nodePortBase + file.gateway.nodes - 1} overlap the shared port ${file.gateway.port}`);
  }
  const adminPort = file.gateway.admin_port ?? file.gateway.port + 100;
  if (adminPort === file.gateway.port || (adminPort >= nodePortBase && adminPort < nodePortBase + 64)) {
    problems.push(`gateway.admin_port: ${adminPort} collides with the gateway's shared port or its node ports (${nodePortBase} and up)`);
  }
  return {
    file: ctx.file,
    home: path.resolve(ctx.cwd, file.home),
    page: { ...file.page, url: file.page.url ?? servedPageUrl(file.web) },
    web: { port: file.web.port, host: file.web.host, rateLimit: file.web.rate_limit && { perSecond: file.web.rate_limit.per_second, burst: file.web.rate_limit.burst }, trustProxy: file.web.trust_proxy },
    // The targets are filled in with the environment's Sentinels (src/config/load.ts).
    redis: { prefix: file.redis.prefix },
    cache: {},
    egress: { allowLinkLocal: file.egress.allow_link_local },
    admin: {
      token: file.admin.token,
      failedLogins: { max: file.admin.failed_logins.max, perMs: file.admin.failed_logins.per },
      sessionIdleMs: file.admin.session_idle,
      oidc: resolveOidc(file.admin.oidc, { pageUrl: file.page.url ?? servedPageUrl(file.web), cwd: ctx.cwd, problems }),
    },
    log: file.log,
    locations: file.locations.map((l) => ({ id: l.id, name: l.name ?? l.id, remote: l.remote, silent_after: l.silent_after })),
    components: file.components,
    wording: file.wording,
    gateway: {
      nodes: file.gateway.nodes,
      port: file.gateway.port,
      host: file.gateway.host,
      url: gatewayUrl,
      nodePortBase,
      adminPort: file.gateway.admin_port ?? file.gateway.port + 100,
      adminHost: file.gateway.admin_host,
      adminUrl: (file.gateway.admin_url ?? `http://127.0.0.1:${file.gateway.admin_port ?? file.gateway.port + 100}`).replace(/\/$/, ""),
      adminToken: file.gateway.admin_token,
      heartbeat: file.gateway.heartbeat,
      maxConnections: file.gateway.max_connections,
      maxPayload: file.gateway.max_payload,
      maxBuffered: file.gateway.max_buffered,
      publishRate: file.gateway.publish_rate,
      publishBurst: file.gateway.publish_burst,
      maxSubscriptions: file.gateway.max_subscriptions,
      history: { size: file.gateway.history.size, ttl: file.gateway.history.ttl, metaTtl: file.gateway.history.meta_ttl },
      cacheTimeout: file.gateway.cache_timeout,
      cachePrefix: file.gateway.cache_prefix,
      faults: file.gateway.faults,
    },
    fleet: resolveFleet(file.fleet, ctx),
    probes,
    notifications: {
      channels,
      routes: file.notifications.routes,
      retry: { baseMs: file.notifications.retry_base, maxMs: file.notifications.retry_max, attempts: file.notifications.attempts },
    },
    evaluation: { flapWindow: file.evaluation.flap_window, flapChanges: file.evaluation.flap_changes, quietPeriod: file.evaluation.quiet_period },
    incidents: { publish: file.incidents.publish, reviewTimeout: file.incidents.review_timeout },
    maintenance: file.maintenance,
    playbooks,
    subscriptions: resolveSubscriptions(file.subscriptions, ctx),
    embedded: {},
  };
}

function resolveProbe(
  probe: ProbeConfig,
  at: string,
  ctx: ResolveContext & { locationIds: Set<string>; componentIds: Set<string>; locations: LocationConfig[] },
): ResolvedProbe {
  const { problems } = ctx;
  // Pinged, not run: one location, quorum 1, no hysteresis beyond its grace (see heartbeat.ts).
  if (probe.kind === "heartbeat") probe = heartbeatProbe(probe, at, ctx);
  const locations = probe.locations === "all" ? [...ctx.locationIds] : probe.locations;
  probe.components.forEach((component, j) => {
    if (!ctx.componentIds.has(component)) problems.push(`${at}.components[${j}]: ${noSuchId("component", component, ctx.componentIds)}`);
  });
  if (probe.locations !== "all") {
    probe.locations.forEach((location, j) => {
      if (!ctx.locationIds.has(location)) problems.push(`${at}.locations[${j}]: ${noSuchId("location", location, ctx.locationIds)}`);
    });
  }
  const timeout = probe.timeout ?? Math.min(probe.interval, 5_000);
  if (timeout > probe.interval) {
    problems.push(`${at}.timeout: must not exceed the interval (${formatDuration(probe.interval)}), or a run would still be going when the next starts`);
  }
  const quorum = probe.quorum === "majority" ? Math.floor(locations.length / 2) + 1 : probe.quorum;
  if (quorum > locations.length) {
    problems.push(`${at}.quorum: ${quorum} locations must agree, but the probe runs from only ${locations.length}`);
  }
  let settings: unknown = probe.with;
  const schema = ctx.probeKinds.schema(probe.kind);
  if (!schema) {
    problems.push(`${at}.kind: unknown probe kind ${shown(probe.kind)}${didYouMean(probe.kind, ctx.probeKinds.kinds())} (known: ${ctx.probeKinds.kinds().join(", ")})`);
  } else {
    const parsed = schema.safeParse(probe.with, { error: suggestKeys });
    if (parsed.success) settings = parsed.data;
    else problems.push(...formatIssues(parsed.error.issues, `${at}.with`));
  }
  return { ...probe, name: probe.name ?? probe.id, locations, timeout, quorum, with: settings, rawWith: probe.with };
}

function resolveChannel(channel: ChannelConfig, at: string, ctx: ResolveContext): ResolvedChannel {
  const { id, kind, ...settings } = channel;
  if (!ctx.channelKinds) return { id, kind, settings };
  const schema = ctx.channelKinds.schema(kind);
  if (!schema) {
    ctx.problems.push(`${at}.kind: unknown channel kind "${kind}"${didYouMean(kind, ctx.channelKinds.kinds())} (known: ${ctx.channelKinds.kinds().join(", ")})`);
    return { id, kind, settings };
  }
  const parsed = schema.safeParse(settings, { error: suggestKeys });
  if (!parsed.success) ctx.problems.push(...formatIssues(parsed.error.issues, at));
  return { id, kind, settings: parsed.success ? parsed.data : settings };
}

/** Checks the `fleet:` section against its driver's schema; errors name `fleet.<field>`. */
function resolveFleet(section: FleetSection, ctx: ResolveContext): FleetConfig {
  const { driver, ...settings } = section;
  const fleet: FleetConfig = { driver, settings, inCluster: false };
  if (!ctx.fleetKinds) return fleet;
  const schema = ctx.fleetKinds.schema(driver);
  if (!schema) {
    ctx.problems.push(`fleet.driver: unknown fleet driver "${driver}"${didYouMean(driver, ctx.fleetKinds.kinds())} (known: ${ctx.fleetKinds.kinds().join(", ")})`);
    return fleet;
  }
  const parsed = schema.safeParse(settings, { error: suggestKeys });
  if (!parsed.success) ctx.problems.push(...formatIssues(parsed.error.issues, "fleet"));
  return fleet;
}

/** Stands in for the recipients the email channel's schema asks for: subscribers are addressed one by one. */
const SUBSCRIBER_PLACEHOLDER = "subscribers@pulseboard.invalid";

function resolveSubscriptions(section: ConfigFile["subscriptions"], ctx: ResolveContext): SubscriptionsConfig {
  const out: SubscriptionsConfig = {
    webhook: section.webhook,
    confirmTtlMs: section.confirm_ttl,
    secret: section.secret,
    rateLimit: { requests: section.rate_limit.requests, perMs: section.rate_limit.per },
  };
  const email = section.email;
  if (!email?.enabled) return out;
  const at = "subscriptions.email";
  if ("to" in email.smtp || "from" in email.smtp) {
    ctx.problems.push(`${at}.smtp: set the sender as ${at}.from; recipients are the subscribers, so there is no "to"`);
    return out;
  }
  const raw = { ...email.smtp, from: email.from, to: [SUBSCRIBER_PLACEHOLDER] };
  const schema = ctx.channelKinds?.schema("email");
  if (!schema) return { ...out, email: { settings: raw } };
  const parsed = schema.safeParse(raw, { error: suggestKeys });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const [first, ...rest] = issue.path;
      const base = first === "from" ? `${at}.from` : `${at}.smtp`;
      ctx.problems.push(...formatIssues([{ ...issue, path: first === "from" ? rest : issue.path }], base));
    }
    return out;
  }
  return { ...out, email: { settings: parsed.data } };
}

function checkUnique(items: { id: string }[], at: string, problems: string[]): void {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const first = seen.get(item.id);
    if (first !== undefined) problems.push(`${at}[${i}].id: "${item.id}" is already used by ${at}[${first}]`);
    else seen.set(item.id, i);
  });
}
