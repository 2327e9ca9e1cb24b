import { readFileSync } from "node:fs";
import { z } from "zod";
import { pageUrl, type ConfigFile } from "./schema.ts";

const portVar = z
  .string()
  .regex(/^\d{1,5}$/, { error: "expected a port number from 1 to 65535" })
  .transform(Number)
  .refine((n) => n >= 1 && n <= 65535, { error: "expected a port number from 1 to 65535" })
  .optional();

const redisUrlVar = z.string().regex(/^rediss?:\/\//, { error: "expected a Redis URL like redis://host:6379" }).optional();

/** The Sentinels of a failover group: `host:port,host:port` (IPv6 in brackets; the port defaults to 26379). */
const sentinelsVar = z.string().transform((value, ctx) => {
  const sentinels = parseAddresses(value, 26379);
  if (!sentinels) {
    ctx.addIssue({ code: "custom", message: `expected Sentinels as host:port,host:port (like 10.0.0.1:26379,10.0.0.2:26379), got ${JSON.stringify(value.slice(0, 200))}` });
    return z.NEVER;
  }
  return sentinels;
}).optional();

/** Some nodes of a Redis Cluster: `host:port,host:port` (IPv6 in brackets; the port defaults to 6379). */
const clusterNodesVar = z.string().transform((value, ctx) => {
  const nodes = parseAddresses(value, 6379);
  if (!nodes) {
    ctx.addIssue({ code: "custom", message: `expected cluster nodes as host:port,host:port (like 10.0.0.1:6379,10.0.0.2:6379), got ${JSON.stringify(value.slice(0, 200))}` });
    return z.NEVER;
  }
  return nodes;
}).optional();

/** Secrets that may come from a file instead (Docker and Kubernetes secrets): `ADMIN_TOKEN_FILE=/run/secrets/admin-token`. */
export const SECRET_VARS = [
  "ADMIN_TOKEN",
  "GATEWAY_ADMIN_TOKEN",
  "REDIS_URL",
  "CACHE_REDIS_URL",
  "REDIS_PASSWORD",
  "REDIS_SENTINEL_PASSWORD",
  "CACHE_REDIS_PASSWORD",
  "CACHE_REDIS_SENTINEL_PASSWORD",
] as const;

/**
 * The environment with each `<SECRET>_FILE` read into `<SECRET>` (the
 * variable itself wins when both are set). A file that cannot be read is a
 * problem naming the variable, never a crash or a silent default.
 */
export function readSecretFiles(env: Record<string, string | undefined>, problems: string[]): Record<string, string | undefined> {
  const out = { ...env };
  for (const name of SECRET_VARS) {
    const file = env[`${name}_FILE`];
    if (!file || env[name]) continue;
    try {
      out[name] = readFileSync(file, "utf8").trim();
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  return out;
}

/** The environment variables that override pulseboard.yaml. Empty means unset. */
export const envSchema = z.preprocess(
  (env) => Object.fromEntries(Object.entries(env as Record<string, unknown>).filter(([, value]) => value !== undefined && value !== "")),
  z.object({
    PORT: portVar,
    HOST: z.string().min(1).optional(),
    /** Where people reach the status page. @defaultValue page.url, else http://localhost:<PORT> */
    PUBLIC_URL: pageUrl.optional(),
    REDIS_URL: redisUrlVar,
    CACHE_REDIS_URL: redisUrlVar,
    /** The control plane's Sentinels, instead of REDIS_URL; with REDIS_SENTINEL_NAME. */
    REDIS_SENTINELS: sentinelsVar,
    REDIS_SENTINEL_NAME: z.string().min(1).optional(),
    /** The password of the Sentinels' master and replicas (with REDIS_SENTINELS; a URL carries its own). */
    REDIS_PASSWORD: z.string().min(1).optional(),
    /** The Sentinels' own password, when they have one. */
    REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
    /** Some nodes of the control plane's Redis Cluster, instead of REDIS_URL or REDIS_SENTINELS (the password is REDIS_PASSWORD). */
    REDIS_CLUSTER_NODES: clusterNodesVar,
    /** The same for the gateway's cache (its password is CACHE_REDIS_PASSWORD). */
    CACHE_REDIS_CLUSTER_NODES: clusterNodesVar,
    /** The same four for the gateway's cache Redis. */
    CACHE_REDIS_SENTINELS: sentinelsVar,
    CACHE_REDIS_SENTINEL_NAME: z.string().min(1).optional(),
    CACHE_REDIS_PASSWORD: z.string().min(1).optional(),
    CACHE_REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
    GATEWAY_PORT: portVar,
    GATEWAY_URL: z.string().regex(/^wss?:\/\//, { error: "expected a WebSocket URL like ws://host:4000/ws" }).optional(),
    GATEWAY_ADMIN_PORT: portVar,
    GATEWAY_ADMIN_HOST: z.string().min(1).optional(),
    GATEWAY_ADMIN_URL: z.string().regex(/^https?:\/\//, { error: "expected an HTTP URL like http://gateway:4100" }).optional(),
    GATEWAY_ADMIN_TOKEN: z.string().min(16, { error: "must be at least 16 characters" }).optional(),
    GATEWAY_FAULTS: z.enum(["0", "1", "true", "false"], { error: "expected 1 or 0" }).transform((v) => v === "1" || v === "true").optional(),
    GATEWAY_NODES: z.string().regex(/^\d{1,2}$/, { error: "expected a node count from 1 to 64" }).transform(Number).optional(),
    PULSEBOARD_HOME: z.string().min(1).optional(),
    ADMIN_TOKEN: z.string().min(16, { error: "must be at least 16 characters" }).optional(),
    LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).optional(),
    /** The redis-server binary `start` embeds. @defaultValue found on PATH */
    REDIS_SERVER_BIN: z.string().min(1).optional(),
    PATH: z.string().optional(),
    /** Set by Kubernetes in every pod: the kubernetes fleet driver then uses the pod's service account. */
    KUBERNETES_SERVICE_HOST: z.string().min(1).optional(),
  }),
);

export type EnvOverrides = z.output<typeof envSchema>;

/** Environment beats file: the returned copy carries every override. */
export function applyEnv(file: ConfigFile, env: EnvOverrides): ConfigFile {
  return {
    ...file,
    home: env.PULSEBOARD_HOME ?? file.home,
    page: { ...file.page, url: env.PUBLIC_URL ?? file.page.url },
    web: { ...file.web, port: env.PORT ?? file.web.port, host: env.HOST ?? file.web.host },
    redis: { ...file.redis, url: env.REDIS_URL ?? file.redis.url },
    cache: { url: env.CACHE_REDIS_URL ?? file.cache.url },
    gateway: {
      ...file.gateway,
      port: env.GATEWAY_PORT ?? file.gateway.port,
      nodes: env.GATEWAY_NODES ?? file.gateway.nodes,
      url: env.GATEWAY_URL ?? file.gateway.url,
      admin_port: env.GATEWAY_ADMIN_PORT ?? file.gateway.admin_port,
      admin_host: env.GATEWAY_ADMIN_HOST ?? file.gateway.admin_host,
      admin_url: env.GATEWAY_ADMIN_URL ?? file.gateway.admin_url,
      admin_token: env.GATEWAY_ADMIN_TOKEN ?? file.gateway.admin_token,
      faults: env.GATEWAY_FAULTS ?? file.gateway.faults,
    },
    admin: { ...file.admin, token: env.ADMIN_TOKEN ?? file.admin.token },
    log: { level: env.LOG_LEVEL ?? file.log.level },
  };
}

/** `host:port,host:port` as addresses (`port` where an entry has none), or undefined when an entry is not one. */
function parseAddresses(value: string, defaultPort: number): { host: string; port: number }[] | undefined {
  const entries = value.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  const sentinels = entries.map((entry) => {
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s\[\]]+))(?::(\d{1,5}))?$/.exec(entry);
    const port = Number(match?.[3] ?? defaultPort);
    return match && port >= 1 && port <= 65535 ? { host: (match[1] ?? match[2])!, port } : undefined;
  });
  return sentinels.length > 0 && sentinels.every((s) => s !== undefined) ? (sentinels as { host: string; port: number }[]) : undefined;
}
