import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pageUrlWarning } from "../config/index.ts";
import { LITE_MODE_FLAGS, MissingDependencyError, findExecutable, fromSource, sleep, type Logger, type RedisTarget } from "../core/index.ts";
import { ChildSupervisor, EmbeddedRedis, ensureToken, watchParent, type ReadyMessage } from "../supervisor/index.ts";
import type { PrimarySettings } from "../gateway/index.ts";
import type { Role, RoleContext } from "./context.ts";

/** The CLI entry point every child runs: the compiled one, or the source (through tsx's loader) in development. */
const MAIN_FILE = fileURLToPath(new URL(fromSource ? "../main.ts" : "../main.js", import.meta.url));
const NODE_ARGS = fromSource ? ["--import", import.meta.resolve("tsx")] : [];
/** The gateway's primary: a small entry point of its own, with the settings start resolved. */
const GATEWAY_FILE = fileURLToPath(new URL(fromSource ? "../gateway/primary-main.ts" : "../gateway/primary-main.js", import.meta.url));
/** Time given to children to stop before they are killed. */
const CHILD_GRACE_MS = 6_000;
/** Longest wait for the gateway before the agents start probing anyway. */
const GATEWAY_WAIT_MS = 20_000;

/**
 * `pulseboard start`: every role in one process tree. Embeds a control-plane
 * redis-server (AOF on) when neither REDIS_URL nor REDIS_SENTINELS is set,
 * and a separate cache redis-server for the gateway when neither
 * CACHE_REDIS_URL nor CACHE_REDIS_SENTINELS is, then runs the
 * gateway fleet, web and the core role (worker, scheduler and one agent
 * per location, in one process) as children, restarting any that crash.
 * When its own parent dies (a wrapper or shell killed with SIGKILL), it
 * stops everything as on SIGTERM.
 */
export async function runStart({ config, log, env }: RoleContext): Promise<Role> {
  // A real SIGTERM, so the stop is the one main.ts already runs for it, also while still starting.
  const unwatchParent = watchParent((parent) => {
    log.warn({ parent_pid: parent }, "the process that started pulseboard start is gone; stopping as on SIGTERM");
    process.kill(process.pid, "SIGTERM");
  });
  const pageWarning = pageUrlWarning(config);
  if (pageWarning) log.warn({ url: config.page.url, port: config.web.port }, pageWarning);
  mkdirSync(config.home, { recursive: true, mode: 0o700 });
  const embedded: EmbeddedRedis[] = [];
  const stopEmbedded = () => Promise.all(embedded.map((r) => r.stop()));
  try {
    const needs = managedParts(config);
    if (!needs.gateway) log.info({ reason: "no probe or playbook uses Pulseboard's own gateway" }, "not starting the gateway fleet: every probe watches another broker");
    const needsRedis = !config.redis.target || (needs.cache && !config.cache.target);
    const binary = needsRedis ? requireRedisServer(config.embedded) : "";
    const setpriv = findExecutable("setpriv", env.PATH ?? "");
    const embed = async (name: string, persist: boolean): Promise<string> => {
      const redis = new EmbeddedRedis({ name, binary, dir: path.join(config.home, "redis", name), persist, setpriv, log });
      embedded.push(redis);
      return redis.start();
    };
    const control = config.redis.target ?? (await embed("control", true));
    const cache = config.cache.target ?? (needs.cache ? await embed("cache", false) : undefined);
    const admin = config.admin.token ? { token: config.admin.token, created: false, file: undefined } : ensureToken(config.home, "admin-token");
    if (admin.created) showTokenOnce(admin.token, admin.file!);
    const gatewayAdminToken = config.gateway.adminToken ?? ensureToken(config.home, "gateway-admin-token").token;

    const childEnv: NodeJS.ProcessEnv = {
      ...env,
      // A Sentinel group reaches the children as it reached start: through the Sentinel variables, passed on in env.
      ...(typeof control === "string" ? { REDIS_URL: control } : {}),
      ...(typeof cache === "string" ? { CACHE_REDIS_URL: cache } : {}),
      ADMIN_TOKEN: admin.token,
      GATEWAY_ADMIN_TOKEN: gatewayAdminToken,
      PULSEBOARD_HOME: config.home,
      PULSEBOARD_CONFIG: config.file,
    };
    let gatewayReady!: () => void;
    const gatewayUp = new Promise<void>((resolve) => (gatewayReady = resolve));
    const children = new ChildSupervisor(log, (message, name) => {
      if (message.role === "gateway") gatewayReady();
      onReady(message, name, config.page.url, log);
    });
    const child = (name: string, ...args: string[]) => children.start({ name, args: [...NODE_ARGS, MAIN_FILE, ...args], env: childEnv });
    child("web", "web");
    if (needs.gateway) children.start({ name: "gateway", args: [...NODE_ARGS, ...LITE_MODE_FLAGS, GATEWAY_FILE], env: childEnv, settings: gatewaySettings(config, cache, gatewayAdminToken) });
    // The agents start once the gateway listens, so start-up itself does not read as an outage.
    if (needs.gateway) await Promise.race([gatewayUp, sleep(GATEWAY_WAIT_MS)]);
    // Worker, scheduler and every location's agent share one process (`pulseboard core`): one Node
    // runtime instead of three or more. Their crash never takes the page or the gateway with it.
    child("core", "core");
    log.info({ home: config.home, children: children.pids() }, "pulseboard started");

    return {
      async stop() {
        unwatchParent();
        await children.stopAll(CHILD_GRACE_MS);
        await stopEmbedded();
        log.info("pulseboard stopped");
      },
    };
  } catch (err) {
    unwatchParent();
    await stopEmbedded();
    throw err;
  }
}

/** The gateway's settings as start resolved them, for its primary (sent over IPC, so the secrets stay out of its environment). */
function gatewaySettings(config: RoleContext["config"], cache: RedisTarget | undefined, adminToken: string): PrimarySettings {
  return { gateway: { ...config.gateway, adminToken }, cacheUrl: cache, logLevel: config.log.level };
}

/** Probe kinds that only ever watch our own gateway. */
const GATEWAY_ONLY_KINDS = new Set(["sse"]);

/**
 * Which of the managed parts anything in the config uses: the gateway fleet
 * (a probe speaking our protocol, or a playbook acting through the local
 * fleet driver) and its cache Redis (the gateway, or a redis probe without
 * a URL of its own). A config that only watches another broker runs neither.
 */
export function managedParts(config: Pick<RoleContext["config"], "probes" | "playbooks" | "fleet">): { gateway: boolean; cache: boolean } {
  const settingsOf = (probe: { with: unknown }) => (probe.with ?? {}) as { protocol?: unknown; url?: unknown };
  const gateway =
    config.probes.some((p) => GATEWAY_ONLY_KINDS.has(p.kind) || settingsOf(p).protocol === "pulseboard") || (config.fleet.driver === "local" && config.playbooks.length > 0);
  const cache = gateway || config.probes.some((p) => p.kind === "redis" && settingsOf(p).url === undefined);
  return { gateway, cache };
}

function requireRedisServer(embedded: { redisServer?: string; redisServerSetting?: string }): string {
  if (embedded.redisServer) return embedded.redisServer;
  const where = embedded.redisServerSetting ? `REDIS_SERVER_BIN points to ${embedded.redisServerSetting}, which does not exist` : "redis-server was not found on PATH";
  throw new MissingDependencyError(
    `${where}. pulseboard start embeds Redis when REDIS_URL and CACHE_REDIS_URL (or REDIS_SENTINELS and CACHE_REDIS_SENTINELS) are unset, and needs redis-server for that.\n` +
      "  Install it:  sudo apt-get install -y redis-server   (Debian/Ubuntu; macOS: brew install redis)\n" +
      "  Or point Pulseboard at running servers:  REDIS_URL=redis://host:6379 CACHE_REDIS_URL=redis://other-host:6379 npm start",
  );
}

/** Printed straight to the terminal, never through the logger: logs keep no secrets. */
function showTokenOnce(token: string, file: string): void {
  process.stderr.write(`\nAdmin API token (shown once; kept in ${file}):\n  ${token}\n\n`);
}

function onReady(message: ReadyMessage, name: string, pageUrl: string, log: Logger): void {
  if (message.role === "web") log.info({ url: pageUrl }, `status page is up at ${pageUrl}`);
  else log.debug({ child: name }, "role ready");
}
