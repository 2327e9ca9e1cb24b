import type { PlaybookAction, PlaybookConfig } from "../config/index.ts";
import { newId } from "../core/index.ts";
import { pendingSteps, type PlaybookRun, type RunKind, type RunTrigger } from "./model.ts";
import { stepOf } from "./steps/registry.ts";

/** What a step does, in words, from its settings as written. */
export function stepLabel(action: PlaybookAction, settings: Record<string, unknown>): string {
  const step = stepOf(action);
  const parsed = step?.configSchema.safeParse(settings);
  return step && parsed?.success ? step.describe(parsed.data) : action;
}

/**
 * A new run of a playbook (not yet claimed): its steps pending, waiting for
 * approval in approve mode, else queued. Restore runs run the restore steps
 * and have no fallback.
 */
export function newRun(playbook: PlaybookConfig, kind: RunKind, trigger: RunTrigger, options: { incident?: string; now?: number } = {}): PlaybookRun {
  const now = new Date(options.now ?? Date.now());
  const steps = kind === "restore" ? (playbook.restore?.steps ?? []) : playbook.steps;
  const approve = playbook.mode === "approve";
  return {
    id: newId(),
    playbook: playbook.id,
    name: kind === "restore" ? `${playbook.name} (restore)` : playbook.name,
    kind,
    mode: playbook.mode,
    target: playbook.target,
    state: approve ? "awaiting_approval" : "queued",
    trigger,
    incident: options.incident,
    inputs: playbook,
    steps: pendingSteps(steps, "steps", stepLabel),
    fallback: kind === "restore" ? [] : pendingSteps(playbook.onFailure.steps, "fallback", stepLabel),
    approval: approve ? { requested_at: now.toISOString(), expires_at: new Date(now.getTime() + playbook.approval.timeoutMs).toISOString() } : undefined,
    executions: [],
    created_at: now.toISOString(),
    updated_at: now.toISOString(),
    revision: 1,
  };
}

/** The proposed run in words, for approval requests: "restart the failing gateway nodes, then verify …". */
export function planOf(run: PlaybookRun): string {
  return run.steps.map((s) => s.label).join(", then ");
}
