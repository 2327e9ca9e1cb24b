import { z } from "zod";
import { formatDuration, optionalDuration, sleep, took } from "./common.ts";
import { defineStep, type ProbeSample } from "./types.ts";

const configSchema = z.strictObject({
  /** Probes that must pass, at every location they run from. */
  probes: z.array(z.string().min(1)).min(1, { error: "name at least one probe" }),
  /** How long they have to pass. @defaultValue 30s */
  within: optionalDuration(30_000),
  /** A degraded result (working, but slowly) counts as passing. @defaultValue true */
  allow_degraded: z.boolean().default(true),
});

type Seen = Map<string, ProbeSample[]>;

/**
 * Proves the steps before worked: runs the named probes now (again and again
 * until they pass or `within` is over) and passes when every one of them
 * passed at every location, in a run that started after this step did.
 */
export default defineStep({
  action: "verify",
  description: "run named probes until they pass, within a time",
  configSchema,
  resume: "repeat",
  timeoutMs: (s) => s.within + 20_000,
  describe: (s) => `verify ${s.probes.join(", ")} within ${formatDuration(s.within)}`,
  references: (s) => s.probes.map((id, i) => ({ path: ["probes", i], kind: "probe" as const, id })),
  async run(s, ctx) {
    const names = (id: string) => ctx.probes.name(id) ?? id;
    if (ctx.dryRun) return { ok: true, summary: `Would verify ${s.probes.map(names).join(", ")} within ${formatDuration(s.within)}. Nothing was changed (dry run).` };
    const started = Date.now();
    const deadline = started + s.within;
    const passes = (samples: ProbeSample[]) => samples.length > 0 && samples.every((r) => r.status === "ok" || (s.allow_degraded && r.status === "degraded"));
    const seen: Seen = new Map();
    const passed = new Set<string>();
    let rounds = 0;
    while (passed.size < s.probes.length && Date.now() < deadline) {
      rounds++;
      const round = AbortSignal.any([ctx.signal, AbortSignal.timeout(Math.max(1_000, deadline - Date.now()))]);
      await Promise.all(
        s.probes
          .filter((p) => !passed.has(p))
          .map(async (probe) => {
            try {
              const samples = await ctx.probes.run(probe, started, round);
              seen.set(probe, samples);
              if (passes(samples)) passed.add(probe);
            } catch (err) {
              if (ctx.signal.aborted) throw err;
              seen.set(probe, [{ location: "-", status: "failed", latency_ms: 0, error: (err as Error).message, started_at: new Date().toISOString() }]);
            }
          }),
      );
      if (passed.size < s.probes.length) await sleep(Math.min(1_000, Math.max(0, deadline - Date.now())), ctx.signal);
    }
    const elapsed = took(Date.now() - started);
    const report = s.probes.map((p) => `${names(p)} ${passed.has(p) ? "passed" : "failed"} (${describe(seen.get(p))})`).join("; ");
    const details = { passed: [...passed], failed: s.probes.filter((p) => !passed.has(p)), rounds, seen: Object.fromEntries(seen) };
    if (passed.size === s.probes.length) return { ok: true, summary: `Verified in ${elapsed}: ${report}.`, details };
    return { ok: false, summary: `Verification failed after ${elapsed} (${rounds} ${rounds === 1 ? "try" : "tries"}): ${report}.`, details };
  },
});

function describe(samples: ProbeSample[] | undefined): string {
  if (!samples || samples.length === 0) return "no result";
  return samples.map((r) => `${r.location}: ${r.status}${r.status === "failed" ? `, ${r.error ?? "no reason"}` : `, ${Math.round(r.latency_ms)} ms`}`).join("; ");
}
