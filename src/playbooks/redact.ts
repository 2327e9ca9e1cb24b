import type { PlaybookConfig, PlaybookStepConfig } from "../config/index.ts";
import type { PlaybookRun, StepRecord } from "./model.ts";
import { stepOf } from "./steps/registry.ts";

/**
 * Playbooks and runs as the admin API shows them: step settings that may
 * hold secrets (a webhook's headers and URL) masked. The store keeps them
 * whole, since a resumed run needs them.
 */
export function redactPlaybook(playbook: PlaybookConfig): PlaybookConfig {
  return {
    ...playbook,
    steps: playbook.steps.map(redactStep),
    onFailure: { ...playbook.onFailure, steps: playbook.onFailure.steps.map(redactStep) },
    restore: playbook.restore ? { ...playbook.restore, steps: playbook.restore.steps.map(redactStep) } : undefined,
  };
}

export function redactRun(run: PlaybookRun): PlaybookRun {
  return { ...run, inputs: redactPlaybook(run.inputs), steps: run.steps.map(redactRecord), fallback: run.fallback.map(redactRecord) };
}

function redactStep(step: PlaybookStepConfig): PlaybookStepConfig {
  const redact = stepOf(step.action)?.redact;
  return redact ? { ...step, settings: redact(step.settings) } : step;
}

function redactRecord(record: StepRecord): StepRecord {
  const redact = stepOf(record.action)?.redact;
  return redact ? { ...record, settings: redact(record.settings) } : record;
}
