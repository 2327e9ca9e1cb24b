import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ChaosSummary } from "../../src/chaos/index.ts";
import { BIN, recoveryConfig, runChaos, startService, type Service } from "../helpers/service.ts";
import { waitFor } from "../helpers/wait.ts";

const ADMIN_TOKEN = "chaos-e2e-admin-token-0123456789";
/** Connections one gateway node accepts: small, so a surge can go beyond the fleet. */
const NODE_LIMIT = 40;

/**
 * `pulseboard chaos` against `pulseboard start` (1 s probes, the shipped
 * kinds of playbooks with short bounds): each scenario breaks the stack,
 * the playbooks repair it while the fault still holds, and the chaos run's
 * own summary (--json) says when the status page saw it and saw it recover.
 */
/**
 * Bounds for a whole stack on two busy cores, 3–5 times what is seen (the
 * figures are printed as diagnostics): with 1 s probes, detection takes
 * 1–2 s (seen 0.7–1 s); a recovery by playbook (drain, restart, verify)
 * 10–15 s after the fault ends or is repaired (seen 11.7–14 s).
 */
const DETECT_WITHIN_S = 10;
const RECOVER_WITHIN_S = 45;
/** The longest a scenario's fault is held here: one that ends well before it was ended by the recovery. */
const FAULT_CAP_S = 90;

describe("pulseboard chaos rehearses the real outages (slow: whole service from the CLI, 1 s probes)", { timeout: 420_000 }, () => {
  let service: Service;
  let home: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    service = await startService({ config: (port) => recoveryConfig({ port, nodeLimit: NODE_LIMIT }), adminToken: ADMIN_TOKEN });
    ({ home, env } = service);
  });

  after(async () => {
    await service?.stop();
  });

  const allOperational = () => service.allOperational();
  /** Waits for every component to be operational; on a timeout, says what was not, and what the playbooks did. */
  const untilOperational = async (what: string, timeoutMs: number): Promise<void> => {
    try {
      await waitFor(what, allOperational, timeoutMs, 250);
    } catch (err) {
      const get = async (p: string) => (await fetch(`http://127.0.0.1:${service.port}/admin/api${p}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
      const { components } = (await get("/components")) as { components: { id: string; state?: { status: string }; probes?: { id: string; locations?: { last_result?: { status?: string; error?: string; finished_at?: string } | null }[] }[] }[] };
      // What the probes of each component still down last said: the first thing to read when one stays down.
      const failing = components
        .filter((c) => c.state?.status !== "operational")
        .flatMap((c) => (c.probes ?? []).map((p) => `${c.id}/${p.id}: ${(p.locations ?? []).map((l) => `${l.last_result?.status} ${l.last_result?.finished_at ?? ""} ${l.last_result?.error ?? ""}`.trim()).join("; ")}`));
      const { runs } = (await get("/playbooks/runs?limit=6")) as { runs: { playbook: string; kind: string; state: string; outcome?: string }[] };
      const token = readFileSync(path.join(home, "gateway-admin-token"), "utf8").trim();
      const nodes = await (await fetch(`http://127.0.0.1:${env.GATEWAY_ADMIN_PORT}/nodes`, { headers: { authorization: `Bearer ${token}` } })).text();
      throw new Error(`${(err as Error).message}; nodes: ${nodes}; components: ${components.map((c) => `${c.id} ${c.state?.status}`).join(", ")}; probes of those down: ${failing.join(" | ")}; latest runs: ${runs.map((r) => `${r.playbook} ${r.kind} ${r.state}: ${r.outcome}`).join(" | ")}`);
    }
  };

  const chaos = (...args: string[]) => runChaos(env, ...args);

  /** When the realtime gateway showed degraded performance (its probes' word for a bypassed cache) within the fault, if it did. */
  const bypassedDuringFault = (s: ChaosSummary): number | undefined =>
    s.timeline.find((c) => c.component === "Realtime gateway" && c.to === "degraded_performance" && c.at_s < s.fault_s)?.at_s;
  const runsOf = (s: ChaosSummary, playbook: string) => s.playbook_runs.filter((r) => r.playbook === playbook).map((r) => `${r.kind}:${r.state}`);

  it("refuses an unknown scenario and a bad option, naming them", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, "chaos", ...args], { env, stdio: ["ignore", "ignore", "pipe"] });
        let stderr = "";
        child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("close", (code) => resolve({ code, stderr }));
      });
    const unknown = await run(["meteor"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no chaos scenario "meteor"; there are: surge, cache-clog, cache-down, safeguard-lockup, gateway-halt, control-plane-down/);
    const bad = await run(["surge", "--connections", "lots"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--connections: expected a whole number from 1 to 1000000, got "lots"/);
    const zero = await run(["surge", "--duration", "0s"]);
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /--duration: must be longer than zero, got "0s"/);
    const long = await run(["surge", "--settle", "2h"]);
    assert.equal(long.code, 2);
    assert.match(long.stderr, /--settle: at most 60 min, got "2h"/);
  });

  it("gateway-halt: a frozen node is restarted by the playbook long before the freeze would end", async (t) => {
    const { summary, code, progress } = await chaos("gateway-halt", "--node", "node-1", "--duration", `${FAULT_CAP_S}s`);
    t.diagnostic(`gateway-halt: detected ${summary.detected_s} s, recovered ${summary.recovered_s} s, fault held ${summary.fault_s} s; ${summary.did}`);
    assert.equal(code, 0, progress);
    assert.ok(summary.detected_s !== null && summary.detected_s < DETECT_WITHIN_S, `detected within ${DETECT_WITHIN_S} s: ${summary.detected_s}`);
    assert.ok(summary.recovered_s !== null && summary.recovered_s < RECOVER_WITHIN_S, `recovered within ${RECOVER_WITHIN_S} s: ${summary.recovered_s}`);
    assert.ok(summary.fault_s < FAULT_CAP_S - 5, `the fault ended because the stack recovered, not because its ${FAULT_CAP_S} s were up: ${summary.fault_s} s`);
    assert.match(summary.did, /froze the event loop on node-1; the node was restarted once/);
    assert.deepEqual(runsOf(summary, "restart-stuck-gateway-node"), ["recovery:succeeded"]);
    assert.equal(summary.page_availability, 1);
    assert.match(progress, new RegExp(`froze the event loop on node-1 for at most ${FAULT_CAP_S} s`));
  });

  it("safeguard-lockup: a node refusing every new client is restarted by the playbook", async (t) => {
    await untilOperational("every component operational", 30_000);
    const { summary, code } = await chaos("safeguard-lockup", "--node", "node-0", "--duration", `${FAULT_CAP_S}s`);
    t.diagnostic(`safeguard-lockup: detected ${summary.detected_s} s, recovered ${summary.recovered_s} s, fault held ${summary.fault_s} s`);
    assert.equal(code, 0);
    assert.ok(summary.detected_s !== null && summary.detected_s < DETECT_WITHIN_S, `detected within ${DETECT_WITHIN_S} s: ${summary.detected_s}`);
    assert.ok(summary.recovered_s !== null && summary.recovered_s < RECOVER_WITHIN_S, `recovered within ${RECOVER_WITHIN_S} s: ${summary.recovered_s}`);
    assert.ok(summary.fault_s < FAULT_CAP_S - 5, `the fault ended because the stack recovered, not because its ${FAULT_CAP_S} s were up: ${summary.fault_s} s`);
    assert.deepEqual(runsOf(summary, "restart-stuck-gateway-node"), ["recovery:succeeded"]);
  });

  it("cache-clog: the stalled cache is bypassed while it stalls and restored once it is healthy again", async (t) => {
    await untilOperational("every component operational", 30_000);
    const { summary, code } = await chaos("cache-clog", "--duration", "16s");
    t.diagnostic(`cache-clog: detected ${summary.detected_s} s, recovered ${summary.recovered_s} s; worst ${JSON.stringify(summary.worst)}; ${summary.did}`);
    assert.equal(code, 0);
    assert.ok(summary.detected_s !== null && summary.detected_s < DETECT_WITHIN_S, `detected within ${DETECT_WITHIN_S} s: ${summary.detected_s}`);
    assert.ok(summary.recovered_s !== null && summary.recovered_s < 16 + RECOVER_WITHIN_S, `recovered within the 16 s fault + ${RECOVER_WITHIN_S} s: ${summary.recovered_s}`);
    assert.equal(summary.worst.Cache, "major_outage");
    assert.deepEqual(runsOf(summary, "bypass-clogged-cache"), ["recovery:succeeded", "restore:succeeded"]);
    assert.equal(summary.page_availability, 1);
  });

  it("cache-down: the dead cache is bypassed while it is down, and restored once the supervisor brought it back", async (t) => {
    await untilOperational("every component operational", 30_000);
    const { summary, code } = await chaos("cache-down", "--duration", "10s");
    t.diagnostic(`cache-down: detected ${summary.detected_s} s, recovered ${summary.recovered_s} s; ${summary.did}`);
    assert.equal(code, 0);
    assert.match(summary.did, /killed the gateway's cache Redis; it was down for 1\d\.\d s and is back \(pid \d+\)/);
    assert.ok(summary.detected_s !== null && summary.detected_s < DETECT_WITHIN_S, `detected within ${DETECT_WITHIN_S} s: ${summary.detected_s}`);
    assert.ok(summary.recovered_s !== null && summary.recovered_s < 10 + RECOVER_WITHIN_S, `recovered within the 10 s outage + ${RECOVER_WITHIN_S} s: ${summary.recovered_s}`);
    assert.deepEqual(runsOf(summary, "bypass-clogged-cache"), ["recovery:succeeded", "restore:succeeded"]);
    const back = bypassedDuringFault(summary);
    assert.ok(back !== undefined, `realtime came back, degraded, while the cache was still down (the bypass): ${JSON.stringify(summary.timeline)}`);
    t.diagnostic(`cache-down: realtime back (degraded) ${back} s after the kill, with the cache still down`);
    assert.ok(!existsSync(path.join(home, "redis", "cache", "hold-down-until")), "the hold-down file is gone");
  });

  it("surge: clients beyond what the fleet accepts make it scale out, and back in once they leave", async (t) => {
    await untilOperational("every component operational", 30_000);
    const { summary, code } = await chaos("surge", "--duration", "10s", "--rate", "500");
    t.diagnostic(`surge: ${summary.did}; runs ${JSON.stringify(summary.playbook_runs)}`);
    assert.equal(code, 0);
    const opened = /opened (\d+) connections: (\d+) got in, (\d+) were refused/.exec(summary.did);
    assert.ok(opened, summary.did);
    assert.equal(Number(opened[1]), Math.ceil(2 * NODE_LIMIT * 1.2), "1.2 × what the two nodes accept");
    assert.ok(Number(opened[2]) > 2 * NODE_LIMIT * 0.7, "enough got in to cross the trigger");
    assert.deepEqual(runsOf(summary, "scale-out-on-surge").slice(0, 1), ["recovery:succeeded"]);
    await waitFor("back to two nodes once the clients left", async () => {
      const token = readFileSync(path.join(home, "gateway-admin-token"), "utf8").trim();
      const res = await fetch(`http://127.0.0.1:${env.GATEWAY_ADMIN_PORT}/nodes`, { headers: { authorization: `Bearer ${token}` } });
      return ((await res.json()) as { nodes: unknown[] }).nodes.length === 2;
    }, 30_000, 250);
  });

  it("Ctrl-C ends a scenario early and restores what it broke: the killed cache comes back at once", async () => {
    await untilOperational("every component operational", 30_000);
    const child = spawn(process.execPath, [BIN, "chaos", "cache-down", "--duration", "60s", "--settle", "20s"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = new Promise<number | null>((resolve) => child.on("close", resolve));
    await waitFor("the cache to be killed", () => /killed the gateway's cache Redis \(pid \d+\); it stays down for 60 s/.test(stderr), 15_000, 100);
    const interruptedAt = Date.now();
    child.kill("SIGINT");
    assert.equal(await code, 130);
    assert.match(stderr, /stopping: restoring what the scenario broke/);
    assert.match(stdout, /scenario\s+cache-down \(interrupted\)/);
    assert.match(stdout, /what it did\s+killed the gateway's cache Redis; it was down for \d\.\d s and is back \(pid \d+\)/);
    assert.ok(Date.now() - interruptedAt < 15_000, "it did not wait out the 60 s");
    assert.ok(!existsSync(path.join(home, "redis", "cache", "hold-down-until")));
    await untilOperational("every component operational again", 40_000);
  });

  it("control-plane-down: the status page keeps answering while Pulseboard's own Redis is away, and the stack comes back", async (t) => {
    await untilOperational("every component operational", 30_000);
    const { summary, code } = await chaos("control-plane-down", "--duration", "8s");
    t.diagnostic(`control-plane-down: page ${summary.page_availability * 100} % of ${summary.page_reads} reads, detected ${summary.detected_s}, recovered ${summary.recovered_s}; ${summary.did}`);
    assert.equal(code, 0);
    assert.match(summary.did, /killed Pulseboard's own Redis; it was down for \d+\.\d s and is back/);
    assert.equal(summary.page_availability, 1, "every read of the status page was answered");
    await untilOperational("every component operational after the control plane is back", 30_000);
  });

  it("logged no secret through all of it: neither admin token appears in the service's output", () => {
    const gatewayToken = readFileSync(path.join(home, "gateway-admin-token"), "utf8").trim();
    assert.ok(service.output.length > 20, "the service logged at info level");
    for (const [name, secret] of [["ADMIN_TOKEN", ADMIN_TOKEN], ["the gateway admin token", gatewayToken]] as const) {
      assert.ok(!service.output.some((line) => line.includes(secret)), `${name} is in a log line`);
    }
  });
});
