import express, { type NextFunction, type Request, type Response } from "express";
import type { RedisConnection as Redis } from "../core/index.ts";
import { allowsNarrow, type Actor, type TokenStore } from "../auth/index.ts";
import type { Config } from "../config/index.ts";
import { KeyedRateLimiter, type Logger } from "../core/index.ts";
import { heartbeatContext, recordPing, type HeartbeatContext } from "../heartbeat/index.ts";
import { clientAddress } from "./client-address.ts";

export interface HeartbeatRouterOptions {
  /** The running config (heartbeat checks come and go on reload). */
  config: () => Config;
  /** Who a token is; a ping needs `heartbeat:<probe id>` or `admin`. */
  tokens: TokenStore;
  /** A control-plane connection (the `command` profile). */
  redis: Redis;
  trustProxy: boolean;
  log: Logger;
  /**
   * Pings one check may make in this process: `perSecond` on average, `burst`
   * at once; more get 429 (a job pinging in a loop must not flood the results).
   * @defaultValue 1 a second, 10 at once
   */
  perProbe?: { perSecond: number; burst: number };
}

const OK = new Set(["ok", "up", "success"]);
const FAILED = new Set(["fail", "failed", "down", "error"]);
/** Requests one client address may make before its token is even looked at: a bound on token guessing. */
const PER_CLIENT = { perSecond: 20, burst: 40 };

/**
 * `GET` or `POST /api/heartbeat/<probe id>`: a job's ping of its heartbeat
 * check, with a token scoped `heartbeat:<probe id>` (or `admin`) as
 * `Authorization: Bearer …` or `?token=…` (for a curl line in a crontab).
 * `?status=fail&msg=…` reports a failure now. Validates, checks the token,
 * calls recordPing; the token never reaches a log or an answer.
 */
export function heartbeatRouter(options: HeartbeatRouterOptions): express.Router {
  const log = options.log.child({ module: "web.heartbeat" });
  const rate = options.perProbe ?? { perSecond: 1, burst: 10 };
  const perProbe = new KeyedRateLimiter(rate.perSecond, rate.burst);
  const perClient = new KeyedRateLimiter(PER_CLIENT.perSecond, PER_CLIENT.burst);
  // Made on the first ping: a web role with no heartbeat checks never opens the queue.
  let ctx: HeartbeatContext | undefined;
  const router = express.Router();

  router.all("/:probe", (req: Request, res: Response, next: NextFunction) => {
    res.set("cache-control", "no-store");
    const id = String(req.params.probe);
    if (req.method !== "GET" && req.method !== "POST") {
      res.status(405).set("allow", "GET, POST").json({ code: "method_not_allowed", message: `ping a heartbeat check with GET or POST, not ${req.method}` });
      return;
    }
    if (!perClient.take(clientAddress(req, options.trustProxy))) {
      res.status(429).set("retry-after", "1").json({ code: "rate_limited", message: "too many heartbeat requests from this address; retry in 1 s" });
      return;
    }
    const query = readQuery(req);
    if (typeof query === "string") {
      res.status(400).json({ code: "bad_request", message: query });
      return;
    }
    const header = req.get("authorization") ?? (query.token ? `Bearer ${query.token}` : undefined);
    if (!header) {
      unauthorized(res, `a token is required: send "Authorization: Bearer <token>" or ?token=<token>, with a token scoped heartbeat:${id}`);
      return;
    }
    void options.tokens.verify(header).then((actor) => {
      if (!actor) return unauthorized(res, "the token is not valid: unknown, revoked or mistyped");
      if (!allowsNarrow(actor, `heartbeat:${id}`)) return forbidden(res, actor, id);
      if (!perProbe.take(id)) {
        res.status(429).set("retry-after", String(Math.ceil(1 / rate.perSecond))).json({ code: "rate_limited", message: `too many pings of ${id}: at most ${rate.perSecond} a second (${rate.burst} at once)` });
        return;
      }
      ctx ??= heartbeatContext({ config: options.config, redis: options.redis, log });
      return recordPing({ ctx, input: { probe: id, status: query.status, message: query.msg, method: req.method } }).then((receipt) => {
        res.json(receipt);
      });
    }).catch(next);
  });
  return router;
}

/** The ping's query: its status, message and token, each given once; or what is wrong with it. */
function readQuery(req: Request): { status: "ok" | "failed"; msg?: string; token?: string } | string {
  const one = (name: string): string | undefined | Error => {
    const value = (req.query as Record<string, unknown>)[name];
    if (value === undefined || typeof value === "string") return value;
    return new Error(`${name}: give it once, as text`);
  };
  const [status, msg, token] = [one("status"), one("msg"), one("token")];
  for (const value of [status, msg, token]) if (value instanceof Error) return value.message;
  const word = (status as string | undefined)?.trim().toLowerCase() || "ok";
  if (!OK.has(word) && !FAILED.has(word)) return `status: expected ok or fail, got ${JSON.stringify(String(status).slice(0, 40))}`;
  return { status: FAILED.has(word) ? "failed" : "ok", msg: msg as string | undefined, token: token as string | undefined };
}

function unauthorized(res: Response, message: string): void {
  res.status(401).set("WWW-Authenticate", 'Bearer realm="pulseboard-heartbeat"').json({ code: "unauthorized", message });
}

function forbidden(res: Response, actor: Actor, id: string): void {
  res.status(403).json({ code: "forbidden", message: `the token "${actor.name}" may not ping ${id}: that needs the heartbeat:${id} scope (it has ${actor.scopes.join(", ")})` });
}
