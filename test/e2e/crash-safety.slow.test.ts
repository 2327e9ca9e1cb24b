import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Incident } from "../../src/status/index.ts";
import { fuzzSeed, Rng } from "../helpers/fuzz.ts";
import { alive, commandLine, descendants } from "../helpers/processes.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { recoveryConfig, startService, type Service } from "../helpers/service.ts";
import { waitFor } from "../helpers/wait.ts";

const ADMIN_TOKEN = "crash-safety-admin-token-0123456789";

/**
 * The roles killed, each at least once, in a seeded order: every process `start` runs, and a gateway node.
 * `core` is the worker, the scheduler and the agent in one process, killed twice as the worker was.
 */
const ROLES = ["web", "core", "gateway node", "core"] as const;

interface Run {
  id: string;
  playbook: string;
  kind: string;
  state: string;
  incident?: string;
  steps: { action: string; state: string; attempts: number; resumed?: string }[];
  executions: { worker: string }[];
}

/**
 * Crash safety of the whole service: while a frozen gateway node is being
 * repaired by its playbook, every role is SIGKILLed at seeded moments (the
 * supervisor restarts each), while an on-call engineer keeps posting notes
 * to a hand-made incident through the admin API (each with an
 * Idempotency-Key, sent again until answered, as a careful client does).
 * After recovery, no timeline entry, on-call post, admin audit record or
 * playbook record is lost or doubled, beyond the webhook's documented
 * at-least-once (a post in flight at a worker's death may come twice, with
 * the same webhook-id).
 */
describe("SIGKILL of every role during an incident with a playbook running (slow: whole service from the CLI)", { timeout: 300_000 }, () => {
  let service: Service;
  let hook: HttpReceiver;
  const seen = new Set<number>();

  before(async () => {
    hook = await HttpReceiver.start({ status: 204, body: "" });
    service = await startService({ config: (port) => recoveryConfig({ port, nodeLimit: 100, hookUrl: hook.url("/oncall") }), adminToken: ADMIN_TOKEN });
  });
  after(async () => {
    for (const pid of new Set([...seen, ...descendants(service.pid)])) {
      try {
        if (alive(pid)) process.kill(pid, "SIGCONT");
      } catch {
        // gone
      }
    }
    await service?.stop();
    await hook?.stop();
  });

  const api = async (pathname: string): Promise<any> => {
    const res = await fetch(`http://127.0.0.1:${service.port}/admin/api${pathname}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    if (!res.ok) throw new Error(`GET ${pathname}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const fleet = async (method: string, pathname: string, body?: unknown): Promise<any> => {
    const token = readFileSync(path.join(service.home, "gateway-admin-token"), "utf8").trim();
    const res = await fetch(`http://127.0.0.1:${service.adminPort}${pathname}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} ${pathname}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  /** The pid running `role` now. */
  const pidOf = async (role: (typeof ROLES)[number]): Promise<number | undefined> => {
    const tree = descendants(service.pid);
    for (const pid of tree) seen.add(pid);
    // node-0, not the frozen node-1: killing that one would repair it, not the playbook.
    if (role === "gateway node") return ((await fleet("GET", "/nodes")) as { nodes: { id: string; pid: number | null }[] }).nodes.find((n) => n.id === "node-0")?.pid ?? undefined;
    return tree.find((pid) => commandLine(pid).endsWith(` ${role}`));
  };

  /** An admin write, sent again until it is answered (a refused connection while web restarts, a 5xx); what each try got. */
  const adminWrite = async (pathname: string, key: string, body: object): Promise<{ incident: Incident; tries: string[] }> => {
    const tries: string[] = [];
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${service.port}/admin/api${pathname}`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      }).catch((err: Error) => err);
      tries.push(res instanceof Error ? `error: ${(res.cause as Error | undefined)?.message ?? res.message}` : String(res.status));
      if (!(res instanceof Error) && res.ok) return { incident: ((await res.json()) as { incident: Incident }).incident, tries };
      if (!(res instanceof Error) && res.status < 500) throw new Error(`POST ${pathname}: ${res.status} ${await res.text()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  it("loses and doubles nothing: timeline, on-call posts, admin audit and playbook runs come out whole", async (t) => {
    const seed = fuzzSeed();
    const rng = new Rng(seed);
    const { incident: manual } = await adminWrite("/incidents", "crash-manual", { name: "Scheduled check of the crash drill", body: "Opened by hand.", components: {} });
    const faultAt = Date.now();
    // The engineer's notes, one every 300 ms for as long as the kills go on.
    let killing = true;
    const notes: { body: string; tries: string[] }[] = [];
    const writer = (async () => {
      for (let n = 0; killing || n < 5; n++) {
        const body = `Note ${n} from the drill.`;
        notes.push({ body, tries: (await adminWrite(`/incidents/${manual.id}/updates`, `crash-note-${n}`, { body })).tries });
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    })();
    await fleet("POST", "/nodes/node-1/faults", { fault: "freeze", duration: "10m" });
    const kills: string[] = [];
    let workerKills = 0;
    for (const role of [...ROLES].sort(() => rng.next() - 0.5)) {
      await new Promise((resolve) => setTimeout(resolve, 800 + rng.int(1_700)));
      const pid = await waitFor(`a ${role} to be running`, () => pidOf(role), 30_000, 100);
      process.kill(pid, "SIGKILL");
      if (role === "core") workerKills++;
      kills.push(`${role} (pid ${pid}) at ${((Date.now() - faultAt) / 1000).toFixed(1)} s`);
    }
    t.diagnostic(`seed ${seed}; killed ${kills.join(", ")}`);
    killing = false;
    await writer;
    const resolvedManual = (await adminWrite(`/incidents/${manual.id}/resolve`, "crash-manual-resolve", { body: "Drill over." })).incident;

    try {
      await waitFor("every component operational again", () => service.allOperational(), 120_000, 250);
    } catch (err) {
      const components = (await api("/components").catch(() => ({}))) as { components?: { id: string; state?: { status: string } }[] };
      t.diagnostic(`components: ${JSON.stringify(components.components?.map((c) => [c.id, c.state?.status]))}`);
      t.diagnostic(`runs: ${JSON.stringify((await api("/playbooks/runs?limit=5").catch(() => ({}))).runs?.map((r: Run) => [r.state, r.steps.map((s) => s.state)]))}`);
      t.diagnostic(`nodes: ${JSON.stringify(await fleet("GET", "/nodes").catch(() => null))}`);
      t.diagnostic(`service output (last 60 lines, agents left out):\n${service.output.filter((l) => !l.includes('"role":"agent:')).slice(-60).join("\n")}`);
      throw err;
    }
    // A run whose worker died resumes once its target lock (15 s) has expired: wait for every run to end.
    await waitFor("every playbook run to end", async () => {
      const { runs } = (await api("/playbooks/runs?limit=20")) as { runs: Run[] };
      return runs.filter((r) => Date.parse((r as unknown as { created_at: string }).created_at) >= faultAt - 1_000).every((r) => r.state === "succeeded" || r.state === "failed");
    }, 120_000, 500);
    const incident = await waitFor("the incident to resolve", async () => {
      const { incidents } = (await api("/incidents?limit=5")) as { incidents: Incident[] };
      const mine = incidents.filter((i) => i.automatic && Date.parse(i.created_at) >= faultAt - 1_000);
      return mine.length > 0 && mine.every((i) => i.status === "resolved") ? mine : undefined;
    }, 120_000, 500);
    if (incident.length !== 1) {
      // Seen once in CI (seed 1110949911, not again locally with it): say what each incident was, to tell a relapse after resolution from two opened at once.
      for (const i of incident) t.diagnostic(`incident ${i.id} "${i.name}" ${i.created_at} → ${i.resolved_at ?? "open"}: ${i.updates.map((u) => `${u.created_at.slice(11, 23)} ${u.status}: ${u.body.slice(0, 100)}`).join(" | ")}`);
    }
    assert.equal(incident.length, 1, `one incident for the one fault (seed ${seed})`);
    const entries = incident[0]!.updates;
    t.diagnostic(`timeline: ${entries.map((u) => `${u.status}: ${u.body.slice(0, 60)}`).join(" | ")}`);
    assert.equal(new Set(entries.map((u) => u.id)).size, entries.length, "timeline entry ids are unique");
    // What on-call reads of each entry: its technical detail, where it has one.
    const said = (u: { body: string; detail?: string }) => u.detail ?? u.body;
    for (let i = 1; i < entries.length; i++) assert.notEqual(`${entries[i]!.status} ${said(entries[i]!)}`, `${entries[i - 1]!.status} ${said(entries[i - 1]!)}`, `entry ${i} repeats the one before it`);

    // The playbook's audit: every run ended, the repair succeeded, each step's entry is on the timeline once.
    const { runs } = (await api("/playbooks/runs?playbook=restart-stuck-gateway-node")) as { runs: Run[] };
    const mine = runs.filter((r) => r.incident === incident[0]!.id);
    assert.ok(mine.length >= 1, "the playbook ran for the incident");
    assert.ok(mine.every((r) => r.state === "succeeded" || r.state === "failed"), `every run ended: ${mine.map((r) => r.state)}`);
    assert.ok(mine.some((r) => r.state === "succeeded"), "the repair succeeded");
    for (const run of mine) {
      for (const [i, step] of run.steps.entries()) {
        const about = entries.filter((u) => said(u).includes(`, step ${i + 1} of ${run.steps.length}:`));
        assert.ok(step.state === "succeeded" || step.state === "failed" || step.state === "pending", `${run.id} ${step.action}: ${step.state}`);
        if (step.state !== "pending") assert.ok(about.length >= 1, `${run.id}: step ${i + 1} is on the timeline`);
      }
    }
    const stepEntries = entries.filter((u) => /Automatic recovery \(.*\), step \d of \d/.test(said(u))).map((u) => said(u).replace(/ Took .*$/, ""));
    assert.equal(new Set(stepEntries).size, stepEntries.length, `no step's entry twice: ${stepEntries.join(" | ")}`);

    // The engineer's notes: each on the hand-made incident's timeline once, in the order sent, whatever its tries met.
    const manualBodies = resolvedManual.updates.map((u) => u.body);
    assert.deepEqual(manualBodies, ["Opened by hand.", ...notes.map((n) => n.body), "Drill over."], "every note once, in order");
    const retried = notes.filter((n) => n.tries.length > 1);
    const tally = (tries: string[]): string => {
      const counts = new Map<string, number>();
      for (const r of tries.map((t) => t.replace(/ \d+\.\d+\.\d+\.\d+:\d+$/, ""))) counts.set(r, (counts.get(r) ?? 0) + 1);
      return [...counts].map(([r, n]) => `${n}× ${r}`).join(", ");
    };
    t.diagnostic(`${notes.length} notes, ${notes.reduce((sum, n) => sum + n.tries.length, 0)} requests; sent again: ${retried.map((n) => `note ${n.body.split(" ")[1]} (${tally(n.tries)})`).join("; ") || "none"}`);

    // The admin audit: every note recorded; no more records than requests that reached the web role; a record without an outcome only for a request cut off.
    const audit = ((await api("/audit?limit=1000")) as { entries: { id: string; path: string; status: number | null }[] }).entries.filter((e) => e.path === `/admin/api/incidents/${manual.id}/updates`);
    const answered = audit.filter((e) => e.status === 200);
    const reached = notes.flatMap((n) => n.tries).filter((r) => !r.startsWith("error: connect ECONNREFUSED")).length;
    assert.equal(new Set(audit.map((e) => e.id)).size, audit.length, "audit ids unique");
    assert.ok(answered.length >= notes.length, `every note has an answered audit record (${answered.length} for ${notes.length} notes)`);
    assert.ok(audit.length <= reached, `no audit record doubled: ${audit.length} records, ${reached} requests reached the web role`);
    assert.ok(audit.filter((e) => e.status === null).length <= kills.filter((k) => k.startsWith("web")).length, "a record without an outcome only where the web role was killed");

    // On-call: every entry posted, in order; a copy only right after its first, at most one per worker kill.
    const onCall = async (updates: { id: string }[], what: string) => {
      const expected = updates.map((u) => `msg_${u.id}`);
      await waitFor(`every ${what} entry at the webhook`, () => expected.every((id) => hook.requests.some((r) => r.headers["webhook-id"] === id)), 90_000, 200);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const ids = hook.requests.map((r) => String(r.headers["webhook-id"])).filter((id) => expected.includes(id));
      const collapsed = ids.filter((id, i) => id !== ids[i - 1]);
      assert.deepEqual(collapsed, expected, `each ${what} entry reached the webhook once, in timeline order`);
      return ids.length - collapsed.length;
    };
    const again = (await onCall(entries, "automatic incident's")) + (await onCall(resolvedManual.updates, "hand-made incident's"));
    assert.ok(again <= workerKills, `at most one post again per worker kill (${again} again, ${workerKills} worker kills)`);
    assert.deepEqual((await api("/notifications/dead")).dead, [], "nothing was dead-lettered");
    assert.ok(alive(service.pid), "pulseboard start survived");
    t.diagnostic(`recovered; ${entries.length} + ${resolvedManual.updates.length} timeline entries, ${hook.requests.length} posts in all, ${mine.length} playbook run(s): ${mine.map((r) => `${r.state} with ${r.executions.length} execution(s)`).join(", ")}`);
  });
});
