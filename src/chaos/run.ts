import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { durationProblem, parseDuration, shown, type Config } from "../config/index.ts";
import { describeError, sleep } from "../core/index.ts";
import { GatewayAdminClient } from "../fleet/index.ts";
import { embeddedRedisDir, embeddedRedisUrl } from "../supervisor/index.ts";
import { isTerminal, type HeldRun, type RunState } from "../playbooks/index.ts";
import { cacheClog } from "./scenarios/cache-clog.ts";
import { gatewayHalt, safeguardLockup } from "./scenarios/gateway-faults.ts";
import { cacheDown, controlPlaneDown } from "./scenarios/redis-down.ts";
import { surge } from "./scenarios/surge.ts";
import { ChaosUsageError, type ChaosOptions, type ChaosScenario, type ChaosTarget } from "./types.ts";
import { formatSummary, incidentEvents, repairedBy, runsDuring, seconds, type ChaosSummary, type IncidentRecord, type RunRecord } from "./summary.ts";
import { getJson, StatusWatcher } from "./watch.ts";

/** Every scenario, by name, in the order `pulseboard chaos` lists them. */
export const SCENARIOS: readonly ChaosScenario[] = [surge, cacheClog, cacheDown, safeguardLockup, gatewayHalt, controlPlaneDown];

/** How long the stack gets, after the fault ends, to be all operational again. */
const DEFAULT_SETTLE_MS = 60_000;

export const CHAOS_USAGE = `Usage: pulseboard chaos SCENARIO [options]

Rehearses a real outage against the running stack (\`pulseboard start\` on this
machine by default, found through the same config and PULSEBOARD_HOME), shows
what the status page says while it lasts, and ends with a summary: when it was
detected, when it recovered (every component operational again, and still so
3 s later) and whether a playbook repaired it, the
incidents it opened or reopened, what the playbooks did, and the runs a
guard (cooldown, max runs, …) held back.

Scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(20)} ${s.description}`).join("\n")}

Options:
  --duration D           how long the fault lasts at most (default per scenario: ${SCENARIOS.map((s) => `${s.name} ${s.defaultDurationMs / 1000}s`).join(", ")})
  --settle D             how long to wait after it for everything to be operational (default 60s)
  --connections N        surge: connections to open (default 1.2 × what the fleet accepts)
  --rate N               surge: connections opened per second (default 1000)
  --node ID              safeguard-lockup, gateway-halt: the node to break (default the first ready one)
  --json                 print the summary as JSON
  --config FILE          configuration file

safeguard-lockup and gateway-halt need the fleet started with GATEWAY_FAULTS=1.
Every fault ends by itself within its duration, and Ctrl-C restores what it broke.
Exit status: 0 recovered, 1 not operational again within --settle, 2 bad usage or target, 130 interrupted.`;

export interface ChaosRunOptions {
  config: Config;
  scenario: string;
  options: ChaosOptions;
  settleMs?: number;
  signal?: AbortSignal;
  /** Where the progress line goes (default stderr). */
  out?: NodeJS.WritableStream & { isTTY?: boolean };
}

/** `pulseboard chaos …`: parses the arguments, runs the scenario, prints the summary; resolves with the exit status. */
export async function chaosMain(argv: string[], loadConfig: (file: string | undefined) => Config): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      duration: { type: "string" },
      settle: { type: "string" },
      connections: { type: "string" },
      rate: { type: "string" },
      node: { type: "string" },
      json: { type: "boolean" },
      config: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${CHAOS_USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const [name] = positionals;
  const scenario = SCENARIOS.find((s) => s.name === name);
  if (!scenario) throw new ChaosUsageError(`no chaos scenario "${name}"; there are: ${SCENARIOS.map((s) => s.name).join(", ")}`);
  const durationMs = values.duration === undefined ? scenario.defaultDurationMs : durationOption("--duration", values.duration, 3_600_000);
  const settleMs = values.settle === undefined ? DEFAULT_SETTLE_MS : durationOption("--settle", values.settle, 3_600_000);
  const options: ChaosOptions = {
    durationMs,
    connections: values.connections === undefined ? undefined : countOption("--connections", values.connections, 1_000_000),
    rate: values.rate === undefined ? undefined : countOption("--rate", values.rate, 100_000),
    node: values.node,
  };
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write("\nstopping: restoring what the scenario broke (Ctrl-C again to quit at once)\n");
    controller.abort(new Error("interrupted"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const summary = await runChaos({ config: loadConfig(values.config), scenario: scenario.name, options, settleMs, signal: controller.signal });
    process.stdout.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
    if (summary.interrupted) return 130;
    return summary.detected_s === null || summary.recovered_s !== null ? 0 : 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Runs one scenario against the stack the config describes, watching the status page throughout. */
export async function runChaos(run: ChaosRunOptions): Promise<ChaosSummary> {
  const scenario = SCENARIOS.find((s) => s.name === run.scenario);
  if (!scenario) throw new ChaosUsageError(`no chaos scenario "${run.scenario}"`);
  const target = chaosTarget(run.config);
  const signal = run.signal ?? new AbortController().signal;
  const out = run.out ?? process.stderr;
  const watcher = new StatusWatcher(target.pageUrl);
  const baseline = await watcher.start();
  const progress = new ProgressLine(out, scenario.name, watcher);
  try {
    if (baseline.size === 0) throw new ChaosUsageError(`the status page at ${target.pageUrl} did not answer /api/v2/components.json: is \`pulseboard start\` running (PORT, --config)?`);
    await target.fleet.get("/nodes", AbortSignal.timeout(3_000)).catch((err: unknown) => {
      throw new ChaosUsageError(`cannot reach ${target.fleet.what}: ${describeError(err)}`);
    });
    if (!watcher.allOperational) progress.note(`not everything is operational before the fault (${watcher.describe()}); detection counts from the first change`);
    watcher.reset();
    const faultAt = Date.now();
    const did = await scenario.run({
      target,
      options: run.options,
      signal,
      progress: (line) => progress.set(line),
      note: (line) => progress.note(line),
      recovered: () => watcher.recovered,
      hold: (ms, done) => hold(ms, signal, done),
    });
    const faultEnd = Date.now();
    progress.note(`fault over after ${seconds(faultEnd - faultAt)} s: ${did}`);
    if (!signal.aborted) {
      progress.set("waiting for every component to be operational and the playbook runs under way to end");
      const runs = new RunWatcher(target, faultAt);
      await hold(run.settleMs ?? DEFAULT_SETTLE_MS, signal, () => watcher.allOperational && (watcher.detectedAt === undefined || watcher.recovered) && runs.settled());
      runs.stop();
    }
    watcher.stop();
    const playbookRuns = await runsSince(target, faultAt);
    const faultS = seconds(faultEnd - faultAt);
    const detectedS = watcher.detectedAt === undefined ? null : seconds(watcher.detectedAt - faultAt);
    const recoveredS = watcher.recoveredAt === undefined ? null : seconds(watcher.recoveredAt - faultAt);
    const recoveredBy = repairedBy(playbookRuns, faultS);
    return {
      scenario: scenario.name,
      did,
      fault_started_at: new Date(faultAt).toISOString(),
      fault_s: faultS,
      detected_s: detectedS,
      recovered_s: recoveredS,
      recovered_by: recoveredBy,
      recovered_without_playbook: detectedS !== null && recoveredS !== null && recoveredBy.length === 0,
      worst: Object.fromEntries(watcher.worst()),
      timeline: watcher.changes.map((c) => ({ at_s: seconds(c.at - faultAt), component: c.component, from: c.from, to: c.to })),
      page_reads: watcher.reads,
      page_availability: watcher.reads === 0 ? 0 : Math.round((watcher.answered / watcher.reads) * 10_000) / 10_000,
      incidents: await incidentsSince(target, faultAt),
      playbook_runs: playbookRuns,
      held_runs: await holdsSince(target, faultAt),
      interrupted: signal.aborted,
    };
  } finally {
    watcher.stop();
    progress.end();
  }
}

/** The stack `pulseboard start` runs with this config and PULSEBOARD_HOME. */
export function chaosTarget(config: Config): ChaosTarget {
  const home = config.home;
  const token = (file: string): string | undefined => {
    const at = path.join(home, file);
    return existsSync(at) ? readFileSync(at, "utf8").trim() : undefined;
  };
  const embedded = (name: "control" | "cache"): ChaosTarget["cache"] => {
    const dir = embeddedRedisDir(home, name);
    const url = embeddedRedisUrl(dir);
    return url ? { redis: url, embeddedDir: dir } : {};
  };
  const host = !config.web.host || config.web.host === "0.0.0.0" || config.web.host === "::" ? "127.0.0.1" : config.web.host;
  return {
    pageUrl: `http://${host.includes(":") ? `[${host}]` : host}:${config.web.port}`,
    adminToken: config.admin.token ?? token("admin-token"),
    gatewayUrl: config.gateway.url,
    fleet: new GatewayAdminClient({ url: config.gateway.adminUrl, token: config.gateway.adminToken ?? token("gateway-admin-token") }),
    cache: config.cache.target ? { redis: config.cache.target } : embedded("cache"),
    control: config.redis.target ? { redis: config.redis.target } : embedded("control"),
  };
}

/** The incidents the fault touched: the admin API's full timelines with a token, else the public API's. */
async function incidentsSince(target: ChaosTarget, since: number): Promise<ChaosSummary["incidents"]> {
  if (target.adminToken) {
    const body = (await getJson(new URL("/admin/api/incidents?limit=50", target.pageUrl), admin(target))) as { incidents?: IncidentRecord[] } | undefined;
    if (body?.incidents) return incidentEvents(body.incidents, since);
  }
  const body = (await getJson(new URL("/api/v2/incidents.json", target.pageUrl))) as
    | { incidents?: { id: string; name: string; created_at: string; incident_updates?: { status: string; created_at: string }[] }[] }
    | undefined;
  return incidentEvents((body?.incidents ?? []).map((i) => ({ id: i.id, name: i.name, created_at: i.created_at, updates: i.incident_updates ?? [] })), since);
}

async function runsSince(target: ChaosTarget, since: number): Promise<ChaosSummary["playbook_runs"]> {
  if (!target.adminToken) return [];
  const body = (await getJson(new URL("/admin/api/playbooks/runs?limit=50", target.pageUrl), admin(target))) as { runs?: RunRecord[] } | undefined;
  return runsDuring(body?.runs ?? [], since);
}

/** Runs a guard held back since the fault began (the admin API's /playbooks/holds), oldest first. */
async function holdsSince(target: ChaosTarget, since: number): Promise<ChaosSummary["held_runs"]> {
  if (!target.adminToken) return [];
  const url = new URL("/admin/api/playbooks/holds", target.pageUrl);
  url.searchParams.set("since", new Date(since).toISOString());
  const body = (await getJson(url, admin(target))) as { holds?: HeldRun[] } | undefined;
  return (body?.holds ?? [])
    .map((h) => ({ playbook: h.playbook, kind: h.kind, guard: h.guard, reason: h.reason, until: h.until ?? null, incident: h.incident ?? null, at_s: seconds(Date.parse(h.at) - since) }))
    .sort((a, b) => a.at_s - b.at_s);
}

function admin(target: ChaosTarget): Record<string, string> {
  return { authorization: `Bearer ${target.adminToken}` };
}

/** Whether the playbook runs started since the fault have all ended, read every second (always true without an admin token). */
class RunWatcher {
  private busy = true;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly target: ChaosTarget,
    private readonly since: number,
  ) {
    this.timer = setInterval(() => void this.read(), 1_000);
    void this.read();
  }

  settled(): boolean {
    return !this.target.adminToken || !this.busy;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async read(): Promise<void> {
    const runs = await runsSince(this.target, this.since);
    this.busy = runs.some((r) => !isTerminal(r.state as RunState));
  }
}

/** Sleeps `ms`, less if the signal aborts or `done()` turns true (checked every 250 ms). */
async function hold(ms: number, signal: AbortSignal, done?: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!signal.aborted && Date.now() < deadline && !done?.()) {
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
  }
}

/** The live line on a terminal (rewritten in place), a line every 5 s elsewhere. */
class ProgressLine {
  private line = "";
  private readonly started = Date.now();
  private readonly timer: NodeJS.Timeout;
  private lastPrinted = 0;

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly scenario: string,
    private readonly watcher: StatusWatcher,
  ) {
    this.timer = setInterval(() => this.render(), 250);
  }

  set(line: string): void {
    this.line = line;
  }

  note(line: string): void {
    this.out.write(`${this.out.isTTY ? "\r\x1b[K" : ""}[${this.elapsed()}] ${line}\n`);
  }

  end(): void {
    clearInterval(this.timer);
    if (this.out.isTTY) this.out.write("\r\x1b[K");
  }

  private render(): void {
    const text = `[${this.elapsed()}] ${this.scenario}: ${this.line || "running"} | status page: ${this.watcher.describe()}`;
    if (this.out.isTTY) this.out.write(`\r\x1b[K${text.slice(0, (process.stdout.columns ?? 120) - 1)}`);
    else if (Date.now() - this.lastPrinted >= 5_000) {
      this.lastPrinted = Date.now();
      this.out.write(`${text}\n`);
    }
  }

  private elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(0).padStart(3)} s`;
  }
}

function durationOption(name: string, value: string, maxMs: number): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new ChaosUsageError(`${name}: ${durationProblem(value, "30s")}`);
  if (ms > maxMs) throw new ChaosUsageError(`${name}: at most ${maxMs / 60_000} min, got ${shown(value)}`);
  return ms;
}

function countOption(name: string, value: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new ChaosUsageError(`${name}: expected a whole number from 1 to ${max}, got ${shown(value)}`);
  return n;
}
