import type { z } from "zod";
import type { PlaybookAction, PlaybookStepKinds, StepReference } from "../../config/index.ts";
import { PLAYBOOK_ACTIONS } from "../../config/index.ts";
import bypassCache from "./bypass-cache.ts";
import command from "./command.ts";
import notify from "./notify.ts";
import restartGateway from "./restart-gateway.ts";
import restoreCache from "./restore-cache.ts";
import scaleIn from "./scale-in.ts";
import scaleOut from "./scale-out.ts";
import type { PlaybookStep } from "./types.ts";
import verify from "./verify.ts";
import wait from "./wait.ts";
import webhook from "./webhook.ts";

/**
 * Every step by action. A Record over the actions config accepts, so an
 * action without an implementation here does not compile.
 */
export const playbookStepKinds: Record<PlaybookAction, PlaybookStep> = {
  "restart-gateway": restartGateway as PlaybookStep,
  "bypass-cache": bypassCache as PlaybookStep,
  "restore-cache": restoreCache as PlaybookStep,
  "scale-out": scaleOut as PlaybookStep,
  "scale-in": scaleIn as PlaybookStep,
  wait: wait as PlaybookStep,
  verify: verify as PlaybookStep,
  notify: notify as PlaybookStep,
  webhook: webhook as PlaybookStep,
  command: command as PlaybookStep,
};

function isAction(action: string): action is PlaybookAction {
  return (PLAYBOOK_ACTIONS as readonly string[]).includes(action);
}

/** The step of an action, or undefined for one that does not exist. */
export function stepOf(action: string): PlaybookStep | undefined {
  return isAction(action) ? playbookStepKinds[action] : undefined;
}

/**
 * The steps as config validation needs them (the shape of the probe and
 * channel kinds' registries), plus what their settings refer to.
 */
export const playbookSteps: PlaybookStepKinds = {
  kinds: () => [...PLAYBOOK_ACTIONS],
  schema: (action: string): z.ZodType | undefined => stepOf(action)?.configSchema,
  references: (action: string, settings: unknown): StepReference[] => stepOf(action)?.references?.(settings) ?? [],
};
