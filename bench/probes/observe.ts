/**
 * What the benchmark learns about the agent without asking it anything:
 * BullMQ writes a `completed` event to the probe queue's event stream for
 * every job the agent finishes, with the job's return value (status,
 * latency and `late_ms`, how long after its scheduled slot the run started)
 * and a stream id that is Redis's clock at completion. Reading that stream
 * costs the agent nothing.
 */
import type { RedisConnection as Redis } from "../../src/core/index.ts";
import { cpuSeconds, machineCpuSeconds } from "../gateway/servers.ts";

/** One probe job the agent finished. */
export interface Run {
  /** Completion time (epoch ms, Redis's clock). */
  at: number;
  /** The run started this long after its slot. */
  lateMs?: number;
  /** How long the probe itself took. */
  latencyMs?: number;
  status?: string;
  /** Why the agent did not run it ("stale": it waited over two intervals). */
  skipped?: string;
  /** The job failed (the processor threw, e.g. the evaluate queue was unreachable). */
  failed?: boolean;
}

/** Follows a queue's event stream from now on and keeps the finished jobs. */
export class RunLog {
  private runs: Run[] = [];
  private stopped = false;
  private readonly done: Promise<void>;
  /** Entries the stream had trimmed before they were read (MAXLEN): if not 0, counts are low. */
  gaps = 0;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {
    this.done = this.follow();
  }

  /** Finished jobs with `from <= at < to`. */
  between(from: number, to: number): Run[] {
    return this.runs.filter((r) => r.at >= from && r.at < to);
  }

  /** Forgets what was read so far (between steps). */
  clear(): void {
    this.runs = [];
  }

  /** Stops reading; the connection is the caller's to close. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  private async follow(): Promise<void> {
    try {
      await this.read();
    } catch (err) {
      if (!this.stopped) throw err;
    }
  }

  private async read(): Promise<void> {
    let cursor = "$";
    while (!this.stopped) {
      if (cursor !== "$") {
        // The oldest entry is newer than the last one read: what came between was trimmed unread.
        const [first] = (await this.redis.xrange(this.key, "-", "+", "COUNT", 1)) as [string, string[]][];
        if (first && compareIds(first[0], cursor) > 0) this.gaps++;
      }
      const reply = (await this.redis.xread("COUNT", 20_000, "BLOCK", 200, "STREAMS", this.key, cursor)) as [string, [string, string[]][]][] | null;
      for (const [id, fields] of reply?.[0]?.[1] ?? []) {
        cursor = id;
        this.take(Number(id.slice(0, id.indexOf("-"))), fields);
      }
    }
  }

  private take(at: number, fields: string[]): void {
    const event = field(fields, "event");
    if (event === "failed") {
      this.runs.push({ at, failed: true });
      return;
    }
    if (event !== "completed") return;
    const value = parse(field(fields, "returnvalue"));
    this.runs.push({
      at,
      lateMs: typeof value.late_ms === "number" ? value.late_ms : undefined,
      latencyMs: typeof value.latency_ms === "number" ? value.latency_ms : undefined,
      status: typeof value.status === "string" ? value.status : undefined,
      skipped: typeof value.skipped === "string" ? value.skipped : undefined,
    });
  }
}

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function parse(text: string | undefined): Record<string, unknown> {
  try {
    const value = JSON.parse(text ?? "null") as unknown;
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function compareIds(a: string, b: string): number {
  const [am, as] = a.split("-").map(Number) as [number, number];
  const [bm, bs] = b.split("-").map(Number) as [number, number];
  return am - bm || as - bs;
}

/** CPU seconds used by groups of processes and by the whole machine, to diff over a window. */
export function cpuSnapshot(groups: Record<string, number[]>): Record<string, number> {
  const out: Record<string, number> = { machine: machineCpuSeconds() };
  for (const [name, pids] of Object.entries(groups)) out[name] = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  return out;
}

/** The value at quantile `q` (0..1) of `values`, nearest rank; NaN when empty. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
