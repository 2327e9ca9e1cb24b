import { describeError, newId, scrub, scrubDeep, secretsIn, type Logger } from "../core/index.ts";
import { ProbeFailure, type PlatformTargets, type Probe, type ProbeResult } from "./types.ts";

export interface RunOptions {
  probe: string;
  location: string;
  timeoutMs: number;
  /** Latency above this turns an ok result into degraded. */
  degradedOverMs?: number;
  targets: PlatformTargets;
  log: Logger;
}

/**
 * Runs one probe under a hard deadline and always returns a result: an
 * exception or the deadline becomes a `failed` result naming the phase.
 * The deadline aborts the run's signal so the kind closes its sockets.
 * Results are shown (admin API, logs, incident reasons), so the secrets of
 * the probe's settings and of the platform's targets (passwords, tokens,
 * auth headers, URL passwords and query values) are scrubbed from their
 * error and details, whatever a kind put there.
 */
export async function runProbe(kind: Probe, settings: unknown, options: RunOptions): Promise<ProbeResult> {
  const started = Date.now();
  const controller = new AbortController();
  const phases: Record<string, number> = {};
  let currentPhase: string | undefined;
  let failedPhase: string | undefined;

  const ctx = {
    probe: options.probe,
    location: options.location,
    signal: controller.signal,
    timeoutMs: options.timeoutMs,
    log: options.log,
    targets: options.targets,
    async phase<T>(name: string, work: () => Promise<T>): Promise<T> {
      const phaseStart = performance.now();
      currentPhase = name;
      try {
        return await work();
      } catch (err) {
        failedPhase ??= name;
        throw err;
      } finally {
        phases[name] = round(performance.now() - phaseStart);
        if (currentPhase === name) currentPhase = undefined;
      }
    },
  };

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const phase = currentPhase;
      failedPhase ??= phase;
      const where = phase ? ` during ${phase}` : "";
      reject(new DeadlineError(`timed out after ${options.timeoutMs} ms${where}`));
      controller.abort(new Error("probe deadline"));
    }, options.timeoutMs);
  });

  const base = { id: newId(16), probe: options.probe, kind: kind.kind, location: options.location, started_at: new Date(started).toISOString() };
  const secrets = [...secretsOf(settings), ...secretsOf(options.targets)];
  const shown = (result: ProbeResult): ProbeResult => (secrets.length === 0 ? result : { ...result, error: result.error === undefined ? undefined : scrub(result.error, secrets), details: scrubDeep(result.details, secrets) });
  try {
    const report = await Promise.race([kind.run(settings, ctx), deadline]);
    const latency = round(report.latencyMs ?? Date.now() - started);
    const slow = report.status === "ok" && options.degradedOverMs !== undefined && latency > options.degradedOverMs;
    return shown({
      ...base,
      status: slow ? "degraded" : report.status,
      latency_ms: latency,
      phases,
      error: slow ? `latency ${latency} ms is over the ${options.degradedOverMs} ms threshold` : report.error,
      details: report.details,
      finished_at: new Date().toISOString(),
    });
  } catch (err) {
    return shown({
      ...base,
      status: "failed",
      latency_ms: Date.now() - started,
      phases,
      failed_phase: failedPhase,
      error: failedPhase && !(err instanceof DeadlineError) ? `${failedPhase}: ${describeError(err)}` : describeError(err),
      details: err instanceof ProbeFailure ? err.details : undefined,
      finished_at: new Date().toISOString(),
    });
  } finally {
    clearTimeout(timer);
    controller.abort(new Error("probe finished"));
  }
}

/** The secrets of a settings object, found once per object (a probe's settings live as long as its config). */
const secretsFound = new WeakMap<object, string[]>();
function secretsOf(settings: unknown): string[] {
  if (!settings || typeof settings !== "object") return secretsIn(settings);
  let found = secretsFound.get(settings);
  if (!found) secretsFound.set(settings, (found = secretsIn(settings)));
  return found;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

class DeadlineError extends Error {}
