import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import type { Incident } from "../../src/status/index.ts";
import { REPO_ROOT } from "../helpers/config.ts";
import { freePortRange } from "../helpers/ports.ts";
import { alive, commandLine, descendants } from "../helpers/processes.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The worker role (evaluator, incident lifecycle, outbox, delivery) is
 * SIGKILLed at the worst moments of an incident, in the whole service as
 * `pulseboard start` runs it. The supervisor restarts it each time; the
 * incident's timeline must come out with every entry exactly once, and the
 * on-call webhook must get every entry, in order, none twice, except the one
 * post a killed worker had sent but not yet recorded (delivery is at least
 * once; the copy has the same webhook-id).
 */

const BIN = path.join(REPO_ROOT, "bin/pulseboard.js");
const ADMIN_TOKEN = "worker-crash-admin-token-0123456789";
const WEBHOOK_SECRET = `whsec_${Buffer.from("worker-crash-secret-key-32bytes!").toString("base64")}`;

/** What people post during the incident: one alone, then a burst the worker dies in. */
const IDENTIFIED = [
  "The gateway processes are halted; resuming them.",
  "Node 0 is frozen; a restart is being prepared.",
  "Clients are being told to reconnect later.",
  "Load balancer health checks are failing over.",
  "Resuming the gateway processes now.",
];

interface WebhookBody {
  id: string;
  type: string;
  data: { incident: { id: string }; update: { id: string; status: string; body: string } };
}

describe("killing the worker mid-incident loses no timeline entry and duplicates none (slow: whole service from the CLI)", { timeout: 300_000 }, () => {
  let home: string;
  let port: number;
  let hook: HttpReceiver;
  let service: ChildProcess;
  const output: string[] = [];
  /** Every process of the service tree ever seen, so `after` can make sure none outlives the test. */
  const seen = new Set<number>();
  const kills: { pid: number; when: string; postsSoFar: number; at: number }[] = [];
  let startedAt = 0;

  const api = async (pathname: string, init: RequestInit = {}): Promise<any> => {
    const res = await fetch(`http://127.0.0.1:${port}/admin/api${pathname}`, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", ...init.headers },
    });
    if (!res.ok) throw new Error(`${init.method ?? "GET"} ${pathname}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const incidents = async (): Promise<Incident[]> => (await api("/incidents?limit=10")).incidents;
  const gatewayStatus = async (): Promise<string | undefined> =>
    (await api("/components")).components.find((c: { id: string }) => c.id === "realtime-gateway")?.state?.status;

  /** The service's child processes whose command line ends in ` <role>`. */
  const role = (name: string): number[] => {
    const tree = descendants(service.pid!);
    for (const pid of tree) seen.add(pid);
    return tree.filter((pid) => commandLine(pid).endsWith(` ${name}`));
  };
  /** The worker runs in the `core` child of `pulseboard start`, with the scheduler and the agent. */
  const workerPid = (): number | undefined => role("core").find(alive);

  /** SIGKILLs the worker and waits for the supervisor to start a new one. */
  const killWorker = async (when: string): Promise<void> => {
    const pid = workerPid();
    assert.ok(pid, `a worker runs ${when}`);
    process.kill(pid, "SIGKILL");
    kills.push({ pid, when, postsSoFar: hook.requests.length, at: Date.now() });
    await waitFor(`the supervisor to restart the worker killed ${when}`, () => {
      const next = workerPid();
      return next !== undefined && next !== pid;
    }, 30_000, 50);
  };

  /** True once the worker `pid` logged that it consumes its queues. */
  const workerReady = (pid: number | undefined): boolean =>
    pid !== undefined && output.some((line) => line.includes(`"pid":${pid},`) && line.includes("worker consuming"));

  const postUpdate = (id: string, body: string): Promise<unknown> =>
    api(`/incidents/${id}/updates`, { method: "POST", body: JSON.stringify({ status: "identified", body }) });

  /** Every webhook the receiver got, in arrival order. */
  const posts = (): WebhookBody[] => hook.requests.map((r) => r.json as WebhookBody);

  const signalGateway = (signal: "SIGSTOP" | "SIGCONT"): void => {
    // The gateway's primary runs from its own entry point under start (src/gateway/primary-main.ts).
    const gateways = descendants(service.pid!).filter((pid) => /primary-main\.[jt]s$/.test(commandLine(pid)));
    assert.ok(gateways.length > 0, "the gateway is a child of start");
    for (const pid of new Set(gateways.flatMap((g) => [g, ...descendants(g)]))) process.kill(pid, signal);
  };

  before(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-worker-crash-"));
    hook = await HttpReceiver.start({ status: 204, body: "" });
    port = await freePort();
    const configFile = path.join(home, "pulseboard.yaml");
    writeFileSync(
      configFile,
      `
page: { name: Worker crash, url: "http://127.0.0.1:${port}" }
evaluation: { quiet_period: 3s, flap_window: 1m, flap_changes: 20 }
locations: [{ id: local }]
components: [{ id: realtime-gateway, name: Realtime gateway }]
gateway: { nodes: 1 }
probes:
  - { id: gateway-connect, kind: websocket, interval: 1s, timeout: 800ms, fail_after: 1, recover_after: 1, components: [realtime-gateway], with: { channel: null } }
notifications:
  retry_base: 200ms
  retry_max: 1s
  attempts: 100
  channels:
    - { id: oncall, kind: webhook, url: "${hook.url("/hooks/pulseboard")}", secret: "${WEBHOOK_SECRET}" }
`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PULSEBOARD_CONFIG: configFile,
      PULSEBOARD_HOME: home,
      PORT: String(port),
      GATEWAY_PORT: String(await freePortRange(3)),
      GATEWAY_ADMIN_PORT: String(await freePort()),
      ADMIN_TOKEN,
      LOG_LEVEL: "info",
    };
    delete env.REDIS_URL;
    delete env.CACHE_REDIS_URL;
    startedAt = Date.now();
    service = spawn(process.execPath, [BIN, "start"], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer) => output.push(...chunk.toString().split("\n").filter(Boolean));
    service.stdout!.on("data", keep);
    service.stderr!.on("data", keep);
  });

  after(async () => {
    const tree = new Set([...seen, ...(service.pid ? descendants(service.pid) : [])]);
    for (const signal of ["SIGCONT", "SIGKILL"] as const) {
      try {
        process.kill(-service.pid!, signal);
      } catch {
        // already gone
      }
    }
    // Processes of the tree that left its group (none should) are ours too.
    for (const pid of tree) {
      try {
        if (alive(pid)) process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    await hook.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it("keeps every timeline entry exactly once and delivers each to the webhook in order, none twice but a post in flight at a kill", { timeout: 270_000 }, async (t) => {
    try {
      await waitFor("the service to evaluate the gateway operational", async () => (await gatewayStatus()) === "operational", 60_000, 250);

      // 1. The gateway halts; the worker dies the moment the incident is opened.
      signalGateway("SIGSTOP");
      const opened = await waitFor("the automatic incident", async () => (await incidents())[0], 30_000, 20);
      await killWorker("right after the incident opened");

      // 2. People post updates; the restarted worker dies while a burst of them is being announced. Its
      // outbox dispatcher takes over once the killed one's lease (10 s) has run out, so the burst waits for that.
      await waitFor("the restarted worker to be ready", () => workerReady(workerPid()), 30_000, 50);
      await postUpdate(opened.id, IDENTIFIED[0]!);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, kills[0]!.at + 12_000 - Date.now())));
      await postUpdate(opened.id, IDENTIFIED[1]!);
      const burst = Promise.all(IDENTIFIED.slice(2).map((body) => postUpdate(opened.id, body)));
      await new Promise((resolve) => setTimeout(resolve, 30));
      await killWorker("while a burst of updates was being announced");
      await burst;

      // 3. The gateway resumes; the worker dies as the component recovers, before or while the incident moves to monitoring.
      await waitFor("the restarted worker to be ready", () => workerReady(workerPid()), 30_000, 50);
      signalGateway("SIGCONT");
      await waitFor("the gateway to be evaluated operational again", async () => (await gatewayStatus()) === "operational", 30_000, 20);
      await killWorker("as the gateway recovered");

      // A job the killed worker held waits out its BullMQ lock (30 s) and a stalled-job check (every 30 s)
      // before it runs again; later posts of the incident wait for it, to keep their order.
      const resolved = await waitFor("the incident to resolve", async () => {
        const found = (await incidents()).find((i) => i.id === opened.id);
        return found?.status === "resolved" ? found : undefined;
      }, 90_000, 250);
      const entries = resolved.updates;
      t.diagnostic(`timeline: ${entries.map((u) => `${u.status} (${u.author.kind})`).join(" → ")}`);

      assert.equal((await incidents()).length, 1, "one incident, not one per restart");
      assert.deepEqual(
        entries.map((u) => u.status),
        ["investigating", ...IDENTIFIED.map(() => "identified"), "monitoring", "resolved"],
        "each transition exactly once, in order",
      );
      assert.deepEqual(entries.filter((u) => u.author.kind === "person").map((u) => u.body).sort(), [...IDENTIFIED].sort(), "each person's update exactly once");
      assert.equal(new Set(entries.map((u) => u.id)).size, entries.length, "timeline entry ids are unique");
      for (let i = 1; i < entries.length; i++) {
        assert.ok(!(entries[i]!.status === entries[i - 1]!.status && entries[i]!.body === entries[i - 1]!.body), `entry ${i} repeats the one before it`);
      }

      const expected = entries.map((u) => `msg_${u.id}`);
      await waitFor("every timeline entry at the webhook", () => expected.every((id) => hook.requests.some((r) => r.headers["webhook-id"] === id)), 90_000, 100);
      // Room for a late redelivery to show itself.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const received = posts();
      const ids = received.map((p) => p.id);
      // Delivery is at least once: a worker killed after a post reached the receiver but before it was
      // recorded sends it again, with the same webhook-id, before any later post of the incident.
      const collapsed = ids.filter((id, i) => id !== ids[i - 1]);
      const again = ids.flatMap((id, i) => (id === ids[i - 1] ? [{ id, first: i - 1 }] : []));
      t.diagnostic(`webhook got ${ids.length} posts for ${expected.length} entries; sent again: ${again.length === 0 ? "none" : again.map((a) => a.id).join(", ")}`);
      // Posts of no entry in the final timeline: what they were, to tell a phantom entry from another incident's post.
      for (const stray of received.filter((p) => !expected.includes(p.id))) {
        t.diagnostic(`not in the timeline: ${stray.id} ${stray.type} incident ${stray.data.incident.id}${stray.data.incident.id === opened.id ? " (this one)" : ""}: ${stray.data.update.status} "${stray.data.update.body.slice(0, 160)}"`);
      }
      assert.deepEqual(collapsed, expected, "each entry reached the webhook in timeline order; a copy sent again follows its first at once");
      for (const { id, first } of again) {
        // One post is in flight at a time (the channel's posts go in order): the last one the receiver got when the worker died.
        const inFlight = kills.some((k) => first === k.postsSoFar - 1 || first === k.postsSoFar);
        assert.ok(inFlight, `${id} was sent again though no worker died while it was in flight (kills: ${JSON.stringify(kills)})`);
        assert.deepEqual(received[first + 1]!.data.update, received[first]!.data.update, `${id}: the copy is the same post`);
      }
      assert.ok(ids.length - collapsed.length <= kills.length, "at most one post sent again per kill");
      assert.deepEqual(collapsed.map((id) => received.find((p) => p.id === id)!.type), ["incident.opened", ...entries.slice(1, -1).map(() => "incident.updated"), "incident.resolved"]);
      assert.deepEqual((await api("/notifications/dead")).dead, [], "nothing was dead-lettered");
      assert.equal(kills.length, 3);
      t.diagnostic(`kills: ${kills.map((k) => `${k.when} at ${((k.at - startedAt) / 1000).toFixed(1)} s with ${k.postsSoFar} posts delivered`).join("; ")}; resolved at ${((Date.parse(resolved.resolved_at!) - startedAt) / 1000).toFixed(1)} s`);
      assert.ok(alive(service.pid!), "pulseboard start survived its worker's deaths");
    } catch (err) {
      t.diagnostic(`kills: ${JSON.stringify(kills)}`);
      const told = output.filter((line) => !line.includes('"role":"agent:'));
      t.diagnostic(`service output, agents left out (last 80 lines):\n${told.slice(-80).join("\n")}`);
      throw err;
    }
  });
});
