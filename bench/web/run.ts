/**
 * `npm run bench:web [-- --quick]`: requests/s and latency of the status
 * page's snapshot endpoints (`/` and `/api/v2/summary.json`) at 200
 * concurrent connections from a separate autocannon process, with the
 * control-plane Redis up and paused, against a bare node:http server
 * answering the same bytes in the same run (the ceiling on this machine);
 * then the operator console's pages with 20 signed-in sessions.
 * See bench/README.md, section `web`.
 */
import { spawn } from "node:child_process";
import { gzipSync } from "node:zlib";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";
import { parseConfig } from "../../src/config/index.ts";
import { freePort, newId } from "../../src/core/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import { ProbeRegistry, type ProbeResult } from "../../src/probe-runtime/index.ts";
import { appendUpdate, openIncident, resolveIncident, scheduleMaintenance, setComponentStatus, StatusStore, type StatusContext } from "../../src/status/index.ts";
import { Processes, REPO_ROOT, startRedis } from "../gateway/servers.ts";
import { benchLog } from "../harness.ts";

const quick = process.argv.includes("--quick");
const REPS = quick ? 1 : 3;
const DURATION_S = quick ? 2 : 8;
const CONNECTIONS = 200;
/** What is requested, and how: a browser asks for gzip, API clients often do not. */
const ENDPOINTS = [
  { name: "/ (gzip, as browsers ask)", path: "/", gzip: true, goal: true },
  { name: "/api/v2/summary.json", path: "/api/v2/summary.json", gzip: false, goal: true },
  { name: "/ (uncompressed)", path: "/", gzip: false, goal: false },
] as const;
const GOAL = { ratio: 0.7, p99Ms: 50 };
/** Issue 17: the console's pages answer within 100 ms p99 with 20 concurrent signed-in sessions. */
const CONSOLE = { sessions: 20, p99Ms: 100 };
const ADMIN_TOKEN = "bench-web-admin-token";
/** The console's pages, `:incident` being the seeded open incident. The bench's stack runs no gateway, so /admin/fleet is left out. */
const CONSOLE_PAGES = ["/admin/incidents", "/admin/incidents/:incident", "/admin/playbooks", "/admin/probes"] as const;

const CONFIG = `
page: { name: Lumen Live, url: "http://127.0.0.1", description: "Live events, chat and Q&A." }
# autocannon is one client address at 200 connections, as a company behind one NAT: the default has no per-address limit.
locations: [{ id: eu }, { id: us }]
components:
  - { id: realtime-gateway, name: Realtime gateway, group: Realtime, description: WebSocket connections }
  - { id: chat, name: Chat, group: Realtime, description: Session chat and inbox messages }
  - { id: qa, name: Q&A, group: Realtime }
  - { id: notifications, name: Notifications, group: Realtime }
  - { id: cache, name: Cache, group: Platform }
probes:
  - { id: chat-echo, name: Chat publish and echo, kind: websocket, interval: 5s, chart: true, components: [chat] }
  - { id: gateway-connect, name: Gateway connect, kind: websocket, interval: 5s, chart: true, components: [realtime-gateway] }
`;

interface ConsoleMeasurement {
  page: string;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

interface Measurement {
  endpoint: string;
  target: "bare" | "pulseboard";
  redis: "up" | "paused";
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

const started = Date.now();
const log = benchLog(started);

/** A realistic page: five components, a day of probe results, incidents open and past, a maintenance window. */
async function seed(redisUrl: string, home: string): Promise<{ openIncident: string }> {
  const registry = await ProbeRegistry.load();
  const config = parseConfig(CONFIG, { file: path.join(home, "pulseboard.yaml"), env: { REDIS_URL: redisUrl }, cwd: home, probeKinds: registry, channelKinds });
  const redis = new Redis(redisUrl);
  const ctx: StatusContext = { store: new StatusStore(redis, config.redis.prefix), components: config.components };
  const now = Date.now();
  for (const probe of ["chat-echo", "gateway-connect"]) {
    for (const location of ["eu", "us"]) {
      for (let t = now - 7 * 86_400_000; t < now; t += 600_000) {
        const at = new Date(t).toISOString();
        const result: ProbeResult = { id: newId(16), probe, kind: "websocket", location, status: Math.random() < 0.01 ? "failed" : "ok", latency_ms: 20 + Math.round(Math.random() * 60), phases: {}, started_at: at, finished_at: at };
        await ctx.store.recordResult(result);
      }
    }
  }
  for (const component of config.components) await setComponentStatus(ctx, { id: component.id, status: "operational", reason: "seeded" });
  const person = { kind: "person" as const, name: "bench" };
  for (let i = 0; i < 20; i++) {
    const { incident } = await openIncident(ctx, { name: `Past incident ${i + 1}: chat messages delayed`, body: "Messages took up to 30 s to arrive. We are investigating.", components: { chat: "partial_outage" }, author: person });
    await appendUpdate(ctx, { id: incident.id, status: "identified", body: "The shared cache was clogged; we bypassed it.", author: person });
    await resolveIncident(ctx, { id: incident.id, body: "Messages arrive in real time again.", author: person });
  }
  const open = await openIncident(ctx, { name: "Slow connections in one region", body: "Some users see 'Connecting…' for several seconds. We are investigating.", components: { "realtime-gateway": "degraded_performance" }, author: person });
  await scheduleMaintenance(ctx, { name: "Cache upgrade", components: ["cache"], scheduled_for: new Date(now + 86_400_000).toISOString(), scheduled_until: new Date(now + 90_000_000).toISOString(), body: "We upgrade the cache cluster; no downtime expected.", author: person });
  await appendUpdate(ctx, { id: open.incident.id, status: "identified", body: "One gateway node stopped taking connections; it is being restarted.", author: person });
  redis.disconnect();
  return { openIncident: open.incident.id };
}

/** Signs in through the console's real form (GET for its CSRF cookie and field, POST with the token): the session cookie. */
async function signIn(base: string): Promise<string> {
  const form = await fetch(`${base}/admin/login`);
  const loginCookie = form.headers.getSetCookie().map((c) => c.split(";")[0]!).join("; ");
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1];
  if (!csrf || !loginCookie) throw new Error("the sign-in page has no CSRF token or cookie");
  const res = await fetch(`${base}/admin/login`, { method: "POST", redirect: "manual", headers: { cookie: loginCookie, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ _csrf: csrf, token: ADMIN_TOKEN }) });
  const session = res.headers.getSetCookie().map((c) => c.split(";")[0]!).find((c) => c.startsWith("pb_console="));
  if (res.status !== 303 || !session) throw new Error(`sign-in answered ${res.status} without a session cookie`);
  return session;
}

/** One console run: a connection per session, each with its own cookie (bench/web/console-load.mjs, its own process). */
function consoleLoad(url: string, cookiesFile: string): Promise<Omit<ConsoleMeasurement, "page">> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, "bench/web/console-load.mjs"), url, String(DURATION_S), cookiesFile], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`console load exited ${code}: ${err.slice(-500)}`));
      const r = JSON.parse(out) as { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
      resolve({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors });
    });
  });
}

/** One autocannon run from its own process; its JSON summary. */
function autocannon(url: string, gzip: boolean): Promise<{ rps: number; p50: number; p99: number; non2xx: number; errors: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, "node_modules/autocannon/autocannon.js"), "-c", String(CONNECTIONS), "-d", String(DURATION_S), "-j", ...(gzip ? ["-H", "accept-encoding=gzip"] : []), url], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err.slice(-500)}`));
      const r = JSON.parse(out) as { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
      resolve({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors });
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const procs = new Processes();
  process.once("SIGINT", () => void procs.stop().then(() => process.exit(130)));
  const results: Measurement[] = [];
  try {
    log("building dist/ (the web role runs compiled, as in production)");
    await new Promise<void>((resolve, reject) => spawn("npm", ["run", "build", "--silent"], { cwd: REPO_ROOT, stdio: "inherit" }).once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`build failed (${code})`)))));
    const redis = await startRedis(procs, "control");
    const home = procs.tempDir("web");
    const configFile = path.join(home, "pulseboard.yaml");
    writeFileSync(configFile, CONFIG);
    log("seeding a week of probe results, 21 incidents and a maintenance window");
    const seeded = await seed(redis.url, home);
    const port = await freePort();
    const web = procs.spawn(process.execPath, [path.join(REPO_ROOT, "bin/pulseboard.js"), "web"], {
      env: { ...process.env, PULSEBOARD_CONFIG: configFile, PULSEBOARD_HOME: home, PORT: String(port), REDIS_URL: redis.url, ADMIN_TOKEN, LOG_LEVEL: "warn", NODE_ENV: "production" },
      stdio: "inherit",
    });
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/api/v2/status.json`).then((r) => r.ok).catch(() => false);
      if (ok) break;
      if (i > 150 || web.exitCode !== null) throw new Error("the web role did not start serving within 30 s");
      await new Promise((r) => setTimeout(r, 200));
    }
    const barePort = await freePort();
    const bareDir = procs.tempDir("bare");
    for (const [i, e] of ENDPOINTS.entries()) {
      const res = await fetch(`${base}${e.path}`, { headers: e.gzip ? { "accept-encoding": "gzip" } : {} });
      // fetch decodes gzip; ask node:http-level bytes by re-encoding the same way the server does, checked by length below.
      const body = Buffer.from(await res.arrayBuffer());
      const wire = e.gzip ? gzipSync(body, { level: 6 }) : body;
      log(`${e.name}: ${wire.length.toLocaleString("en")} bytes on the wire${e.gzip ? ` (${body.length.toLocaleString("en")} uncompressed)` : ""}`);
      writeFileSync(path.join(bareDir, `${i}.body`), wire);
      writeFileSync(path.join(bareDir, `${i}.type`), res.headers.get("content-type")!);
      writeFileSync(path.join(bareDir, `${i}.encoding`), e.gzip ? "gzip" : "");
    }
    procs.spawn(process.execPath, [path.join(REPO_ROOT, "bench/web/bare-server.mjs"), String(barePort), bareDir, String(ENDPOINTS.length)], { stdio: "inherit" });
    await new Promise((r) => setTimeout(r, 500));
    const bare = `http://127.0.0.1:${barePort}`;

    log(`signing in ${CONSOLE.sessions} console sessions through the sign-in form`);
    const cookies: string[] = [];
    for (let i = 0; i < CONSOLE.sessions; i++) cookies.push(await signIn(base));
    const cookiesFile = path.join(home, "console-cookies.txt");
    writeFileSync(cookiesFile, `${cookies.join("\n")}\n`);
    const consoleResults: ConsoleMeasurement[] = [];
    for (let rep = 1; rep <= REPS; rep++) {
      for (const page of CONSOLE_PAGES) {
        const r = await consoleLoad(`${base}${page.replace(":incident", seeded.openIncident)}`, cookiesFile);
        consoleResults.push({ page, ...r });
        log(`console ${rep}/${REPS} ${page.padEnd(28)} ${Math.round(r.rps).toLocaleString("en").padStart(7)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  non-2xx ${r.non2xx}  errors ${r.errors}`);
      }
    }

    const pauser = new Redis(redis.url);
    for (const state of ["up", "paused"] as const) {
      if (state === "paused") {
        // Longer than the rest of the run; UNPAUSE below ends it.
        await pauser.call("CLIENT", "PAUSE", "600000", "ALL");
        log("control-plane Redis paused (CLIENT PAUSE ALL); waiting for the web role to notice");
        // A refresh every 5 s, plus its command timeout, before the page can know.
        await new Promise((r) => setTimeout(r, 12_000));
        const stale = (await fetch(`${base}/`)).headers.get("x-pulseboard-stale-since");
        log(stale ? `the page says it is stale since ${stale}` : "warning: the page does not say it is stale");
      }
      for (let rep = 1; rep <= REPS; rep++) {
        for (const [i, e] of ENDPOINTS.entries()) {
          for (const target of ["bare", "pulseboard"] as const) {
            const r = await autocannon(target === "bare" ? `${bare}/${i}` : `${base}${e.path}`, e.gzip);
            const endpoint = e.name;
            results.push({ endpoint, target, redis: state, ...r });
            log(`${state} ${rep}/${REPS} ${target.padEnd(10)} ${endpoint.padEnd(26)} ${Math.round(r.rps).toLocaleString("en").padStart(7)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  non-2xx ${r.non2xx}  errors ${r.errors}`);
          }
        }
      }
    }
    // No UNPAUSE: the paused server holds that command too; stopping it below ends the pause.
    pauser.disconnect();
    report(results, consoleResults);
  } finally {
    await procs.stop();
  }
}

function report(results: Measurement[], consoleResults: ConsoleMeasurement[]): void {
  const rows = [];
  for (const { name: endpoint, goal } of ENDPOINTS) {
    const ceiling = median(results.filter((r) => r.endpoint === endpoint && r.target === "bare").map((r) => r.rps));
    const bareRuns = results.filter((r) => r.endpoint === endpoint && r.target === "bare");
    rows.push({ endpoint, target: "bare node:http (ceiling)", redis: "-", rps: ceiling, p50: median(bareRuns.map((r) => r.p50)), p99: median(bareRuns.map((r) => r.p99)), ratio: 1, met: "" });
    for (const state of ["up", "paused"] as const) {
      const runs = results.filter((r) => r.endpoint === endpoint && r.target === "pulseboard" && r.redis === state);
      const rps = median(runs.map((r) => r.rps));
      const p99 = median(runs.map((r) => r.p99));
      const ratio = rps / ceiling;
      const failures = runs.reduce((n, r) => n + r.non2xx + r.errors, 0);
      rows.push({ endpoint, target: "pulseboard web", redis: state, rps, p50: median(runs.map((r) => r.p50)), p99, ratio, met: !goal ? "(no goal: shown for scale)" : ratio >= GOAL.ratio && p99 < GOAL.p99Ms && failures === 0 ? "yes" : `no${failures ? ` (${failures} non-2xx/errors)` : ""}` });
    }
  }
  console.log(`\n| endpoint | server | Redis | req/s (median) | p50 | p99 | ÷ ceiling | goal: ≥ ${GOAL.ratio} and p99 < ${GOAL.p99Ms} ms |`);
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.endpoint} | ${r.target} | ${r.redis} | ${Math.round(r.rps).toLocaleString("en")} | ${r.p50} ms | ${r.p99} ms | ${r.ratio.toFixed(2)} | ${r.met} |`);
  console.log(`\n${CONNECTIONS} connections, ${DURATION_S} s per run, ${REPS} run(s) per row, alternating bare and pulseboard; medians.`);
  const consoleRows = CONSOLE_PAGES.map((page) => {
    const runs = consoleResults.filter((r) => r.page === page);
    const p99 = median(runs.map((r) => r.p99));
    const failures = runs.reduce((n, r) => n + r.non2xx + r.errors, 0);
    return { page, rps: median(runs.map((r) => r.rps)), p50: median(runs.map((r) => r.p50)), p99, met: p99 < CONSOLE.p99Ms && failures === 0 ? "yes" : `no${failures ? ` (${failures} non-2xx/errors)` : ""}` };
  });
  console.log(`\n| console page (${CONSOLE.sessions} signed-in sessions) | req/s (median) | p50 | p99 | goal: p99 < ${CONSOLE.p99Ms} ms |`);
  console.log("|---|---|---|---|---|");
  for (const r of consoleRows) console.log(`| ${r.page} | ${Math.round(r.rps).toLocaleString("en")} | ${r.p50} ms | ${r.p99} ms | ${r.met} |`);
  console.log(`\n${CONSOLE.sessions} connections, one per session, each with its own cookie; Redis up; ${DURATION_S} s per run, ${REPS} run(s) per row; medians. No gateway in this stack, so no /admin/fleet row.`);
  if (quick) return;
  mkdirSync(path.join(REPO_ROOT, "bench/results"), { recursive: true });
  writeFileSync(path.join(REPO_ROOT, "bench/results/web.json"), `${JSON.stringify({ connections: CONNECTIONS, duration_s: DURATION_S, reps: REPS, goal: GOAL, rows, runs: results, console: { sessions: CONSOLE.sessions, goal_p99_ms: CONSOLE.p99Ms, rows: consoleRows, runs: consoleResults } }, null, 2)}\n`);
  console.log("wrote bench/results/web.json");
}

main().catch((err: unknown) => {
  console.error(`web bench failed: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
});
