import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { children, commandLine } from "../helpers/processes.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { BIN, startService, type Service } from "../helpers/service.ts";
import { waitFor } from "../helpers/wait.ts";

const ADMIN_TOKEN = "remote-agent-e2e-admin-token-0123456789";
const INTERVAL_S = 1;

interface LocationView {
  id: string;
  state: string;
  state_since: string | null;
  last_push_at: string | null;
  results_total: number;
  dropped_total: number;
  agents: { name: string }[];
}

/**
 * A remote agent (`pulseboard agent --server`, no Redis in its environment)
 * against `pulseboard start` over HTTP on 127.0.0.1: its results land in the
 * probe's history labelled with its location; frozen (SIGSTOP) it goes
 * silent without an outage and comes back (SIGCONT) without duplicates; it
 * loses nothing while the web role is away; a revoked token is said once and
 * a new token file is picked up without a restart.
 */
describe("a remote agent over HTTP against pulseboard start (slow: whole service and an agent process)", { timeout: 300_000 }, () => {
  let service: Service;
  let hook: HttpReceiver;
  let agent: ChildProcess;
  let agentLog: string[] = [];
  let tokenFile: string;
  let tokenId: string;

  const admin = async <T>(p: string, init: RequestInit = {}): Promise<T> => {
    const res = await fetch(`http://127.0.0.1:${service.port}/admin/api${p}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", ...init.headers } });
    assert.ok(res.ok, `${p}: ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as T;
  };
  const location = async (id: string) => (await admin<{ locations: LocationView[] }>("/locations")).locations.find((l) => l.id === id)!;
  const remoteResults = async () => (await admin<{ results: { id: string; location: string; received_at?: string }[] }>("/probes/gateway-connect/results?location=eu-west&limit=1000")).results;
  const components = async () => (await admin<{ components: { id: string; state?: { status: string } }[] }>("/components")).components;
  const createToken = async (name: string) => admin<{ token: string; id: string }>("/tokens", { method: "POST", body: JSON.stringify({ name, scopes: ["agent:eu-west"] }) });

  before(async () => {
    hook = await HttpReceiver.start();
    service = await startService({
      adminToken: ADMIN_TOKEN,
      config: (port) => `
page: { name: Remote agents, url: "http://127.0.0.1:${port}" }
evaluation: { quiet_period: 2s }
locations:
  - { id: local }
  - { id: eu-west, name: Frankfurt, remote: true, silent_after: 3 }
components:
  - { id: realtime-gateway, name: Realtime gateway }
  - { id: chat, name: Chat }
  - { id: cache, name: Cache }
gateway: { nodes: 2 }
probes:
  - { id: gateway-connect, kind: websocket, interval: ${INTERVAL_S}s, timeout: 800ms, fail_after: 1, recover_after: 1, locations: [local, eu-west], components: [realtime-gateway], with: { channel: null } }
  - { id: chat-echo, kind: websocket, interval: ${INTERVAL_S}s, timeout: 800ms, locations: [local], components: [chat], with: { channel: probe.chat } }
  - { id: cache-ping, kind: redis, interval: ${INTERVAL_S}s, timeout: 500ms, locations: [local], components: [cache] }
notifications:
  channels: [{ id: oncall, kind: webhook, url: "${hook.url("/oncall")}" }]
`,
    });
    const created = await createToken("fra-1");
    tokenId = created.id;
    tokenFile = path.join(service.home, "agent-token");
    writeFileSync(tokenFile, `${created.token}\n`, { mode: 0o600 });
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: "info" };
    agent = spawn(process.execPath, [BIN, "agent", "--location", "eu-west", "--server", `http://127.0.0.1:${service.port}`, "--token-file", tokenFile], { env, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer) => agentLog.push(...chunk.toString().split("\n").filter(Boolean));
    agent.stdout!.on("data", keep);
    agent.stderr!.on("data", keep);
  });

  after(async () => {
    if (agent && agent.exitCode === null) {
      agent.kill("SIGCONT");
      agent.kill("SIGKILL");
    }
    await service?.stop();
    await hook?.stop();
  });

  it("runs the location's probe with no Redis near it; its results are in the probe's history labelled eu-west", async () => {
    const results = await waitFor("results from eu-west", async () => ((await remoteResults()).length >= 3 ? remoteResults() : undefined), 30_000, 250);
    assert.ok(results.every((r) => r.location === "eu-west" && typeof r.received_at === "string"));
    const eu = await waitFor("eu-west reporting", async () => ((await location("eu-west")).state === "reporting" ? location("eu-west") : undefined), 10_000, 200);
    assert.deepEqual(eu.agents.map((a) => a.name), ["fra-1"]);
    const consuming = service.output.filter((line) => line.includes("agent consuming probe queue"));
    assert.ok(consuming.some((line) => line.includes('"location":"local"')), `start ran the local location's agent: ${consuming.join(" | ")}`);
    assert.ok(!consuming.some((line) => line.includes("eu-west")), "and none for the remote location");
  });

  it("SIGSTOP: silent within 3 intervals, one on-call post, no incident, operational; SIGCONT: reporting again, nothing twice", async (t) => {
    const before = await location("eu-west");
    const stoppedAt = Date.now();
    agent.kill("SIGSTOP");
    await waitFor("eu-west silent", async () => (await location("eu-west")).state === "silent", 20_000, 100);
    const toSilentS = (Date.now() - stoppedAt) / 1000;
    const post = await waitFor("the silence post", () => hook.requests.find((r) => r.raw.includes("stopped reporting")), 15_000);
    assert.match(post.raw, /Location eu-west \(Frankfurt\) stopped reporting at/);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const { incidents } = await admin<{ incidents: unknown[] }>("/incidents");
    assert.equal(incidents.length, 0, "no incident opened for a quiet agent");
    assert.ok((await components()).every((c) => c.state?.status === "operational"), "every component stays operational");
    const silentTotal = (await location("eu-west")).results_total;
    const resumedAt = Date.now();
    agent.kill("SIGCONT");
    await waitFor("eu-west reporting again", async () => (await location("eu-west")).state === "reporting", 20_000, 100);
    const toReportingS = (Date.now() - resumedAt) / 1000;
    await waitFor("the back post", () => hook.requests.find((r) => r.raw.includes("is reporting again")), 15_000);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const after = await location("eu-west");
    const ids = (await remoteResults()).map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, "no result twice in history");
    assert.equal(hook.requests.filter((r) => r.raw.includes("stopped reporting")).length, 1);
    assert.equal(hook.requests.filter((r) => r.raw.includes("is reporting again")).length, 1);
    t.diagnostic(
      `silent ${toSilentS.toFixed(1)} s after SIGSTOP (silent_after 3 × ${INTERVAL_S} s); reporting ${toReportingS.toFixed(1)} s after SIGCONT; ` +
        `results accepted: ${before.results_total} before, ${silentTotal} while silent, ${after.results_total} after (${after.results_total - silentTotal} delivered after SIGCONT); ${ids.length} distinct ids in history`,
    );
  });

  it("loses nothing it measured while the web role is away for 20 s", async (t) => {
    const web = children(service.pid).find((pid) => /main\.js web\b/.test(commandLine(pid)));
    assert.ok(web, "found the web role");
    const before = (await location("eu-west")).results_total;
    process.kill(web, "SIGSTOP");
    try {
      await new Promise((resolve) => setTimeout(resolve, 20_000));
    } finally {
      process.kill(web, "SIGCONT");
    }
    await waitFor("the agent's backlog delivered", async () => (await location("eu-west")).results_total >= before + 18, 30_000, 250);
    const delivered = (await location("eu-west")).results_total - before;
    const ids = (await remoteResults()).map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, "no result twice");
    assert.equal((await location("eu-west")).dropped_total, 0, "the buffer dropped nothing");
    t.diagnostic(`${delivered} results delivered for the 20 s the web role was stopped (probes every ${INTERVAL_S} s)`);
  });

  it("a revoked token is said once; a new token file is picked up without a restart", async () => {
    const logBefore = agentLog.length;
    await admin(`/tokens/${tokenId}`, { method: "DELETE" });
    await waitFor("the agent saying its token was refused", () => agentLog.slice(logBefore).find((line) => line.includes("refused the agent token (401)")), 20_000, 200);
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    assert.equal(agentLog.slice(logBefore).filter((line) => line.includes("refused the agent token (401)")).length, 1, "one line per streak, not one per retry");
    const totalRevoked = (await location("eu-west")).results_total;
    const fresh = await createToken("fra-2");
    writeFileSync(tokenFile, `${fresh.token}\n`);
    await waitFor("pushes accepted with the new token", async () => (await location("eu-west")).results_total > totalRevoked, 60_000, 250);
    const eu = await location("eu-west");
    assert.ok(eu.agents.some((a) => a.name === "fra-2"));
    assert.equal(agent.exitCode, null, "the agent kept running");
    const ids = (await remoteResults()).map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length);
  });

  it("SIGTERM: a last push, and the agent's count of what it measured matches the server's", async (t) => {
    const exited = new Promise<number | null>((resolve) => agent.once("exit", (code) => resolve(code)));
    agent.kill("SIGTERM");
    assert.equal(await exited, 0);
    const line = agentLog.find((l) => l.includes("remote agent stopped"));
    assert.ok(line, `the agent's last words: ${agentLog.slice(-3).join(" | ")}`);
    const stats = JSON.parse(line) as { made: number; accepted: number; refused: number; left: number };
    const eu = await location("eu-west");
    assert.equal(stats.left, 0, "nothing left unsent");
    assert.equal(stats.refused, 0);
    assert.equal(eu.dropped_total, 0);
    assert.equal(eu.results_total, stats.made, `the server accepted every result the agent made (${stats.made})`);
    t.diagnostic(`agent made ${stats.made} results over the run; the server accepted ${eu.results_total}, each once`);
  });
});
