import { createHash } from "node:crypto";
import { Queue } from "bullmq";
import express, { type NextFunction, type Request, type Response } from "express";
import type { RedisConnection as Redis } from "../core/index.ts";
import { z } from "zod";
import { allowsNarrow, type Actor } from "../auth/index.ts";
import type { Config, ResolvedProbe } from "../config/index.ts";
import { describeError, type Logger } from "../core/index.ts";
import { bullPrefix, LocationReports, platformTargets, probesRunFrom, QUEUE, type EvaluateJob } from "../pipeline/index.ts";
import type { ProbeResult } from "../probe-runtime/index.ts";
import { Keys } from "../status/index.ts";
import type { AdminAuth } from "./auth.ts";

/** Results one push may carry; the agent is told so in its config. */
export const BATCH_MAX = 500;
/** How often an agent asks whether its probes changed. */
const POLL_MS = 30_000;
/** How long an accepted result's id is remembered, so a retried push stores nothing twice (an agent retries within 30 s). */
const DEDUP_WINDOW_MS = 15 * 60_000;
const RESULT_ID = /^[A-Za-z0-9._:-]{1,200}$/;
const EVALUATE_JOB = { removeOnComplete: 1_000, removeOnFail: 5_000, attempts: 5, backoff: { type: "exponential", delay: 500 } } as const;

/** Adds each id not seen in the window; answers 1 for a new id, 0 for one already accepted. */
const CLAIM_IDS = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
local out = {}
for i = 3, #ARGV do out[#out + 1] = redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return out`;

const isoTime = z.iso.datetime({ offset: true });
const resultSchema = z.strictObject({
  id: z.string().regex(RESULT_ID, { error: "expected 1 to 200 letters, digits or . _ : -" }),
  probe: z.string().min(1).max(200),
  kind: z.string().min(1).max(64),
  location: z.string().min(1).max(64),
  status: z.enum(["ok", "degraded", "failed"]),
  latency_ms: z.number().nonnegative().finite(),
  phases: z.record(z.string().max(64), z.number().nonnegative().finite()),
  failed_phase: z.string().max(64).optional(),
  error: z.string().max(4_000).optional(),
  details: z.record(z.string(), z.unknown()).optional(),
  started_at: isoTime,
  finished_at: isoTime,
});
const pushSchema = z.strictObject({
  location: z.string().min(1).max(64),
  agent: z.strictObject({ name: z.string().max(128).optional(), version: z.string().max(64).optional() }).optional(),
  sent_at: isoTime,
  dropped: z.number().int().nonnegative().default(0),
  results: z.array(z.unknown()).max(BATCH_MAX, { error: `at most ${BATCH_MAX} results per push` }),
});

interface Rejected {
  index: number;
  id?: string;
  message: string;
}

/**
 * The remote agents' API (/api/agent/v1): an agent holding a token with the
 * scope `agent:<location>` pulls that location's probes (with an ETag, so an
 * unchanged set costs a 304) and pushes its results in batches. A push is
 * idempotent (ids already accepted in the last 15 minutes are counted as
 * duplicates, not stored again) and all-or-nothing: one bad result refuses
 * the batch and names it. A result older than its probe's interval when it
 * arrives (after the agent's clock skew is taken out) is late: it goes to
 * history, not to the current status. See docs/locations.md.
 */
export function agentApiRouter(options: { config: () => Config; auth: AdminAuth; connection: Redis; log: Logger }): express.Router & { close(): Promise<void> } {
  const log = options.log.child({ module: "web.agents" });
  const prefix = options.config().redis.prefix;
  const evaluate = new Queue<EvaluateJob>(QUEUE.evaluate, { connection: options.connection, prefix: bullPrefix(prefix) });
  const reports = new LocationReports(options.connection, prefix);
  const keys = new Keys(prefix);
  const router = express.Router() as express.Router & { close(): Promise<void> };
  router.close = () => evaluate.close();

  const fail = (res: Response, status: number, code: string, message: string, extra: Record<string, unknown> = {}) => void res.status(status).json({ code, message, ...extra });

  /** The token's actor, when it may act for `location`; answers 401/403/404/409 itself otherwise. */
  async function agentFor(req: Request, res: Response, location: unknown): Promise<{ actor: Actor; config: Config; id: string } | undefined> {
    // Wrong tokens count against the address with the admin API's and the console's (admin.failed_logins): one limit for guessing.
    const waitS = options.auth.loginWait(req);
    if (waitS > 0) return void res.status(429).set("retry-after", String(waitS)).json({ code: "rate_limited", message: `too many requests with a wrong token from this address; retry in ${waitS} s` });
    const actor = await options.auth.tokens.verify(req.get("authorization"));
    if (!actor) options.auth.loginFailed(req);
    if (!actor) return void res.status(401).set("WWW-Authenticate", 'Bearer realm="pulseboard-agent"').json({ code: "unauthorized", message: "a valid agent token is required (Authorization: Bearer …); this one is missing, unknown or revoked" });
    const config = options.config();
    if (typeof location !== "string" || location === "") return void fail(res, 400, "bad_request", "location: name the location this agent probes from (?location=…)");
    const known = config.locations.find((l) => l.id === location);
    if (!known) return void fail(res, 404, "unknown_location", `location: no location "${location}" is configured (there are ${config.locations.map((l) => l.id).join(", ")})`);
    if (!allowsNarrow(actor, `agent:${location}`)) return void fail(res, 403, "forbidden", `the token "${actor.name}" may not act for location ${location} (it has ${actor.scopes.join(", ")}; an agent needs agent:${location})`);
    if (!known.remote) return void fail(res, 409, "not_remote", `location ${location} is not remote: its agent reads the probe queue from Redis; set remote: true on it in pulseboard.yaml to run it over HTTPS`);
    return { actor, config, id: location };
  }

  router.get("/config", (req, res, next) => {
    void (async () => {
      const agent = await agentFor(req, res, req.query.location);
      if (!agent) return;
      const paused = new Set(await options.connection.smembers(keys.pausedProbes));
      const body = agentConfig(agent.config, agent.id, paused);
      const etag = `"${createHash("sha256").update(JSON.stringify(body)).digest("base64url").slice(0, 27)}"`;
      res.set("etag", etag).set("cache-control", "no-store");
      if (req.get("if-none-match") === etag) return void res.status(304).end();
      res.json({ ...body, server_time: new Date().toISOString() });
    })().catch(next);
  });

  router.post("/results", express.json({ limit: "1mb" }), (req, res, next) => {
    void (async () => {
      const receivedAt = Date.now();
      const envelope = pushSchema.safeParse(req.body);
      if (!envelope.success) return fail(res, 400, "bad_request", envelope.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
      const push = envelope.data;
      const agent = await agentFor(req, res, push.location);
      if (!agent) return;
      const probes = new Map(agent.config.probes.map((p) => [p.id, p]));
      const rejected: Rejected[] = [];
      const results: { result: ProbeResult; probe: ResolvedProbe }[] = [];
      push.results.forEach((raw, index) => {
        const parsed = resultSchema.safeParse(raw);
        const id = (raw as { id?: unknown } | null)?.id;
        const named = typeof id === "string" ? id.slice(0, 200) : undefined;
        if (!parsed.success) return void rejected.push({ index, id: named, message: parsed.error.issues.map((i) => `results[${index}].${i.path.join(".")}: ${i.message}`).join("; ") });
        const result = parsed.data as ProbeResult;
        if (result.location !== agent.id) return void rejected.push({ index, id: named, message: `results[${index}].location: "${result.location}" is not this push's location ${agent.id}` });
        const probe = probes.get(result.probe);
        if (!probe || !probe.locations.includes(agent.id)) return void rejected.push({ index, id: named, message: `results[${index}].probe: no probe "${result.probe}" runs from ${agent.id}` });
        results.push({ result, probe });
      });
      if (rejected.some((r) => r.message.includes(".location:"))) return fail(res, 403, "forbidden", rejected.find((r) => r.message.includes(".location:"))!.message, { rejected });
      if (rejected.length > 0) return fail(res, 400, "bad_results", `${rejected.length} of ${push.results.length} results refused; nothing of this push was stored: ${rejected[0]!.message}`, { rejected });

      const skewMs = Date.parse(push.sent_at) - receivedAt;
      const claimed = results.length === 0 ? [] : ((await options.connection.eval(CLAIM_IDS, 1, `${prefix}:agent-results:${agent.id}`, receivedAt, DEDUP_WINDOW_MS, ...results.map((r) => r.result.id))) as number[]);
      const fresh = results.filter((_, i) => claimed[i] === 1);
      const receivedIso = new Date(receivedAt).toISOString();
      let late = 0;
      const jobs = fresh.map(({ result, probe }) => {
        const isLate = receivedAt - (Date.parse(result.finished_at) - skewMs) > probe.interval;
        if (isLate) late++;
        const data: EvaluateJob = { result: { ...result, received_at: receivedIso }, ...(isLate ? { late: true } : {}) };
        return { name: "result", data, opts: { ...EVALUATE_JOB, jobId: result.id } };
      });
      try {
        if (jobs.length > 0) await evaluate.addBulk(jobs);
      } catch (err) {
        // Not queued: forget the ids, so the agent's retry of this batch is stored.
        await options.connection.zrem(`${prefix}:agent-results:${agent.id}`, ...fresh.map((r) => r.result.id)).catch(() => undefined);
        throw err;
      }
      await reports.recordPush({ location: agent.id, token: agent.actor.name, label: push.agent?.name, version: push.agent?.version, receivedAt, accepted: fresh.length, dropped: push.dropped, skewMs });
      if (push.dropped > 0) log.warn({ location: agent.id, dropped: push.dropped }, "a remote agent dropped results from its full buffer");
      res.json({ accepted: fresh.length, duplicates: results.length - fresh.length, late });
    })().catch(next);
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const type = (err as { type?: string }).type;
    if (type === "entity.too.large") return fail(res, 413, "too_large", `a push may carry at most 1 MiB and ${BATCH_MAX} results; send smaller batches`);
    if (type === "entity.parse.failed") return fail(res, 400, "bad_request", "the request body is not valid JSON");
    log.warn({ err: describeError(err) }, "an agent request failed");
    next(err);
  });
  return router;
}

/** What an agent of `location` runs: its enabled, unpaused probes with their settings as written, and where the managed gateway is. */
function agentConfig(config: Config, location: string, paused: Set<string>) {
  const here = config.locations.find((l) => l.id === location)!;
  const targets = platformTargets(config);
  return {
    location: { id: here.id, name: here.name },
    poll_ms: POLL_MS,
    batch_max: BATCH_MAX,
    probes: probesRunFrom(config, location, paused).map((p) => ({
        id: p.id,
        kind: p.kind,
        name: p.name,
        interval_ms: p.interval,
        timeout_ms: p.timeout,
        ...(p.degraded_over === undefined ? {} : { degraded_over_ms: p.degraded_over }),
        with: p.rawWith ?? {},
      })),
    // Nothing secret: no gateway admin token, no cache Redis URL.
    targets: { gatewayUrl: targets.gatewayUrl, gatewayNodeUrls: targets.gatewayNodeUrls },
  };
}
