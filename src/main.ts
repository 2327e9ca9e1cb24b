import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ConfigWatcher, loadConfig, formatDuration, pageUrlWarning, type Config } from "./config/index.ts";
import { ConfigError, MissingDependencyError, PACKAGE_ROOT, createLogger, describeError, setEgressPolicy, stopOnSignals } from "./core/index.ts";
import { fleetKinds } from "./fleet/index.ts";
import { playbookSteps } from "./playbooks/index.ts";
import { channelKinds } from "./notify/index.ts";
import { ProbeRegistry } from "./probe-runtime/index.ts";
import type { Role, RoleContext } from "./roles/index.ts";

/** Exit statuses: what went wrong, for scripts and supervisors. */
const EXIT = { ok: 0, failure: 1, config: 2, missingDependency: 3 } as const;

const USAGE = `Usage: pulseboard <command> [options]

Commands:
  start                  every role in one process tree; embeds Redis when REDIS_URL (or REDIS_SENTINELS) is unset
  web                    status page, Statuspage-compatible API, admin API
  worker                 evaluate probe results, run the incident lifecycle
  agent --location ID    run the probes of one location
  agent --location ID --server URL [--token-file FILE] [--ca FILE] [--buffer N]   the same over HTTPS only: no Redis, no config file
  scheduler              keep probe schedules in line with the config
  core [--location ID]   worker, scheduler and the agents (every location, or one) in one process
  gateway                the managed realtime gateway fleet
  config check [FILE]    validate a configuration file and summarise it
  chaos SCENARIO         rehearse a real outage against the running stack (pulseboard chaos --help)
  tokens create|list|revoke   admin API tokens with scopes (pulseboard tokens --help)

Options:
  --config FILE          configuration file (default: $PULSEBOARD_CONFIG, else ./pulseboard.yaml)
  --location ID          (agent, core) the location to probe from
  -h, --help             show this help
  -v, --version          show the version

Environment: PORT, HOST, REDIS_URL, CACHE_REDIS_URL, GATEWAY_PORT, GATEWAY_URL, GATEWAY_NODES,
PULSEBOARD_HOME, ADMIN_TOKEN, LOG_LEVEL, REDIS_SERVER_BIN override the file; REDIS_SENTINELS and
REDIS_SENTINEL_NAME (CACHE_REDIS_… for the cache) reach Redis through Sentinel instead of a URL.
ADMIN_TOKEN_FILE, GATEWAY_ADMIN_TOKEN_FILE, REDIS_URL_FILE, CACHE_REDIS_URL_FILE, REDIS_PASSWORD_FILE,
REDIS_SENTINEL_PASSWORD_FILE (and the CACHE_ ones) read those secrets from files.
Exit status: 0 ok, 1 failure, 2 bad configuration or usage, 3 missing system dependency.`;

type RoleRunner = (ctx: RoleContext, location?: string) => Promise<Role | undefined>;

/**
 * Each role is loaded only when it runs, so a process holds just what its
 * role uses (a gateway node does not load Express, BullMQ or the mailer).
 */
const ROLES: Record<string, () => Promise<RoleRunner>> = {
  start: async () => (await import("./roles/start.ts")).runStart,
  web: async () => (await import("./roles/web.ts")).runWeb,
  worker: async () => (await import("./roles/worker.ts")).runWorker,
  agent: async () => (await import("./roles/agent.ts")).runAgent,
  scheduler: async () => (await import("./roles/scheduler.ts")).runScheduler,
  core: async () => (await import("./roles/core.ts")).runCore,
  gateway: async () => (await import("./roles/gateway.ts")).runGateway,
};

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "tokens") {
    const [{ tokensMain }, { embeddedRedisDir, embeddedRedisUrl }] = await Promise.all([import("./auth/index.ts"), import("./supervisor/index.ts")]);
    const registry = await ProbeRegistry.load();
    const file = argv.find((a, i) => argv[i - 1] === "--config");
    const config = loadConfig({ file, probeKinds: registry, channelKinds, fleetKinds, playbookSteps });
    return tokensMain(argv.slice(1), config, config.redis.target ?? embeddedRedisUrl(embeddedRedisDir(config.home, "control")));
  }
  if (argv[0] === "chaos") {
    const { chaosMain } = await import("./chaos/index.ts");
    const registry = await ProbeRegistry.load();
    return chaosMain(argv.slice(1), (file) => loadConfig({ file, probeKinds: registry, channelKinds, fleetKinds, playbookSteps }));
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: "string" },
      location: { type: "string" },
      server: { type: "string" },
      "token-file": { type: "string" },
      ca: { type: "string" },
      buffer: { type: "string" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return EXIT.ok;
  }
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? EXIT.ok : EXIT.config;
  }
  if (command === "config") return configCommand(rest, values.config);
  const remoteOnly = (["token-file", "ca", "buffer"] as const).filter((flag) => values[flag] !== undefined);
  if (command === "agent" && values.server !== undefined) return remoteAgentCommand(values);
  if (remoteOnly.length > 0) throw new ConfigError(remoteOnly.map((flag) => `--${flag}: only a remote agent takes it (pulseboard agent --location ID --server URL --${flag} …)`));
  const load = ROLES[command];
  if (!load) {
    process.stderr.write(`pulseboard: unknown command "${command}"\n\n${USAGE}\n`);
    return EXIT.config;
  }
  const run = await load();
  const registry = await ProbeRegistry.load();
  const config = loadConfig({ file: values.config, probeKinds: registry, channelKinds, fleetKinds, playbookSteps });
  setEgressPolicy(config.egress);
  const log = createLogger({ level: config.log.level, base: { role: command === "agent" ? `agent:${values.location}` : command } });
  const watcher = new ConfigWatcher(config, { probeKinds: registry, channelKinds, fleetKinds, playbookSteps }, log);
  const starting = run({ config, registry, log, env: process.env, watcher }, values.location);
  stopOnSignals(starting, log, command === "start" ? 9_500 : 8_000);
  await starting;
  return EXIT.ok;
}

/** `agent --server`: a location's probes over HTTPS only; no config file, no Redis. */
async function remoteAgentCommand(values: { location?: string; server?: string; config?: string; "token-file"?: string; ca?: string; buffer?: string }): Promise<number> {
  if (values.config !== undefined) throw new ConfigError(["--config: a remote agent reads no config file; it takes its probes from the server (--server)"]);
  const [{ remoteAgentSettings, startRemoteAgent }, registry] = await Promise.all([import("./remote-agent/index.ts"), ProbeRegistry.load()]);
  const settings = remoteAgentSettings({ location: values.location, server: values.server, tokenFile: values["token-file"], ca: values.ca, buffer: values.buffer }, process.env);
  const log = createLogger({ level: process.env.LOG_LEVEL || "info", base: { role: `agent:${settings.location}` } });
  const starting = Promise.resolve().then(() => startRemoteAgent({ settings, registry, log, agent: { name: os.hostname(), version: version() } }));
  stopOnSignals(starting, log);
  await starting;
  return EXIT.ok;
}

async function configCommand(args: string[], configFlag: string | undefined): Promise<number> {
  const [sub, file] = args;
  if (sub !== "check") {
    process.stderr.write(`pulseboard: unknown config command "${sub ?? ""}"; try: pulseboard config check [FILE]\n`);
    return EXIT.config;
  }
  const registry = await ProbeRegistry.load();
  const config = loadConfig({ file: file ?? configFlag, probeKinds: registry, channelKinds, fleetKinds, playbookSteps });
  process.stdout.write(describeConfig(config));
  const warning = pageUrlWarning(config);
  if (warning) process.stderr.write(`pulseboard: warning: ${warning}\n`);
  return EXIT.ok;
}

function describeConfig(config: Config): string {
  const lines = [
    `${config.file}: valid`,
    `  page: ${config.page.name} (${config.page.url})`,
    `  locations: ${config.locations.map((l) => (l.remote ? `${l.id} (remote: its agent pushes over HTTPS)` : l.id)).join(", ")}`,
    `  components: ${config.components.map((c) => c.name).join(", ")}`,
    `  probes:`,
    ...config.probes.map(
      (p) => `    ${p.id} (${p.kind}) every ${formatDuration(p.interval)} from ${p.locations.join(", ")} → ${p.components.join(", ") || "no component"}${p.enabled ? "" : " [disabled]"}`,
    ),
    `  notification channels: ${config.notifications.channels.map((c) => `${c.id} (${c.kind})`).join(", ") || "none"}`,
    `  playbooks: ${config.playbooks.map((p) => `${p.id} (${p.mode})`).join(", ") || "none"}`,
    `  incidents: publish ${config.incidents.publish} (${config.incidents.publish === "review" ? `automatic incidents open as drafts for a person; an unreviewed one publishes itself after ${formatDuration(config.incidents.reviewTimeout)}` : "automatic incidents are public as they open"})`,
    `  console sign-in: ${describeOidc(config)}`,
    `  gateway: ${config.gateway.nodes} nodes on port ${config.gateway.port}`,
    `  fleet driver: ${config.fleet.driver}`,
  ];
  return `${lines.join("\n")}\n`;
}

/** admin.oidc as `config check` shows it: never the client's secret. */
function describeOidc(config: Config): string {
  const oidc = config.admin.oidc;
  if (!oidc) return "tokens";
  const groups = Object.entries(oidc.scopes).map(([group, scopes]) => `${group} → ${scopes.join(", ")}`).join("; ");
  return `tokens, and OpenID Connect with ${oidc.name} (issuer ${oidc.issuer}, client ${oidc.clientId}, callback ${oidc.redirectUrl}; groups from the "${oidc.claim}" claim: ${groups})`;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== EXIT.ok) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError || (err instanceof Error && (err.name === "ChaosUsageError" || err.name === "TokenInputError"))) {
      process.stderr.write(`pulseboard: ${err.message}\n`);
      process.exit(EXIT.config);
    }
    if (err instanceof MissingDependencyError) {
      process.stderr.write(`pulseboard: ${err.message}\n`);
      process.exit(EXIT.missingDependency);
    }
    if ((err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`pulseboard: ${describeError(err)}\n\n${USAGE}\n`);
      process.exit(EXIT.config);
    }
    process.stderr.write(`pulseboard: ${describeError(err)}\n`);
    process.exit(EXIT.failure);
  },
);
