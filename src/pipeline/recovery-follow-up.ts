import type { Config, ResolvedProbe } from "../config/index.ts";
import { describeError, sleep, type Logger } from "../core/index.ts";
import type { PlaybookRun, ProbeRunner, ProbeSample } from "../playbooks/index.ts";
import type { StatusContext } from "../status/index.ts";

/** How long a follow-up waits for the evaluator to take in a result before it runs the probe again. */
const EVALUATED_WITHIN_MS = 5_000;
const POLL_MS = 100;

/** What the follow-up did for one probe (for logs and tests). */
export interface FollowedProbe {
  probe: string;
  /** Runs it made. */
  runs: number;
  /** Every location of the probe is up again. */
  up: boolean;
}

export interface FollowUpOptions {
  run: PlaybookRun;
  config: Config;
  status: StatusContext;
  probes: ProbeRunner;
  log: Logger;
  signal: AbortSignal;
}

/**
 * After a run that succeeded (its verify passed): the probes feeding the
 * playbook's components that are not up at every location yet are run again
 * at once, one run after the other as soon as the evaluator has taken in the
 * last, until each location has the `recover_after` good results in a row
 * its hysteresis asks for, or a run fails (the probe's schedule carries on).
 *
 * Without it a component fed by probes the verify did not run waits for their
 * schedule: a 30 s probe that needs 2 good results kept "Realtime gateway" at
 * major outage for up to a minute after the repair was proven. The hysteresis
 * is unchanged: it still takes `recover_after` consecutive good results, it
 * only no longer waits an interval between them once a repair worked.
 */
export async function followUpRecovery(options: FollowUpOptions): Promise<FollowedProbe[]> {
  const { run, config, signal } = options;
  if (run.state !== "succeeded" || run.mode === "dry-run") return [];
  const concerned = new Set(run.inputs.components);
  // A heartbeat check follows its next ping, not a run.
  const probes = config.probes.filter((p) => p.enabled && p.kind !== "heartbeat" && p.components.some((c) => concerned.has(c)));
  const followed = await Promise.all(probes.map((probe) => followProbe(options, probe)));
  const done = followed.filter((f) => f.runs > 0);
  if (done.length > 0 && !signal.aborted) options.log.info({ run: run.id, playbook: run.playbook, probes: done }, "ran the probes of the repaired components again so their status follows the repair");
  return done;
}

async function followProbe(options: FollowUpOptions, probe: ResolvedProbe): Promise<FollowedProbe> {
  const { status, signal } = options;
  let runs = 0;
  // One more than the hysteresis needs: a location may have been on its way up already, or down on a streak of its own.
  while (runs <= probe.recover_after && !signal.aborted) {
    if (await allUp(status, probe)) return { probe: probe.id, runs, up: true };
    let samples: ProbeSample[];
    try {
      samples = await options.probes.run(probe.id, Date.now(), AbortSignal.any([signal, AbortSignal.timeout(probe.timeout + 15_000)]));
    } catch (err) {
      if (!signal.aborted) options.log.debug({ probe: probe.id, err: describeError(err) }, "follow-up run of a probe failed");
      break;
    }
    runs++;
    await evaluated(status, probe, samples, signal);
    if (samples.every((s) => s.status === "failed")) break;
  }
  return { probe: probe.id, runs, up: await allUp(status, probe).catch(() => false) };
}

async function allUp(status: StatusContext, probe: ResolvedProbe): Promise<boolean> {
  const states = await status.store.probeStates(probe.id);
  return probe.locations.every((l) => (states.get(l)?.state ?? "up") === "up");
}

/** Waits until the evaluator recorded a result at least as new as each sample (bounded: a lost result only costs time). */
async function evaluated(status: StatusContext, probe: ResolvedProbe, samples: ProbeSample[], signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + EVALUATED_WITHIN_MS;
  while (!signal.aborted && Date.now() < deadline) {
    const states = await status.store.probeStates(probe.id);
    const caughtUp = samples.every((s) => {
      const state = states.get(s.location);
      return state !== undefined && Date.parse(state.last_result_at) >= Date.parse(s.started_at);
    });
    if (caughtUp) return;
    await sleep(POLL_MS);
  }
}
