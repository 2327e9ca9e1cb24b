import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { freePort, sleep } from "../../src/core/index.ts";
import { bullPrefix, probeQueue } from "../../src/pipeline/index.ts";
import type { Incident } from "../../src/status/index.ts";
import { REPO_ROOT } from "../helpers/config.ts";
import { FLEET_TOKEN, startTestFleet, type TestFleet } from "../helpers/fleet.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { MAIN } from "../helpers/start-stack.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * Two replicas of every role of one location against one control-plane
 * Redis, as a team that outgrew one machine runs them: two web, two worker,
 * two scheduler and two agent processes from the built CLI, watching a
 * gateway fleet of two nodes. A node freezes (only the playbook's restart
 * ends it), an incident opens, and while its playbook is under way one
 * process of each role is SIGKILLed, the worker among them the one running
 * the playbook. The survivors carry on: every probe ran once per slot, one
 * incident with every timeline entry once, every entry posted to on-call in
 * order (a post in flight when its worker died may come again, at once, with
 * the same webhook-id), every playbook step run once under the target lock,
 * and the page answered 200 throughout from the replica left. The
 * safeguard probe feeds four components, so one failing result moves them
 * all at once and both workers are handed transitions together: still one
 * incident, which every component joins.
 */

const ADMIN_TOKEN = "replicas-admin-token-0123456789abc";
const ROLES = ["web", "worker", "scheduler", "agent"] as const;
type RoleName = (typeof ROLES)[number];
const PLAYBOOK = "restart-frozen-node";
/** Probe intervals, as in the config below. */
const INTERVAL_MS: Record<string, number> = { "gateway-safeguard": 1_000, "node-0-connect": 1_000, "api-http": 2_000 };
/** How long the playbook's wait step lasts: the window in which its worker is killed. */
const WAIT_MS = 8_000;

interface RoleProcess {
  role: RoleName;
  index: number;
  proc: ChildProcess;
  output: string[];
  port?: number;
}

interface WebhookPost {
  id: string;
  type: string;
  data: { incident: { id: string; status: string }; update: { id: string; status: string; body: string } };
}

interface Run {
  id: string;
  kind: string;
  state: string;
  outcome?: string;
  incident?: string;
  target: string;
  steps: { action: string; state: string; attempts: number; resumed?: string }[];
  executions: { worker: string; started_at: string; from: string }[];
}

/** An HTTP endpoint the api-http probe checks; it stays healthy. */
async function startTarget(): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.writeHead(200, { connection: "close" }).end("healthy"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describe("two replicas of every role, one of each SIGKILLed mid-incident: nothing lost, nothing doubled (slow: 8 role processes from the CLI)", { timeout: 420_000 }, () => {
  let redis: TestRedis;
  let fleet: TestFleet;
  let oncall: HttpReceiver;
  let stepHook: HttpReceiver;
  let target: Awaited<ReturnType<typeof startTarget>>;
  let home: string;
  let prefix: string;
  let configFile: string;
  const processes: RoleProcess[] = [];

  const of = (role: RoleName): RoleProcess[] => processes.filter((p) => p.role === role);
  const running = (p: RoleProcess): boolean => p.proc.exitCode === null && p.proc.signalCode === null;
  /** The first web replica still running: the admin API a person would reach through the load balancer. */
  const webPort = (): number => of("web").find(running)!.port!;

  const api = async (pathname: string): Promise<any> => {
    const res = await fetch(`http://127.0.0.1:${webPort()}/admin/api${pathname}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`GET ${pathname}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const components = async (): Promise<Record<string, string>> => {
    const { components: list } = await api("/components");
    return Object.fromEntries(list.map((c: { id: string; state?: { status: string } }) => [c.id, c.state?.status ?? "unknown"]));
  };
  const runs = async (): Promise<Run[]> => (await api(`/playbooks/runs?playbook=${PLAYBOOK}`)).runs;
  const posts = (): WebhookPost[] => oncall.requests.map((r) => r.json as WebhookPost);
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

  function spawnRole(role: RoleName, index: number, env: NodeJS.ProcessEnv, port?: number): RoleProcess {
    const dir = path.join(home, `${role}-${index}`);
    mkdirSync(dir, { recursive: true });
    const args = [MAIN, role, ...(role === "agent" ? ["--location", "local"] : [])];
    const proc = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { ...env, PULSEBOARD_HOME: dir, ...(port ? { PORT: String(port) } : {}) }, stdio: ["ignore", "pipe", "pipe"] });
    const output: string[] = [];
    const keep = (chunk: Buffer) => {
      output.push(...chunk.toString().split("\n").filter(Boolean));
      if (output.length > 3_000) output.splice(0, output.length - 3_000);
    };
    proc.stdout!.on("data", keep);
    proc.stderr!.on("data", keep);
    const started: RoleProcess = { role, index, proc, output, port };
    processes.push(started);
    return started;
  }

  before(async () => {
    redis = await startRedis();
    fleet = await startTestFleet({ nodes: 2 });
    oncall = await HttpReceiver.start({ status: 204, body: "" });
    stepHook = await HttpReceiver.start({ status: 200, body: "done" });
    target = await startTarget();
    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-replicas-"));
    prefix = uniquePrefix("replicas");
    const webPorts = [await freePort(), await freePort()];
    configFile = path.join(home, "pulseboard.yaml");
    writeFileSync(
      configFile,
      `
redis: { prefix: ${prefix} }
page: { name: Replicas e2e, url: "http://127.0.0.1:${webPorts[0]}" }
evaluation: { quiet_period: 3s, flap_window: 1m, flap_changes: 20 }
locations: [{ id: local }]
components:
  - { id: realtime-gateway, name: Realtime gateway }
  - { id: chat, name: Chat }
  - { id: qa, name: Q&A }
  - { id: notifications, name: Notifications }
  - { id: api, name: Public API }
gateway: { nodes: 2 }
probes:
  - { id: gateway-safeguard, kind: safeguard, interval: 1s, timeout: 900ms, fail_after: 1, recover_after: 1, components: [realtime-gateway, chat, qa, notifications] }
  - { id: node-0-connect, kind: websocket, interval: 1s, timeout: 800ms, fail_after: 1, recover_after: 1, components: [chat], with: { url: "${fleet.url(0)}", channel: null } }
  - { id: api-http, kind: http, interval: 2s, timeout: 800ms, fail_after: 1, recover_after: 1, components: [api], with: { url: "http://127.0.0.1:${target.port}/health" } }
notifications:
  retry_base: 200ms
  retry_max: 1s
  attempts: 100
  channels:
    - { id: oncall, kind: webhook, url: "${oncall.url("/hooks/oncall")}" }
playbooks:
  - id: ${PLAYBOOK}
    trigger: { probe: gateway-safeguard, status: down }
    steps:
      - { action: webhook, url: "${stepHook.url("/hooks/step")}" }
      - { action: wait, for: ${WAIT_MS / 1000}s }
      - { action: restart-gateway, target: failing }
      - { action: verify, probes: [gateway-safeguard], within: 30s }
    guards: { cooldown: 1s, max_runs: 20, per: 1h }
`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PULSEBOARD_CONFIG: configFile,
      REDIS_URL: redis.url,
      ADMIN_TOKEN,
      GATEWAY_PORT: String(fleet.port),
      GATEWAY_NODES: "2",
      GATEWAY_ADMIN_URL: fleet.adminUrl,
      GATEWAY_ADMIN_TOKEN: FLEET_TOKEN,
      LOG_LEVEL: "info",
    };
    for (const name of ["CACHE_REDIS_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_NAME", "CACHE_REDIS_SENTINELS", "REDIS_CLUSTER_NODES", "GATEWAY_URL", "PORT"]) delete env[name];
    for (const index of [0, 1]) {
      spawnRole("web", index, env, webPorts[index]);
      spawnRole("worker", index, env);
      spawnRole("scheduler", index, env);
      spawnRole("agent", index, env);
    }
    try {
      for (const web of of("web")) {
        await waitFor(`web replica ${web.index} to serve the page`, async () => {
          if (!running(web)) throw new Error(`web ${web.index} exited: ${web.output.slice(-10).join("\n")}`);
          return (await fetch(`http://127.0.0.1:${web.port}/`)).status === 200;
        }, 60_000, 250);
      }
      await waitFor("every role consuming", () => {
        const dead = processes.find((p) => !running(p));
        if (dead) throw new Error(`${dead.role} ${dead.index} exited: ${dead.output.slice(-10).join("\n")}`);
        return of("worker").every((w) => w.output.some((l) => l.includes("worker consuming"))) && of("agent").every((a) => a.output.some((l) => l.includes("agent consuming probe queue")));
      }, 60_000, 250);
      await waitFor("every component operational", async () => {
        const now = Object.values(await components());
        return now.length === 5 && now.every((s) => s === "operational");
      }, 60_000, 250);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${describeOutput()}`);
    }
  });

  after(async () => {
    for (const p of processes) if (running(p)) p.proc.kill("SIGKILL");
    await Promise.all(processes.map((p) => (running(p) ? new Promise((resolve) => p.proc.once("exit", resolve)) : undefined)));
    await fleet?.stop();
    await oncall?.stop();
    await stepHook?.stop();
    await new Promise((resolve) => target?.server.close(resolve));
    await redis?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  /** Each role process's last log lines (the agents' probe results left out), for a failure message. */
  function describeOutput(lines = 25): string {
    return processes
      .map((p) => `--- ${p.role} ${p.index} (pid ${p.proc.pid}${running(p) ? "" : `, ended ${p.proc.signalCode ?? p.proc.exitCode}`}):\n${p.output.filter((l) => !l.includes('"probe result"')).slice(-lines).join("\n")}`)
      .join("\n");
  }

  it("a frozen node's incident, with one process of each role SIGKILLed during it", async (t) => {
    const answers: { at: number; web: number; status: number | string }[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        await Promise.all(
          of("web").map(async (web) => {
            const at = Date.now();
            const status = await fetch(`http://127.0.0.1:${web.port}/`, { signal: AbortSignal.timeout(5_000) }).then(async (res) => (await res.arrayBuffer(), res.status), (err: Error) => err.message);
            answers.push({ at, web: web.index, status });
          }),
        );
        await sleep(200);
      }
    })();
    const kills: { role: RoleName; index: number; pid: number; at: number }[] = [];
    const restartsBefore = Object.fromEntries(((await fleet.admin("GET", "/nodes")).body.nodes as { id: string; restarts: number }[]).map((n) => [n.id, n.restarts]));
    const watchFrom = Date.now();
    try {
      // Both schedulers sync the probe schedules again at once (a config reload), inside the window the slots are counted in.
      const synced = () => of("scheduler").map((p) => p.output.filter((l) => l.includes("probe schedules in line with config")).length);
      const syncedBefore = synced();
      const now = new Date();
      utimesSync(configFile, now, now);
      await waitFor("both schedulers to sync the reloaded config", () => synced().every((n, i) => n > syncedBefore[i]!), 30_000, 100);
      // Longer than the test waits: only the playbook's restart ends it.
      const frozenAt = Date.now();
      const fault = await fleet.admin("POST", "/nodes/node-1/faults", { fault: "freeze", duration: "10m" });
      assert.equal(fault.status < 300, true, `the fleet took the fault: ${fault.status} ${fault.text}`);
      const opened = await waitFor("the incident's first on-call post", () => posts().find((p) => p.type === "incident.opened"), 60_000, 50);
      const openedAt = Date.now();
      const incidentId = opened.data.incident.id;

      // The run's wait step is under way: kill the worker running it, and one of each other role.
      const inWait = await waitFor("the playbook run to reach its wait step", async () => {
        const run = (await runs()).find((r) => r.kind === "recovery" && r.state === "running");
        return run?.steps[1]?.state === "started" && run.executions.length > 0 ? run : undefined;
      }, 60_000, 100);
      const runner = Number(inWait.executions.at(-1)!.worker.split(":").at(-1));
      const victims: RoleProcess[] = [
        of("worker").find((w) => w.proc.pid === runner) ?? of("worker")[1]!,
        of("web")[1]!,
        of("scheduler")[1]!,
        of("agent")[1]!,
      ];
      for (const victim of victims) {
        victim.proc.kill("SIGKILL");
        kills.push({ role: victim.role, index: victim.index, pid: victim.proc.pid!, at: Date.now() });
      }
      const killedAt = Date.now();
      t.diagnostic(`frozen node-1; incident opened ${seconds(openedAt - frozenAt)} after; killed ${kills.map((k) => `${k.role} ${k.index} (pid ${k.pid}${k.role === "worker" && k.pid === runner ? ", running the playbook" : ""})`).join(", ")} ${seconds(killedAt - frozenAt)} after the freeze`);

      // Any resolution: a second incident opened beside the first is what the checks below name.
      const resolvedPost = await waitFor("an incident's resolution at the webhook", () => posts().find((p) => p.type === "incident.resolved"), 180_000, 100);
      const resolvedAt = Date.now();
      // Room for a late duplicate (a redelivery, a second run) to show itself.
      await sleep(5_000);
      polling = false;
      await poller;
      const watchTo = Date.now();

      // The incident: one, with each entry once.
      const incidents: Incident[] = (await api("/incidents?limit=20")).incidents;
      t.diagnostic(`incidents: ${incidents.map((i) => `${i.id} ${i.status}`).join(", ")}`);
      assert.equal(incidents.length, 1, "one incident, not one per worker");
      const incident = incidents[0]!;
      assert.equal(incident.id, incidentId);
      assert.equal(incident.status, "resolved");
      const entries = incident.updates;
      t.diagnostic(`timeline (${entries.length}): ${entries.map((u) => `${u.status}: ${(u.detail ?? u.body).slice(0, 70)}`).join(" | ")}`);
      assert.equal(new Set(entries.map((u) => u.id)).size, entries.length, "timeline entry ids are unique");
      const texts = entries.map((u) => `${u.status}\n${u.body}\n${u.detail ?? ""}`);
      assert.deepEqual(texts.filter((text, i) => texts.indexOf(text) !== i), [], "no timeline entry written twice");
      for (const name of ["Realtime gateway", "Chat", "Q&A", "Notifications"]) {
        assert.equal(entries.filter((u) => (u.detail ?? u.body).startsWith(`${name}: major outage.`)).length, 1, `${name}'s outage is on the timeline once`);
        assert.equal(entries.filter((u) => (u.detail ?? u.body).startsWith(`${name} is operational again`)).length, 1, `${name}'s recovery is on the timeline once`);
      }
      assert.equal(entries[0]!.status, "investigating");
      assert.equal(entries.at(-1)!.status, "resolved");
      assert.equal(entries.filter((u) => u.status === "resolved").length, 1, "resolved once");

      // On-call: every entry once and in timeline order; a post in flight when its worker died may follow itself at once.
      const received = posts();
      const ids = received.map((p) => p.id);
      const expected = entries.map((u) => `msg_${u.id}`);
      const collapsed = ids.filter((id, i) => id !== ids[i - 1]);
      const again = ids.length - collapsed.length;
      t.diagnostic(`on-call got ${ids.length} posts for ${expected.length} timeline entries (${again} sent again): ${received.map((p) => p.type.replace("incident.", "")).join(" → ")}`);
      for (const stray of received.filter((p) => !expected.includes(p.id))) t.diagnostic(`not in the timeline: ${stray.id} ${stray.type} ${stray.data.update.status} "${stray.data.update.body.slice(0, 120)}"`);
      assert.deepEqual(collapsed, expected, "each entry reached the webhook once, in timeline order");
      assert.ok(again <= 1, `at most one post sent again, by the one worker killed (${again})`);
      assert.equal(received[0]!.type, "incident.opened");
      assert.equal(received.at(-1)!.type, "incident.resolved");
      assert.equal(received.filter((p) => p.type === "incident.opened").length, 1, "opened posted once");
      assert.equal(resolvedPost.id, expected.at(-1));
      assert.deepEqual((await api("/notifications/dead")).dead, [], "nothing was dead-lettered");

      // The playbook: one run, each step once; the webhook step called under one idempotency key, node-1 restarted once.
      const all = await runs();
      t.diagnostic(`playbook runs: ${all.map((r) => `${r.id} ${r.kind} ${r.state} steps [${r.steps.map((s) => `${s.action}:${s.state}×${s.attempts}${s.resumed ? `(${s.resumed})` : ""}`).join(", ")}] executions [${r.executions.map((e) => `${e.worker} from ${e.from}`).join(", ")}]: ${r.outcome}`).join("; ")}`);
      assert.equal(all.length, 1, "one run: the target lock kept the other worker from starting its own");
      const [run] = all as [Run];
      assert.equal(run.state, "succeeded", run.outcome);
      assert.equal(run.incident, incidentId, "the run reported to the one incident");
      assert.deepEqual(run.steps.map((s) => `${s.action}:${s.state}`), ["webhook:succeeded", "wait:succeeded", "restart-gateway:succeeded", "verify:succeeded"]);
      const [webhookStep, waitStep, restartStep, verifyStep] = run.steps as [Run["steps"][number], Run["steps"][number], Run["steps"][number], Run["steps"][number]];
      assert.deepEqual([webhookStep.attempts, restartStep.attempts, verifyStep.attempts], [1, 1, 1], "the webhook, restart and verify steps each started once");
      assert.ok(waitStep.attempts >= 2, `the wait, interrupted by the kill, was carried on (${waitStep.attempts} starts)`);
      const survivor = of("worker").find(running)!;
      assert.equal(run.executions[0]!.worker.endsWith(`:${runner}`), true, "the killed worker began the run");
      assert.ok(run.executions.length >= 2 && run.executions.at(-1)!.worker.endsWith(`:${survivor.proc.pid}`), "the surviving worker carried it on");
      const stepKeys = new Set(stepHook.requests.map((r) => r.headers["idempotency-key"]));
      assert.equal(stepHook.requests.length, 1, `the webhook step called once (${stepHook.requests.length})`);
      assert.equal(stepKeys.size, 1);
      const restartsAfter = Object.fromEntries(((await fleet.admin("GET", "/nodes")).body.nodes as { id: string; restarts: number }[]).map((n) => [n.id, n.restarts]));
      assert.deepEqual({ "node-0": restartsAfter["node-0"]! - restartsBefore["node-0"]!, "node-1": restartsAfter["node-1"]! - restartsBefore["node-1"]! }, { "node-0": 0, "node-1": 1 }, "node-1 restarted once, node-0 not at all");

      // Probes: every scheduled slot ran once, however many agents and schedulers.
      const slots = await scheduledRuns(watchFrom, watchTo);
      assert.deepEqual([...new Set(slots.map((s) => s.probe))].filter((key) => !(key in INTERVAL_MS)), [], "one job scheduler per probe, under the probe's id");
      for (const [probe, interval] of Object.entries(INTERVAL_MS)) {
        const mine = slots.filter((s) => s.probe === probe);
        const ran = mine.filter((s) => !s.skipped);
        const twice = [...new Set(ran.map((s) => s.jobId).filter((id, i, list) => list.indexOf(id) !== i))];
        const millis = [...new Set(mine.map((s) => s.slot))].sort((a, b) => a - b);
        const offGrid = millis.filter((m, i) => i > 0 && (m - millis[i - 1]!) % interval !== 0);
        const gaps = millis.slice(1).map((m, i) => m - millis[i]!).filter((g) => g > interval);
        t.diagnostic(`${probe}: ${ran.length} slots ran, ${mine.length - ran.length} skipped (${[...new Set(mine.filter((s) => s.skipped).map((s) => s.skipped))].join(", ") || "none"}), ${gaps.length} gaps in the schedule (longest ${Math.max(0, ...gaps)} ms)`);
        assert.deepEqual(twice, [], `${probe}: no slot ran twice`);
        assert.deepEqual(offGrid, [], `${probe}: every slot on the probe's own grid (no second schedule beside the first)`);
        assert.ok(ran.length >= ((watchTo - watchFrom) / interval) * 0.5, `${probe}: most slots ran (${ran.length} in ${seconds(watchTo - watchFrom)})`);
        const results: { id: string }[] = (await api(`/probes/${probe}/results?location=local&limit=1000`)).results;
        assert.equal(new Set(results.map((r) => r.id)).size, results.length, `${probe}: each result stored once`);
      }

      // The page: the replica left answered 200 throughout; the killed one until it was killed.
      const webKill = kills.find((k) => k.role === "web")!;
      const bad = answers.filter((a) => a.status !== 200 && !(a.web === webKill.index && a.at >= webKill.at - 50));
      const asked = answers.filter((a) => a.web !== webKill.index);
      t.diagnostic(`the page: ${answers.length} requests, ${asked.length} to the surviving replica, ${answers.filter((a) => a.status !== 200).length} unanswered (the killed replica after its kill)`);
      assert.deepEqual(bad, [], "every answer of / was a 200 (but the killed replica's, after its kill)");
      assert.ok(asked.filter((a) => a.at > killedAt).length >= 20, "the surviving replica was asked through the incident");

      assert.deepEqual(processes.filter((p) => !running(p)).map((p) => `${p.role} ${p.index}`).sort(), kills.map((k) => `${k.role} ${k.index}`).sort(), "the survivors are all still running");
      t.diagnostic(`figures: open ${seconds(openedAt - frozenAt)} after the freeze; resolved ${seconds(resolvedAt - frozenAt)} after the freeze (${seconds(resolvedAt - killedAt)} after the kills); ${ids.length} on-call posts`);
    } catch (err) {
      t.diagnostic(`kills: ${JSON.stringify(kills)}`);
      t.diagnostic(`role output (last lines):\n${describeOutput()}`);
      throw err;
    } finally {
      polling = false;
      await poller;
    }
  });

  /**
   * Every scheduled probe job the agents finished between `from` and `to`,
   * from the probe queue's BullMQ event stream: a job scheduler's job id is
   * `repeat:<probe>:<slot ms>`, so one id finished twice is a slot run twice.
   */
  async function scheduledRuns(from: number, to: number): Promise<{ probe: string; slot: number; jobId: string; skipped?: string }[]> {
    const queue = new Queue(probeQueue("local"), { connection: redis.client, prefix: bullPrefix(prefix) });
    try {
      const entries = (await redis.client.xrange(queue.keys.events!, String(from), String(to))) as [string, string[]][];
      return entries.flatMap(([, flat]) => {
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
        const match = /^repeat:(.+):(\d+)$/.exec(fields.jobId ?? "");
        if (fields.event !== "completed" || !match) return [];
        const value = JSON.parse(fields.returnvalue ?? "{}") as { skipped?: string };
        return [{ probe: match[1]!, slot: Number(match[2]), jobId: fields.jobId!, ...(value.skipped ? { skipped: value.skipped } : {}) }];
      });
    } finally {
      await queue.close();
    }
  }
});
