import type { Logger } from "../core/index.ts";
import type { Incident } from "../status/index.ts";
import type { PlaybookRun, StepRecord } from "./model.ts";
import type { RunnerOptions } from "./runner.ts";
import { appendRunEntry } from "./timeline.ts";

export interface FailureContext {
  options: RunnerOptions;
  run(): PlaybookRun;
  save(next: PlaybookRun): Promise<void>;
  incident?: Incident;
  log: Logger;
}

/**
 * A step (or its verify) failed: page the playbook's escalation channels at
 * high urgency, once per run (the post is keyed by the run, and the run
 * records that it escalated, so a resumed run does not page again), and say
 * so on the incident's timeline. The run then stops; its playbook is held
 * until the trigger clears, so a trigger that keeps firing pages no one again.
 */
export async function escalate(ctx: FailureContext, failed: StepRecord): Promise<void> {
  const run = ctx.run();
  const channels = run.inputs.onFailure.escalate;
  const dryRun = run.mode === "dry-run";
  const reason = `${failed.label} failed: ${failed.summary ?? "no reason given"}`;
  if (!run.escalation && channels.length > 0 && !dryRun) {
    const done = run.steps.filter((s) => s.state === "succeeded").map((s) => `${s.label} (${s.summary ?? "done"})`);
    const base = ctx.options.config().page.url.replace(/\/+$/, "");
    const lines = [
      `Automatic recovery failed and needs a person.`,
      `Playbook: ${run.name} (run ${run.id}).`,
      `Trigger: ${run.trigger.description}.`,
      `Failed at step ${failed.index + 1} of ${run.steps.length}: ${reason}`,
      done.length > 0 ? `Done before it: ${done.join("; ")}.` : "Nothing was done before it.",
      run.inputs.onFailure.steps.length > 0 ? `Fallback steps run next: ${run.fallback.map((s) => s.label).join(", ")}.` : "No further steps run.",
      ctx.incident ? `Incident: ${base}/incidents/${ctx.incident.id}` : "",
    ].filter(Boolean);
    await ctx.options.posts.post({ key: `${run.id}.escalation`, channels, urgency: "high", body: lines.join("\n"), incident: ctx.incident, title: run.name });
    await ctx.save({ ...ctx.run(), escalation: { at: new Date().toISOString(), channels, reason } });
    ctx.log.error({ run: run.id, playbook: run.playbook, channels, reason }, "playbook failed; escalated to on-call");
  } else if (!run.escalation) {
    ctx.log.error({ run: run.id, playbook: run.playbook, reason }, "playbook failed; no escalation channels configured");
  }
  const paged = channels.length > 0 && !dryRun ? " On-call engineers have been paged." : "";
  await appendRunEntry(ctx.options.status, ctx.run(), "failed", `Automatic recovery (${run.name}) did not work: ${reason}${paged} Pulseboard will not run this playbook again until its trigger clears or a person enables it again.`, ctx.log);
}
