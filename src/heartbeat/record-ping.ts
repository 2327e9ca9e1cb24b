import { z } from "zod";
import { NotFoundError, UpstreamError, ValidationError, describeError } from "../core/index.ts";
import type { HeartbeatContext } from "./context.ts";
import { pingResult, queueResult } from "./results.ts";
import { heartbeatTiming, isHeartbeat } from "./timing.ts";

/** The longest `msg` kept; the rest is cut. */
export const MESSAGE_MAX = 500;

export const recordPingInput = z.strictObject({
  /** The heartbeat probe's id in pulseboard.yaml. */
  probe: z.string().min(1).max(200),
  status: z.enum(["ok", "failed"]),
  /** The job's own words (`?msg=`): the error of a failed ping. */
  message: z.string().optional(),
  /** How the ping came (GET or POST), for the result's details. */
  method: z.string().min(1).max(16),
});
export type RecordPingInput = z.input<typeof recordPingInput>;

/** What a ping answers: what was recorded and by when the next one is due. */
export interface PingReceipt {
  probe: string;
  status: "ok" | "failed";
  received_at: string;
  /** The check fails if nothing comes by then (`every + grace` from now). */
  next_ping_by: string;
  result: string;
}

/** A heartbeat check that does not exist, or a probe that is not one: 404, naming it. */
export class UnknownHeartbeat extends NotFoundError {
  constructor(id: string, kind?: string) {
    super(`heartbeat check "${id}"`);
    this.message = kind ? `probe "${id}" is a ${kind} probe, not a heartbeat check: only kind heartbeat takes pings` : `no heartbeat check has the id "${id}"`;
  }
}

/**
 * Takes one ping of a heartbeat check: notes its time (the deadline checker
 * counts from it) and hands an ok or failed result to the evaluator, as an
 * agent hands over a probe's result.
 */
export async function recordPing({ ctx, input }: { ctx: HeartbeatContext; input: RecordPingInput }): Promise<PingReceipt> {
  const parsed = recordPingInput.safeParse(input);
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => `${i.path.join(".") || "ping"}: ${i.message}`));
  const { probe: id, status, method } = parsed.data;
  const probe = ctx.config().probes.find((p) => p.id === id);
  if (!probe || !isHeartbeat(probe)) throw new UnknownHeartbeat(id, probe?.kind);
  const timing = heartbeatTiming(probe);
  const message = clip(parsed.data.message?.trim());

  const now = Date.now();
  try {
    const previous = await ctx.redis.set(ctx.keys.lastPing(id), String(now), "GET");
    const result = pingResult(probe, { status, message, at: now, method, previousAt: previous ? Number(previous) : undefined });
    await queueResult(ctx.evaluate, result);
    ctx.log.debug({ probe: id, status, result: result.id }, "heartbeat ping");
    return { probe: id, status, received_at: result.finished_at, next_ping_by: new Date(now + timing.everyMs + timing.graceMs).toISOString(), result: result.id };
  } catch (err) {
    throw new UpstreamError(`the ping of ${id} could not be recorded: ${describeError(err)}`, { cause: err });
  }
}

function clip(text: string | undefined): string | undefined {
  if (!text) return undefined;
  return text.length <= MESSAGE_MAX ? text : `${text.slice(0, MESSAGE_MAX)}… (cut; ${text.length} characters)`;
}
