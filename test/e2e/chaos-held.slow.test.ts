import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { formatSummary, type ChaosSummary } from "../../src/chaos/index.ts";
import { recoveryConfig, runChaos, startService, type Service } from "../helpers/service.ts";

const ADMIN_TOKEN = "chaos-held-e2e-admin-token-0123456789";
const PLAYBOOK = "restart-stuck-gateway-node";
/** The restart playbook's cooldown here: long enough for the next two chaos runs to start inside it. */
const COOLDOWN_S = 50;
/** A probe of the gateway the verify does not run, on a slow schedule: what kept the page at major outage after a proven repair. */
const RESUME_INTERVAL_S = 15;
const RESUME_RECOVER_AFTER = 2;

/**
 * recoveryConfig with the restart playbook on a 50 s cooldown, a quiet
 * period long enough for the incident to be in monitoring (not resolved)
 * when the next fault comes, and a resume probe every 15 s that needs 2
 * good results to recover, feeding the Realtime gateway.
 */
function heldConfig(port: number): string {
  const base = recoveryConfig({ port, nodeLimit: 40 });
  const guards = "guards: { cooldown: 1s, max_runs: 20, per: 1h }";
  const config = base
    .replace("quiet_period: 3s", "quiet_period: 5m")
    .replace(guards, `guards: { cooldown: ${COOLDOWN_S}s, max_runs: 20, per: 1h }`)
    .replace(
      "  - { id: chat-echo,",
      `  - { id: gateway-resume, kind: resume, interval: ${RESUME_INTERVAL_S}s, timeout: 3s, fail_after: 1, recover_after: ${RESUME_RECOVER_AFTER}, components: [realtime-gateway], with: { messages: 3 } }\n  - { id: chat-echo,`,
    );
  assert.ok(config.includes(`cooldown: ${COOLDOWN_S}s`) && config.includes("gateway-resume") && config.includes("quiet_period: 5m"), "the config was adapted");
  return config;
}

interface RunView {
  id: string;
  playbook: string;
  kind: string;
  state: string;
  created_at: string;
  ended_at?: string;
  steps: { action: string; state: string; ended_at?: string }[];
}

/**
 * Issue 15: `pulseboard chaos safeguard-lockup` within the restart
 * playbook's cooldown, on the whole service (GATEWAY_FAULTS=1, 1 s probes).
 * The summary says which guard held the run back and until when, counts
 * the incident that relapsed, credits a repair only to a run that made it
 * (else "recovered without a playbook"), and the Realtime gateway follows
 * its probes back to operational within seconds of a passing verify.
 */
describe("pulseboard chaos within a playbook's cooldown (slow: whole service from the CLI)", { timeout: 400_000 }, () => {
  let service: Service;

  before(async () => {
    service = await startService({ config: heldConfig, adminToken: ADMIN_TOKEN });
  });

  after(async () => {
    await service?.stop();
  });

  const adminGet = async <T>(p: string): Promise<T> => (await (await fetch(`http://127.0.0.1:${service.port}/admin/api${p}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as T;

  const chaos = async (...args: string[]): Promise<ChaosSummary> => (await runChaos(service.env, ...args)).summary;

  /** Seconds from the run's verify step passing to the last time the page showed the Realtime gateway turning operational. */
  const lagAfterVerify = (summary: ChaosSummary, run: RunView): number => {
    const verified = Date.parse(run.steps.find((s) => s.action === "verify" && s.state === "succeeded")!.ended_at!);
    const faultAt = Date.parse(summary.fault_started_at);
    const back = summary.timeline.filter((c) => c.component === "Realtime gateway" && c.to === "operational" && faultAt + c.at_s * 1000 >= verified - 500).at(0);
    assert.ok(back, `the Realtime gateway turned operational after the verify: ${JSON.stringify(summary.timeline)}`);
    return (faultAt + back.at_s * 1000 - verified) / 1000;
  };

  it("says which guard held the run back and until when, counts the relapse, and the status follows the probes after the verify", async (t) => {
    // A: the playbook repairs the lock-up; its cooldown starts when the run ends. (Short: should the page miss a repair that quick, the fault still ends well inside the cooldown.)
    const first = await chaos("safeguard-lockup", "--node", "node-0", "--duration", "10s");
    t.diagnostic(`A: detected ${first.detected_s} s, recovered ${first.recovered_s} s, fault ${first.fault_s} s, by ${first.recovered_by.join(", ")}`);
    assert.deepEqual(first.recovered_by, [PLAYBOOK]);
    assert.equal(first.recovered_without_playbook, false);
    assert.equal(first.incidents.length, 1);
    assert.equal(first.incidents[0]!.event, "opened");
    const incident = first.incidents[0]!.id;
    const [runA] = (await adminGet<{ runs: RunView[] }>(`/playbooks/runs?playbook=${PLAYBOOK}&limit=1`)).runs;
    assert.equal(runA!.state, "succeeded");
    const cooldownEnds = Date.parse(runA!.ended_at!) + COOLDOWN_S * 1000;

    // B: the same fault inside the cooldown, long enough to outlast it: held back first, then repaired once the cooldown ends.
    const second = await chaos("safeguard-lockup", "--node", "node-0", "--duration", "120s");
    t.diagnostic(`B: detected ${second.detected_s} s, recovered ${second.recovered_s} s, fault ${second.fault_s} s; held ${JSON.stringify(second.held_runs)}; incidents ${JSON.stringify(second.incidents)}`);
    const held = second.held_runs.filter((h) => h.playbook === PLAYBOOK);
    if (held.length !== 1) {
      // What the trigger saw: the safeguard probe's results and the runs, in time order, to tell a second episode from a repeat.
      const { results } = await adminGet<{ results: { status: string; started_at: string; finished_at: string; error?: string; trigger?: string }[] }>(`/probes/gateway-safeguard/results?limit=40`);
      const { runs } = await adminGet<{ runs: RunView[] }>(`/playbooks/runs?playbook=${PLAYBOOK}&limit=3`);
      t.diagnostic(`safeguard results: ${results.map((r) => `${r.started_at.slice(11, 23)}→${r.finished_at.slice(11, 23)} ${r.status}${r.trigger ? ` (${r.trigger})` : ""}${r.error ? `: ${r.error.slice(0, 120)}` : ""}`).join(" | ")}`);
      t.diagnostic(`runs: ${runs.map((r) => JSON.stringify(r)).join(" | ")}`);
    }
    assert.equal(held.length, 1, "one record for the hold, not one per evaluation");
    assert.equal(held[0]!.guard, "cooldown");
    assert.equal(held[0]!.kind, "recovery");
    assert.ok(held[0]!.until !== null && Math.abs(Date.parse(held[0]!.until) - cooldownEnds) < 1_000, `held until the cooldown ends (${new Date(cooldownEnds).toISOString()}): ${held[0]!.until}`);
    assert.equal(held[0]!.incident, incident, "for the incident the fault reopened");
    assert.deepEqual(
      second.incidents.map((i) => [i.id, i.event]),
      [[incident, "relapsed"]],
      "the incident in monitoring since A relapsed; no new one opened",
    );
    const recoveries = second.playbook_runs.filter((r) => r.playbook === PLAYBOOK && r.kind === "recovery");
    assert.deepEqual(recoveries.map((r) => r.state), ["succeeded"]);
    const faultB = Date.parse(second.fault_started_at);
    assert.ok(faultB + recoveries[0]!.started_s * 1000 >= cooldownEnds - 1_000, "the run started once the cooldown was over");
    assert.deepEqual(second.recovered_by, [PLAYBOOK]);
    const text = formatSummary(second);
    assert.match(text, new RegExp(`held back +playbook ${PLAYBOOK} held back by its cooldown until ${new Date(held[0]!.until!).toISOString().slice(11, 19)} UTC`));
    // The incident is named for whichever component's failure the pipeline took in first (the gateway, or Chat over it): A's name.
    const name = first.incidents[0]!.name;
    assert.match(name, /^Major outage of (Realtime gateway|Chat)$/);
    assert.match(text, new RegExp(`incidents +${name} \\(relapsed \\d+\\.\\d s after; opened \\d+\\.\\d s before the fault\\)`));
    assert.doesNotMatch(text, /none opened/);

    // The status follows the probes: the slow resume probe the verify did not run no longer keeps the page at major outage.
    const [runB] = (await adminGet<{ runs: RunView[] }>(`/playbooks/runs?playbook=${PLAYBOOK}&limit=1`)).runs;
    const lag = lagAfterVerify(second, runB!);
    // recover_after (2) good results of the probes, at the verify's probes' interval (1 s), and a margin for a busy machine.
    const bound = RESUME_RECOVER_AFTER * 1 + 8;
    t.diagnostic(`B: the Realtime gateway was operational ${lag.toFixed(1)} s after the verify passed (bound ${bound} s; the resume probe alone would take ${RESUME_RECOVER_AFTER} × ${RESUME_INTERVAL_S} s)`);
    assert.ok(lag <= bound, `operational ${lag.toFixed(1)} s after the verify passed, at most ${bound} s`);

    // C: inside the new cooldown again, a fault that ends by itself: recovered without a playbook, and says so.
    const third = await chaos("safeguard-lockup", "--node", "node-0", "--duration", "12s");
    t.diagnostic(`C: detected ${third.detected_s} s, recovered ${third.recovered_s} s, fault ${third.fault_s} s; runs ${JSON.stringify(third.playbook_runs)}; held ${JSON.stringify(third.held_runs)}`);
    assert.ok(third.detected_s !== null && third.recovered_s !== null, "it broke and came back");
    assert.ok(third.fault_s >= 11.5, "the fault lasted its whole duration: nothing repaired it");
    assert.deepEqual(third.playbook_runs.filter((r) => r.kind === "recovery"), [], "no recovery run during C (and none of A's or B's listed)");
    assert.deepEqual(third.recovered_by, []);
    assert.equal(third.recovered_without_playbook, true);
    assert.deepEqual(third.held_runs.map((h) => [h.playbook, h.guard, h.incident]), [[PLAYBOOK, "cooldown", incident]]);
    assert.deepEqual(third.incidents.map((i) => i.event), ["relapsed"]);
    const textC = formatSummary(third);
    assert.match(textC, /recovered +\d+\.\d s after the fault began; recovered without a playbook, once the fault ended/);
    assert.doesNotMatch(textC, /Every step succeeded/);
    assert.match(textC, /playbook runs +none/);
  });
});
