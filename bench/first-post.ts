/**
 * Time from a hard gateway failure to the first on-call post.
 *
 *   npm run bench:first-post [-- --runs 5]
 *
 * Starts the whole service (`pulseboard start`, embedded Redis) with 1 s
 * probes and a webhook channel pointing at a receiver on loopback, then, run
 * after run, halts every gateway process (SIGSTOP: connections hang, as in
 * the surge that halted the WebSocket servers), measures the time to the
 * incident being opened and to the first webhook post, resumes the gateway
 * and waits for recovery. Prints a table of medians and writes
 * bench/results/first-post.json. Everything it starts, it stops.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../src/core/index.ts";
import { freePortRange } from "../test/helpers/ports.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 5;
const ADMIN = "bench-first-post-admin-token";

interface Post {
  at: number;
  type: string;
}

function receiver(): Promise<{ url: string; posts: Post[]; close(): void }> {
  const posts: Post[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      try {
        posts.push({ at: Date.now(), type: (JSON.parse(body) as { type: string }).type });
      } catch {
        posts.push({ at: Date.now(), type: "unparsable" });
      }
      res.writeHead(200).end("ok");
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, posts, close: () => server.close() }),
    ),
  );
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const hook = await receiver();
  const home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-first-post-"));
  const port = await freePort();
  // The fleet port, then one port per node (2).
  const gatewayPort = await freePortRange(3);
  const configFile = path.join(home, "pulseboard.yaml");
  writeFileSync(
    configFile,
    `
page: { name: First post bench, url: "http://127.0.0.1:${port}" }
evaluation: { quiet_period: 2s, flap_changes: 20 }  # five deliberate outages in a row are not flapping here
locations: [{ id: local }]
components: [{ id: realtime-gateway, name: Realtime gateway }]
gateway: { nodes: 2 }
probes:
  - { id: gateway-connect, kind: websocket, interval: 1s, timeout: 800ms, components: [realtime-gateway], with: { channel: null } }
notifications:
  channels:
    - { id: oncall, kind: webhook, url: "${hook.url}" }
`,
  );
  const service: ChildProcess = spawn(process.execPath, [path.join(ROOT, "bin/pulseboard.js"), "start"], {
    env: { ...process.env, PULSEBOARD_CONFIG: configFile, PULSEBOARD_HOME: home, PORT: String(port), GATEWAY_PORT: String(gatewayPort), GATEWAY_ADMIN_PORT: String(await freePort()), ADMIN_TOKEN: ADMIN, LOG_LEVEL: process.env.LOG_LEVEL ?? "warn" },
    stdio: ["ignore", "ignore", "inherit"],
    detached: true,
  });
  const stop = (): void => {
    try {
      process.kill(-service.pid!, "SIGCONT");
      process.kill(-service.pid!, "SIGTERM");
    } catch {
      // already gone
    }
  };
  process.on("SIGINT", () => {
    stop();
    process.exit(130);
  });
  const admin = async (p: string) => (await fetch(`http://127.0.0.1:${port}${p}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json() as Promise<any>;
  const rows: { run: number; detect_s: number; first_post_s: number; recover_s: number }[] = [];
  try {
    process.stdout.write("starting the service… ");
    await until("the service", async () => {
      const body = await admin("/admin/api/components").catch(() => undefined);
      return body?.components?.[0]?.state?.status === "operational" ? true : undefined;
    }, 60_000, 250);
    process.stdout.write("up\n");
    for (let run = 1; run <= runs; run++) {
      const gateway = childrenOf(service.pid!).find((pid) => / gateway$/.test(cmdline(pid).trim()))!;
      const tree = [gateway, ...childrenOf(gateway)];
      const before = hook.posts.length;
      const incidentsBefore = (await admin("/admin/api/incidents?limit=1")).incidents[0]?.id;
      const fault = Date.now();
      for (const pid of tree) process.kill(pid, "SIGSTOP");
      const opened = await until("the incident", async () => {
        const [incident] = (await admin("/admin/api/incidents?limit=1")).incidents;
        return incident && incident.id !== incidentsBefore ? Date.parse(incident.created_at) : undefined;
      }, 30_000);
      const firstPost = await until("the first post", () => hook.posts[before]?.at, 30_000);
      for (const pid of tree) process.kill(pid, "SIGCONT");
      const resumed = Date.now();
      await until("recovery", async () => ((await admin("/admin/api/components")).components[0].state.status === "operational" ? true : undefined), 60_000, 100);
      const row = { run, detect_s: (opened - fault) / 1000, first_post_s: (firstPost - fault) / 1000, recover_s: (Date.now() - resumed) / 1000 };
      rows.push(row);
      process.stdout.write(`run ${run}/${runs}: incident ${row.detect_s.toFixed(2)} s, first post ${row.first_post_s.toFixed(2)} s after the gateway halted\n`);
      await until("the incident to resolve", async () => ((await admin("/admin/api/incidents?limit=1")).incidents[0].status === "resolved" ? true : undefined), 60_000, 200);
    }
  } finally {
    stop();
    if (service.exitCode === null && service.signalCode === null) await new Promise((resolve) => service.once("exit", resolve));
    hook.close();
    rmSync(home, { recursive: true, force: true });
  }
  const summary = {
    runs: rows.length,
    probe_interval_s: 1,
    detect_median_s: median(rows.map((r) => r.detect_s)),
    first_post_median_s: median(rows.map((r) => r.first_post_s)),
    first_post_max_s: Math.max(...rows.map((r) => r.first_post_s)),
    goal_s: 5,
    rows,
  };
  console.log("\n| runs | detect (median) | first post (median) | first post (max) | goal |");
  console.log("|---|---|---|---|---|");
  console.log(`| ${summary.runs} | ${summary.detect_median_s.toFixed(2)} s | ${summary.first_post_median_s.toFixed(2)} s | ${summary.first_post_max_s.toFixed(2)} s | < ${summary.goal_s} s |`);
  mkdirSync(path.join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(path.join(ROOT, "bench/results/first-post.json"), `${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(`first-post bench failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
