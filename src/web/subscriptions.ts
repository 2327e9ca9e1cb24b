import express, { Router, type NextFunction, type Request, type Response } from "express";
import { formatDuration } from "../config/index.ts";
import { NotFoundError, PulseboardError, ValidationError, describeError, type Logger } from "../core/index.ts";
import {
  LinkExpiredError,
  SubscriptionLinks,
  confirmSubscription,
  removeSubscriber,
  requestSubscription,
  unsubscribe,
  viewOf,
  type SubscribeInput,
  type SubscriptionContext,
} from "../subscriptions/index.ts";
import type { AdminAuth } from "./auth.ts";
import { fallbackHtml, type SubscriptionView, type SubscriptionViewData } from "./subscription-pages.ts";

/** The largest body the subscription endpoints read. */
const BODY_LIMIT = "16kb";

export interface SubscriptionsRouterOptions {
  ctx: SubscriptionContext;
  /** Bearer tokens of the admin API (for /admin/api/subscribers). */
  /** Who may list and remove subscribers (the `admin` scope). */
  auth: AdminAuth;
  /**
   * Renders a view ("subscribe" or "subscription-message") with
   * SubscriptionViewData. @defaultValue minimal built-in HTML
   */
  render?: (view: string, data: Record<string, unknown>) => string;
  log: Logger;
}

/**
 * Status-page subscriptions over HTTP. Public, JSON or HTML forms (answers in
 * HTML or JSON by Accept), rate-limited per client address, bodies up to 16 KiB:
 *
 * - `GET /subscriptions`: the subscribe form (HTML) or what is offered (JSON)
 * - `POST /subscriptions` `{type: "webhook", endpoint, components?}` or
 *   `{type: "email", email, components?}`: 202, and a confirmation request
 *   goes to the endpoint or address (the same answer for an address already
 *   subscribed)
 * - `GET|POST /subscriptions/confirm?token=…`: confirms
 * - `GET|POST /subscriptions/unsubscribe?token=…`: ends the subscription
 *   (a browser's GET first shows a button, so link scanners in mail
 *   gateways cannot unsubscribe people by following links)
 *
 * Admin (bearer token): `GET /admin/api/subscribers`, `GET|DELETE
 * /admin/api/subscribers/:id`, `GET /admin/api/subscribers/dead-letters`.
 */
export function subscriptionsRouter(options: SubscriptionsRouterOptions): Router {
  const router = Router();
  router.use("/subscriptions", publicRoutes(options));
  router.use("/admin/api/subscribers", adminRoutes(options));
  return router;
}

function publicRoutes(options: SubscriptionsRouterOptions): Router {
  const { ctx } = options;
  const log = options.log.child({ module: "web.subscriptions" });
  const router = Router();
  const render = (view: SubscriptionView, data: SubscriptionViewData) => (options.render ? options.render(view, data) : fallbackHtml(view, data));
  const pageOf = () => ({ name: ctx.config().page.name, url: ctx.config().page.url });
  const links = async () => new SubscriptionLinks(ctx.config().page.url, await ctx.store.linkSigner(ctx.config().subscriptions.secret));
  const html = (res: Response, status: number, view: SubscriptionView, data: Partial<SubscriptionViewData> & { title: string }) =>
    res
      .status(status)
      .set("cache-control", "no-store")
      .type("html")
      .send(render(view, { page: pageOf(), messages: [], issues: [], links: [], ...data }));

  router.use(noStore);
  router.use(express.json({ limit: BODY_LIMIT }), express.urlencoded({ extended: false, limit: BODY_LIMIT, parameterLimit: 200 }));
  router.use(requireKnownBody);

  router.get("/", (req, res) => {
    const config = ctx.config();
    const form = {
      webhook: config.subscriptions.webhook.enabled,
      email: Boolean(config.subscriptions.email),
      components: config.components.map((c) => ({ id: c.id, name: c.name, group: c.group ?? null })),
    };
    if (wantsHtml(req)) return void html(res, 200, "subscribe", { title: `Subscribe to ${config.page.name}`, messages: ["Get a message when an incident is posted or updated."], form });
    res.json({
      types: [...(form.webhook ? ["webhook"] : []), ...(form.email ? ["email"] : [])],
      components: form.components,
      confirm_ttl: formatDuration(config.subscriptions.confirmTtlMs),
    });
  });

  router.post("/", rateLimit(options), async (req, res) => {
    const { type, expires_at } = await requestSubscription(ctx, bodyOf(req) as SubscribeInput);
    const where = type === "webhook" ? "that endpoint (a POST whose subscription_confirmation.confirm_url starts the subscription)" : "that address";
    // The same words whether the address is subscribed already or not.
    const message = `We sent a confirmation request to ${where}. Updates start once it is confirmed; the request expires in ${formatDuration(ctx.config().subscriptions.confirmTtlMs)}.`;
    if (wantsHtml(req)) return void html(res, 202, "subscription-message", { title: type === "email" ? "Check your inbox" : "Confirm your webhook", messages: [message] });
    res.status(202).json({ status: "pending", message, expires_at });
  });

  const confirm = async (req: Request, res: Response) => {
    const { subscriber, already } = await confirmSubscription(ctx, tokenOf(req));
    const unsubscribe_url = (await links()).unsubscribe(subscriber.id);
    const which = subscriber.components.length > 0 ? `incidents affecting ${subscriber.components.join(", ")}` : "every incident";
    const message = `${already ? "This subscription was already confirmed" : "Your subscription is confirmed"}: you will get ${which}.`;
    if (wantsHtml(req)) return void html(res, 200, "subscription-message", { title: "Subscription confirmed", messages: [message], links: [{ label: "Unsubscribe", href: unsubscribe_url }] });
    res.json({ status: "confirmed", message, subscriber: { id: subscriber.id, type: subscriber.type, components: subscriber.components }, unsubscribe_url });
  };
  router.get("/confirm", rateLimit(options), confirm);
  router.post("/confirm", rateLimit(options), confirm);

  const leave = async (req: Request, res: Response) => {
    await unsubscribe(ctx, tokenOf(req));
    const message = "You are unsubscribed: nothing more will be sent to you.";
    if (wantsHtml(req)) return void html(res, 200, "subscription-message", { title: "Unsubscribed", messages: [message] });
    res.json({ status: "unsubscribed", message });
  };
  router.get("/unsubscribe", rateLimit(options), async (req, res) => {
    // Mail gateways follow links to scan them; a browser gets a button, machines (webhook receivers) unsubscribe at once.
    if (!wantsHtml(req)) return leave(req, res);
    const token = tokenOf(req);
    const signer = await ctx.store.linkSigner(ctx.config().subscriptions.secret);
    if (typeof token !== "string" || !signer.verify("unsubscribe", token)) throw new NotFoundError("unsubscribe link (it is not one we sent)");
    html(res, 200, "subscription-message", { title: `Unsubscribe from ${ctx.config().page.name}`, messages: ["Press the button to stop getting updates."], button: { action: "/subscriptions/unsubscribe", label: "Unsubscribe", token } });
  });
  router.post("/unsubscribe", rateLimit(options), leave);

  router.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    const answer = answerFor(err);
    if (!answer) {
      log.error({ err: describeError(err), method: req.method, path: req.baseUrl + req.path }, "subscription request failed");
      return next(err);
    }
    if (answer.retryAfter) res.set("retry-after", String(answer.retryAfter));
    if (wantsHtml(req)) return void html(res, answer.status, "subscription-message", { title: answer.title, messages: [answer.message], issues: answer.issues ?? [] });
    res.status(answer.status).json({ code: answer.code, message: answer.message, requestId: String(res.getHeader("x-request-id") ?? ""), ...(answer.issues ? { issues: answer.issues } : {}) });
  });
  return router;
}

function adminRoutes(options: SubscriptionsRouterOptions): Router {
  const { ctx } = options;
  const router = Router();
  router.use(options.auth.guard(), noStore);
  router.get("/", async (_req, res) => {
    res.json({ subscribers: (await ctx.store.subscribers()).map(viewOf) });
  });
  router.get("/dead-letters", async (req, res) => {
    res.json({ dead_letters: await ctx.store.deadLetters(limitOf(req)) });
  });
  router.get("/:id", async (req, res) => {
    const subscriber = await ctx.store.subscriber(req.params.id);
    if (!subscriber) throw new NotFoundError(`subscriber ${req.params.id}`);
    res.json({ subscriber: viewOf(subscriber) });
  });
  router.delete("/:id", async (req, res) => {
    await removeSubscriber(ctx, req.params.id);
    res.status(204).end();
  });
  return router;
}

/** A failure the subscription endpoints answer themselves: status, code and words. */
interface Answer {
  status: number;
  code: string;
  title: string;
  message: string;
  issues?: string[];
  retryAfter?: number;
}

function answerFor(err: unknown): Answer | undefined {
  if (err instanceof ValidationError) return { status: 400, code: err.code, title: "Please check what you sent", message: err.message, issues: err.issues };
  if (err instanceof NotFoundError) return { status: 404, code: err.code, title: "Unknown link", message: err.message };
  if (err instanceof LinkExpiredError) return { status: 410, code: err.code, title: "Link expired", message: err.message };
  if (err instanceof TooManyRequests) return { status: 429, code: err.code, title: "Too many requests", message: err.message, retryAfter: err.retryAfterS };
  if (err instanceof UnsupportedBody) return { status: 415, code: err.code, title: "Unsupported request", message: err.message };
  const httpError = err as { type?: string; status?: number };
  if (httpError.type === "entity.too.large") return { status: 413, code: "body_too_large", title: "Too much data", message: `the request body is larger than ${BODY_LIMIT.replace("kb", " KiB")}` };
  if (httpError.type === "entity.parse.failed") return { status: 400, code: "bad_json", title: "Please check what you sent", message: "the request body is not valid JSON" };
  if (httpError.type === "parameters.too.many") return { status: 413, code: "too_many_fields", title: "Too much data", message: "the form has too many fields" };
  if (typeof httpError.status === "number" && httpError.status >= 400 && httpError.status < 500) return { status: httpError.status, code: "bad_request", title: "Bad request", message: "the request could not be read" };
  return undefined;
}

class TooManyRequests extends PulseboardError {
  constructor(readonly retryAfterS: number) {
    super("rate_limited", `too many subscription requests from your address; try again in ${retryAfterS} s`);
  }
}

class UnsupportedBody extends PulseboardError {
  constructor(type: string) {
    super("unsupported_media_type", `send the body as application/json or application/x-www-form-urlencoded, not ${type}`);
  }
}

/**
 * A fixed window per client address, counted in Redis so every web replica
 * shares it. When Redis cannot count, requests pass (the write they lead to
 * fails on its own).
 */
function rateLimit(options: SubscriptionsRouterOptions) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const { requests, perMs } = options.ctx.config().subscriptions.rateLimit;
    const client = req.socket.remoteAddress ?? "unknown";
    let count = 0;
    try {
      count = await options.ctx.store.hit(options.ctx.store.keys.rate(client), perMs);
    } catch {
      return next();
    }
    if (count > requests) return next(new TooManyRequests(Math.ceil(perMs / 1_000)));
    next();
  };
}

/** A POST with a body the parsers did not read is in a format they do not know. */
function requireKnownBody(req: Request, _res: Response, next: NextFunction): void {
  const hasBody = Number(req.get("content-length") ?? 0) > 0 || req.get("transfer-encoding") !== undefined;
  if (req.method === "POST" && hasBody && !req.is(["application/json", "application/x-www-form-urlencoded"])) {
    return next(new UnsupportedBody(req.get("content-type") ?? "no content type"));
  }
  next();
}

function noStore(_req: Request, res: Response, next: NextFunction): void {
  res.set("cache-control", "no-store");
  next();
}

function wantsHtml(req: Request): boolean {
  return req.accepts(["json", "html"]) === "html";
}

function bodyOf(req: Request): unknown {
  const body: unknown = req.body;
  if (body === undefined) return {};
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ValidationError(["(body): expected an object like {\"type\": \"email\", \"email\": \"ana@example.com\"}"]);
  return body;
}

/** The token of a link: from the query, or from a form or JSON body. */
function tokenOf(req: Request): unknown {
  const fromQuery = req.query.token;
  if (fromQuery !== undefined) return fromQuery;
  const body = req.body as Record<string, unknown> | undefined;
  return body && typeof body === "object" ? body.token : undefined;
}

function limitOf(req: Request): number {
  const raw = req.query.limit;
  if (raw === undefined) return 100;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) throw new ValidationError(["limit: expected a whole number from 1 to 1000"]);
  return limit;
}
