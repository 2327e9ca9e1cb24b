import type { Config } from "../config/index.ts";
import { describeError, sleep } from "../core/index.ts";
import type { ProbeRunner, ProbeSample } from "../playbooks/index.ts";
import type { ProbeResult } from "../probe-runtime/index.ts";
import type { StatusContext } from "../status/index.ts";
import type { ProbeControl } from "./probe-control.ts";

/** How often verify looks for a fresh scheduled result while its run-now is under way. */
const POLL_MS = 500;

/**
 * How verify runs probes: at each location of the probe, a run-now through
 * that location's agent (the same queue and code a scheduled run takes),
 * raced against the location's latest result, which counts when it started
 * after `sinceMs`. Whichever comes first answers; with no agent, the
 * scheduled results alone decide.
 */
export function agentProbes(control: ProbeControl, status: StatusContext, config: () => Config): ProbeRunner {
  return {
    name: (id) => config().probes.find((p) => p.id === id)?.name,
    async run(id, sinceMs, signal) {
      const probe = config().probes.find((p) => p.id === id);
      if (!probe) throw new Error(`no probe has the id "${id}"`);
      return Promise.all(
        probe.locations.map(async (location): Promise<ProbeSample> => {
          const done = new AbortController();
          const both = AbortSignal.any([signal, done.signal]);
          const fresh = freshResult(status, probe.id, location, sinceMs, both);
          // A heartbeat's next ping, a remote agent's next push: nothing here can run them sooner.
          const pushed = probe.kind === "heartbeat" || config().locations.some((l) => l.id === location && l.remote);
          const runNow = pushed
            ? new Promise<undefined>((resolve) => both.addEventListener("abort", () => resolve(undefined), { once: true }))
            : control.runNow(probe, location).then(sample, (err: unknown) => {
                if (both.aborted) return undefined;
                throw err;
              });
          try {
            const first = await Promise.race([runNow, fresh.then((r) => r ?? runNow)]);
            if (first) return first;
            throw signal.reason ?? new Error("aborted");
          } catch (err) {
            if (signal.aborted) throw err;
            return { location, status: "failed", latency_ms: 0, error: describeError(err), started_at: new Date().toISOString() };
          } finally {
            done.abort();
          }
        }),
      );
    },
  };
}

async function freshResult(status: StatusContext, probe: string, location: string, sinceMs: number, signal: AbortSignal): Promise<ProbeSample | undefined> {
  while (!signal.aborted) {
    const last = (await status.store.lastResults(probe, [location]).catch(() => new Map<string, ProbeResult>())).get(location);
    if (last && Date.parse(last.started_at) >= sinceMs) return sample(last);
    await sleep(POLL_MS);
  }
  return undefined;
}

function sample(result: ProbeResult): ProbeSample {
  return { location: result.location, status: result.status, latency_ms: result.latency_ms, error: result.error, started_at: result.started_at };
}
