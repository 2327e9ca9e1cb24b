import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import { REPO_ROOT } from "../helpers/config.ts";
import { alive, commandLine, descendants } from "../helpers/processes.ts";
import { freePortRange } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const BIN = path.join(REPO_ROOT, "bin/pulseboard.js");

/** `pulseboard start` from the CLI, as a user runs it: its own process group, real ports. */
class StartedService {
  readonly output: string[] = [];
  readonly proc: ChildProcess;
  readonly startedAt = Date.now();

  constructor(readonly env: NodeJS.ProcessEnv) {
    this.proc = spawn(process.execPath, [BIN, "start"], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer) => this.output.push(...chunk.toString().split("\n").filter(Boolean));
    this.proc.stdout!.on("data", keep);
    this.proc.stderr!.on("data", keep);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  url(pathname: string): string {
    return `http://127.0.0.1:${this.env.PORT}${pathname}`;
  }

  exited(): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve(this.proc.exitCode);
    return new Promise((resolve) => this.proc.once("exit", (code) => resolve(code)));
  }
}

async function fetchJson(url: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}


/** Whether a summary.json incident lists Realtime gateway among its components. */
function affectsGateway(incident: { components: { id: string }[] }): boolean {
  return incident.components.some((c) => c.id === "realtime-gateway");
}

describe("pulseboard start (slow: whole service from the CLI)", { timeout: 240_000 }, () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  let service: StartedService | undefined;

  before(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-e2e-"));
    const gatewayPort = await freePortRange(3);
    env = {
      ...process.env,
      PORT: String(await freePort()),
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_ADMIN_PORT: String(await freePort()),
      PULSEBOARD_HOME: home,
      LOG_LEVEL: "info",
    };
    delete env.REDIS_URL;
    delete env.CACHE_REDIS_URL;
    delete env.ADMIN_TOKEN;
  });

  after(async () => {
    if (service && alive(service.pid)) {
      try {
        process.kill(-service.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    rmSync(home, { recursive: true, force: true });
  });

  it("serves /, summary.json and components.json within 20 s, every component computed from probes", async (t) => {
    service = new StartedService(env);
    await waitFor("the status page", async () => (await fetch(service!.url("/"))).status === 200, 20_000, 200);
    const upAfter = Date.now() - service.startedAt;
    assert.ok(upAfter < 20_000, `up after ${upAfter} ms`);
    t.diagnostic(`status page answered ${upAfter} ms after start`);
    const summary = await fetchJson(service.url("/api/v2/summary.json"));
    assert.equal(summary.status, 200);
    const components = await fetchJson(service.url("/api/v2/components.json"));
    const names = components.body.components.filter((c: { group: boolean }) => !c.group).map((c: { name: string }) => c.name);
    assert.deepEqual(names, ["Realtime gateway", "Chat", "Q&A", "Notifications", "Cache"]);

    const token = readFileSync(path.join(home, "admin-token"), "utf8").trim();
    assert.ok(service.output.some((line) => line.includes(token)), "the generated admin token is printed once");
    assert.ok(!service.output.some((line) => line.startsWith("{") && line.includes(token)), "the token is never in a log line");
    const enabledRan = (c: any) => c.probes.filter((p: any) => p.enabled).every((p: any) => p.locations.every((l: any) => l.last_result));
    const computed = await waitFor("every component to be computed from its probes' results", async () => {
      const { body } = await fetchJson(service!.url("/admin/api/components"), token);
      return body.components.every((c: any) => c.state && enabledRan(c)) ? body.components : undefined;
    }, 45_000, 500);
    // Start-up is not an outage of anything: no warning that the gateway could not be read while it was still coming up.
    assert.deepEqual(service.output.filter((line) => line.includes("a gateway stat trigger cannot be evaluated")), []);
    const repeated = service.output.filter((line) => line.startsWith("{") && ["pid", "probe", "child", "node"].some((key) => (line.match(new RegExp(`"${key}":`, "g"))?.length ?? 0) > 1));
    assert.deepEqual(repeated, [], "log lines that name a field twice");
    for (const component of computed) {
      assert.equal(component.state.status, "operational", `${component.id}: ${JSON.stringify(component.probes)}`);
      for (const probe of component.probes.filter((p: any) => p.enabled)) {
        for (const location of probe.locations) assert.equal(location.last_result.status, "ok", `${probe.id}: ${location.last_result.error}`);
      }
    }
  });

  it("stopping the gateway by hand takes Realtime gateway out of operational within 30 s", async (t) => {
    const gateway = descendants(service!.pid).find((pid) => /primary-main\.[jt]s$/.test(commandLine(pid)));
    assert.ok(gateway, "the gateway is a child process of start");
    process.kill(gateway, "SIGTERM");
    const stoppedAt = Date.now();
    const status = await waitFor("Realtime gateway to leave operational", async () => {
      const { body } = await fetchJson(service!.url("/api/v2/components.json"));
      const found = body?.components.find((c: { name: string }) => c.name === "Realtime gateway")?.status;
      return found && found !== "operational" ? found : undefined;
    }, 30_000, 250);
    assert.equal(status, "major_outage");
    const seconds = (Date.now() - stoppedAt) / 1000;
    assert.ok(seconds < 30, `left operational after ${seconds} s`);
    t.diagnostic(`Realtime gateway left operational ${seconds} s after the gateway was stopped`);
    // The component's status and the incident it opens are two steps of the pipeline: wait for the second.
    // Chat (whose echo goes through the gateway) may fail first and name the one automatic incident; the gateway joins it.
    await waitFor("an open incident affecting Realtime gateway", async () => {
      const summary = await fetchJson(service!.url("/api/v2/summary.json"));
      return summary.body?.incidents.some(affectsGateway) || undefined;
    }, 10_000, 250);
  });

  it("keeps history and open incidents through a SIGKILL of the whole tree (control-plane AOF)", async () => {
    const token = readFileSync(path.join(home, "admin-token"), "utf8").trim();
    const manual = await fetch(service!.url("/admin/api/incidents"), {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "Chat delays", body: "Messages arrive late.", components: { chat: "degraded_performance" } }),
    });
    assert.equal(manual.status, 201);
    const manualId = ((await manual.json()) as { incident: { id: string } }).incident.id;
    const tree = [service!.pid, ...descendants(service!.pid)];
    assert.ok(tree.some((pid) => commandLine(pid).includes("redis-server")), "embedded redis-servers are in the tree");
    process.kill(-service!.pid, "SIGKILL");
    await waitFor("the killed tree to be gone", () => tree.every((pid) => !alive(pid)), 10_000);

    service = new StartedService(env);
    const incidents = await waitFor("the restarted service to serve incidents", async () => {
      const { status, body } = await fetchJson(service!.url("/api/v2/summary.json"));
      return status === 200 ? body.incidents : undefined;
    }, 20_000, 200);
    const names = incidents.map((i: { name: string }) => i.name);
    assert.ok(incidents.some((i: { id: string }) => i.id === manualId), `manual incident kept: ${names}`);
    assert.ok(incidents.some(affectsGateway), `automatic incident kept: ${names}`);
    const history = await fetchJson(service!.url("/admin/api/components/realtime-gateway/history"), token);
    assert.ok(history.body.history.some((t: { to: string }) => t.to === "major_outage"), "component history kept");
    assert.ok(!service!.output.some((line) => line.includes(token)), "an existing token is not printed again");
  });

  it("SIGTERM stops every process of the tree (gateway nodes, embedded redis-servers) within 10 s", async (t) => {
    await waitFor("the gateway fleet", () => descendants(service!.pid).filter((pid) => /(?:primary|node)-main\.js$/.test(commandLine(pid))).length >= 3, 20_000, 200);
    const tree = descendants(service!.pid);
    assert.ok(tree.filter((pid) => commandLine(pid).includes("redis-server")).length === 2, "two embedded redis-servers");
    const sentAt = Date.now();
    process.kill(service!.pid, "SIGTERM");
    const code = await service!.exited();
    await waitFor("every process of the tree to end", () => tree.every((pid) => !alive(pid)), 10_000, 100);
    const took = Date.now() - sentAt;
    assert.equal(code, 0);
    assert.ok(took < 10_000, `stopped in ${took} ms`);
    t.diagnostic(`all ${tree.length + 1} processes gone ${took} ms after SIGTERM`);
  });

  it("an invalid config exits with status 2 naming the field", () => {
    const file = path.join(home, "bad.yaml");
    writeFileSync(file, readFileSync(path.join(REPO_ROOT, "pulseboard.yaml"), "utf8").replace("interval: 10s", "interval: often"));
    const run = spawnSync(process.execPath, [BIN, "start"], { env: { ...env, PULSEBOARD_CONFIG: file }, encoding: "utf8", timeout: 30_000 });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /probes\[2\]\.interval: expected a duration like "10s", got "often"/);
  });

  it("without redis-server it exits with status 3 and says how to install it", () => {
    const bin = path.join(home, "bin-without-redis");
    mkdirSync(bin, { recursive: true });
    symlinkSync(process.execPath, path.join(bin, "node"));
    const run = spawnSync(process.execPath, [BIN, "start"], { env: { ...env, PATH: bin }, encoding: "utf8", timeout: 30_000 });
    assert.equal(run.status, 3, run.stderr);
    assert.match(run.stderr, /redis-server was not found/);
    assert.match(run.stderr, /apt-get install -y redis-server/);
    assert.match(run.stderr, /REDIS_URL/);
    const pointed = spawnSync(process.execPath, [BIN, "start"], { env: { ...env, REDIS_SERVER_BIN: path.join(bin, "redis-server") }, encoding: "utf8", timeout: 30_000 });
    assert.equal(pointed.status, 3);
    assert.match(pointed.stderr, /REDIS_SERVER_BIN points to/);
  });
});
