import { z } from "zod";
import { durationSchema } from "../config/index.ts";
import { FleetValidationError } from "./errors.ts";

/** An http(s) URL setting. */
export const httpUrl = z.string({ error: "expected an HTTP URL like https://ops.example.com/hooks/restart" }).regex(/^https?:\/\/[^\s]+$/, {
  error: "expected an HTTP URL like https://ops.example.com/hooks/restart",
});

/** A bearer token setting (the gateway admin API's tokens are at least 16 characters). */
export const tokenSetting = z.string().min(16, { error: "must be at least 16 characters" });

/** A duration setting written like "10s"; parses to milliseconds. */
export function durationSetting(fallbackMs: number) {
  return durationSchema("10s").default(fallbackMs);
}

/**
 * Bounds every driver puts on `scale`, so a runaway playbook can neither
 * take the broker to zero nor past what the platform was sized for.
 */
export const replicaLimits = {
  /** Fewest nodes a scale step may leave. @defaultValue 1 */
  min_replicas: z.number().int().min(1).max(1_000).default(1),
  /** Most nodes a scale step may ask for. @defaultValue 16 */
  max_replicas: z.number().int().min(1).max(1_000).default(16),
};

/** Checks min_replicas ≤ max_replicas; add with `.superRefine(checkReplicaLimits)`. */
export function checkReplicaLimits(value: { min_replicas: number; max_replicas: number }, ctx: z.RefinementCtx): void {
  if (value.min_replicas > value.max_replicas) {
    ctx.addIssue({ code: "custom", path: ["max_replicas"], message: `must be at least min_replicas (${value.min_replicas})` });
  }
}

/** Throws a FleetValidationError unless `replicas` is a whole number within the configured bounds. */
export function checkReplicas(replicas: number, limits: { min_replicas: number; max_replicas: number }): void {
  if (!Number.isInteger(replicas) || replicas < limits.min_replicas || replicas > limits.max_replicas) {
    throw new FleetValidationError(
      `cannot scale to ${replicas} nodes: replicas must be a whole number from ${limits.min_replicas} to ${limits.max_replicas} (fleet.min_replicas, fleet.max_replicas)`,
    );
  }
}

/** "1 node", "3 nodes". */
export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** Milliseconds as a person reads them in a timeline: "850 ms", "4.2 s". */
export function took(ms: number): string {
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

/** Appended to every dry-run summary, so a timeline reader never mistakes it for an action. */
export const NOTHING_CHANGED = "Nothing was changed (dry run).";
