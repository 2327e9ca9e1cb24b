import { formatIssues, suggestKeys } from "./issues.ts";
import { playbookEntrySchema, resolvePlaybooks, type PlaybookConfig, type PlaybookStepKinds } from "./playbooks.ts";
import type { Config } from "./resolve.ts";
import { COMPONENT_STATUSES, duration, id } from "./schema.ts";

/**
 * Checks one playbook, written as in `playbooks:` (parsed YAML or JSON),
 * against the running config: the same checks as at start, with problems
 * named from `playbook` (`playbook.steps[1].max: must be ≥ 1`). For the admin
 * API, so a change can be checked before it goes into pulseboard.yaml.
 */
export function checkPlaybook(raw: unknown, config: Config, stepKinds?: PlaybookStepKinds): { playbook?: PlaybookConfig; problems: string[] } {
  const parsed = playbookEntrySchema({ id, duration }).safeParse(raw, { error: suggestKeys });
  if (!parsed.success) return { problems: formatIssues(parsed.error.issues, "playbook") };
  const problems: string[] = [];
  const [playbook] = resolvePlaybooks(
    [parsed.data],
    {
      componentIds: new Set(config.components.map((c) => c.id)),
      probeIds: new Set(config.probes.map((p) => p.id)),
      channelIds: new Set(config.notifications.channels.map((c) => c.id)),
      probeComponents: new Map(config.probes.map((p) => [p.id, p.components])),
      statuses: COMPONENT_STATUSES,
      stepKinds,
      problems,
    },
    () => "playbook",
  );
  return problems.length > 0 ? { problems } : { playbook, problems };
}
