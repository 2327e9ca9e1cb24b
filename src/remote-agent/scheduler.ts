import { randomBytes } from "node:crypto";
import { describeError, type Logger } from "../core/index.ts";
import { runProbe, type PlatformTargets, type ProbeResult } from "../probe-runtime/index.ts";
import { Limiter } from "./limiter.ts";
import { phaseOf } from "../core/index.ts";
import type { PreparedConfig, PreparedProbe } from "./remote-config.ts";

/** setTimeout's longest delay; a later slot is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SchedulerOptions {
  location: string;
  log: Logger;
  /** Gets every result, with its agent-made id. */
  onResult(result: ProbeResult): void;
  /** Probe runs at once overall; more wait their turn. @defaultValue 64 */
  concurrency?: number;
}

interface Entry {
  probe: PreparedProbe;
  timer?: NodeJS.Timeout;
  /** The slot the timer waits for, in epoch ms. */
  slot: number;
}

/**
 * Runs each probe every interval on its own timer, at the probe's phase in
 * the interval (the same phase a Redis agent's schedule has), so a config's
 * probes spread over the interval and keep their place across restarts. A
 * run still going when its next slot comes makes that slot skipped: at most
 * one run of a probe at a time.
 */
export class ProbeScheduler {
  /** Slots not run because the probe's previous run was still going. */
  skipped = 0;
  private readonly entries = new Map<string, Entry>();
  private readonly busy = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private readonly limiter: Limiter;
  private readonly log: Logger;
  private targets: PlatformTargets = { gatewayUrl: "", gatewayNodeUrls: [] };
  private stopped = false;

  constructor(private readonly options: SchedulerOptions) {
    this.limiter = new Limiter(options.concurrency ?? 64);
    this.log = options.log;
  }

  /** Runs this probe set from now on: a probe that did not change keeps its timer; removed probes stop. */
  update(config: PreparedConfig): void {
    this.targets = config.targets;
    const next = new Map(config.probes.map((p) => [p.id, p]));
    for (const [id, entry] of this.entries) {
      if (next.get(id)?.fingerprint === entry.probe.fingerprint) continue;
      clearTimeout(entry.timer);
      this.entries.delete(id);
    }
    for (const probe of config.probes) {
      if (this.entries.has(probe.id)) continue;
      const entry: Entry = { probe, slot: nextSlot(probe, Date.now()) };
      this.entries.set(probe.id, entry);
      if (!this.stopped) this.arm(entry);
    }
  }

  /** The probes scheduled now. */
  probes(): string[] {
    return [...this.entries.keys()];
  }

  /** No new runs; runs going on finish and still report. */
  stop(): void {
    this.stopped = true;
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
  }

  /** Settles when the runs going on now have reported (each ends by its probe's timeout). */
  async idle(): Promise<void> {
    await Promise.all([...this.running]);
  }

  private arm(entry: Entry): void {
    entry.timer = setTimeout(() => this.due(entry), Math.min(MAX_TIMER_MS, Math.max(0, entry.slot - Date.now())));
  }

  private due(entry: Entry): void {
    if (this.stopped || this.entries.get(entry.probe.id) !== entry) return;
    if (Date.now() < entry.slot) return this.arm(entry);
    const { probe } = entry;
    if (this.busy.has(probe.id)) {
      this.skipped++;
      this.log.debug({ probe: probe.id }, "the probe's previous run is still going; skipping this slot");
    } else {
      this.busy.add(probe.id);
      const run = this.limiter
        .run(() => this.runOne(probe))
        .then((result) => this.deliver(result))
        .catch((err: unknown) => this.log.error({ probe: probe.id, err: describeError(err) }, "a probe run failed outside the probe runtime"))
        .finally(() => {
          this.busy.delete(probe.id);
          this.running.delete(run);
        });
      this.running.add(run);
    }
    entry.slot = nextSlot(probe, Math.max(Date.now(), entry.slot));
    this.arm(entry);
  }

  private async runOne(probe: PreparedProbe): Promise<ProbeResult> {
    const { location } = this.options;
    const result = await runProbe(probe.kind, probe.settings, {
      probe: probe.id,
      location,
      timeoutMs: probe.timeoutMs,
      degradedOverMs: probe.degradedOverMs,
      targets: this.targets,
      log: this.log.child({ module: `probe.${probe.kind.kind}`, probe: probe.id }),
    });
    const line = { probe: probe.id, status: result.status, latency_ms: result.latency_ms, error: result.error };
    if (result.status === "ok") this.log.debug(line, "probe result");
    else this.log.info(line, "probe result");
    return { ...result, id: resultId(location, probe.id, result.started_at), location };
  }

  private deliver(result: ProbeResult): void {
    // A probe removed from the config while it ran: the server would refuse its result.
    if (!this.entries.has(result.probe)) return;
    this.options.onResult(result);
  }
}

/** The first slot of `probe` after `after` (epoch ms): phase + k × interval. */
function nextSlot(probe: PreparedProbe, after: number): number {
  const phase = phaseOf(probe.id, probe.intervalMs);
  return phase + (Math.floor((after - phase) / probe.intervalMs) + 1) * probe.intervalMs;
}

/** `${location}.${probe}.${started ms}.${4 hex}`: unique, and a retried push names the same result again. */
function resultId(location: string, probe: string, startedAt: string): string {
  return `${location}.${probe}.${Date.parse(startedAt)}.${randomBytes(2).toString("hex")}`;
}
