import { Router, type Request, type Response } from "express";
import type { Config } from "../../config/index.ts";
import { NotFoundError } from "../../core/index.ts";
import { removeSubscriber, type SubscriptionContext } from "../../subscriptions/index.ts";
import type { AdminAuth } from "../auth.ts";
import { consoleWrite, messagePage } from "./guard.ts";
import { SUBSCRIBERS_SHOWN, searchSubscribers, subscriberRow } from "./notification-views.ts";
import { doneNote, mayDo, scopedRead, sendPage, single } from "./ops-page.ts";
import type { ConsoleRenderer } from "./render.ts";

export interface SubscriberRoutesOptions {
  config: () => Config;
  auth: AdminAuth;
  /** The subscription verbs' context. @defaultValue none: the page says subscriptions are not set up here */
  subscriptions?: SubscriptionContext;
  render: ConsoleRenderer;
}

/** The longest search: an e-mail address or a webhook URL fits well within it. */
export const SEARCH_MAX = 500;
const DONE = { removed: "Subscriber removed: nothing more is sent to them." };

/**
 * The console's subscribers page: search confirmed status-page subscribers
 * by address, and remove one behind a confirmation page. Removal calls the
 * admin API's verb (removeSubscriber) after its scope check (`admin`, as
 * DELETE /admin/api/subscribers/:id) and audit log.
 */
export function subscriberRoutes(options: SubscriberRoutesOptions): Router {
  const { render, subscriptions } = options;
  const router = Router();
  const read = scopedRead(render, "notifications");
  const write = consoleWrite(options.auth, render);
  const canWrite = (res: Response) => mayDo(res, "DELETE", "/admin/api/subscribers/x");
  const back = { href: "/admin/subscribers", label: "Back to subscribers" };
  const names = () => new Map(options.config().components.map((c) => [c.id, c.name]));

  router.get("/subscribers", read, async (req, res) => {
    const raw = single(req.query.q);
    const issues: string[] = [];
    if (typeof raw === "object") issues.push("Search: sent more than once; send it once");
    const query = typeof raw === "string" ? raw : "";
    if (query.length > SEARCH_MAX) issues.push(`Search: at most ${SEARCH_MAX} characters (got ${query.length.toLocaleString("en")}); search for part of the address`);
    const found = subscriptions && issues.length === 0 ? searchSubscribers(await subscriptions.store.subscribers(), query, names()) : undefined;
    sendPage(render, res, {
      status: issues.length > 0 ? 400 : 200,
      view: "subscribers",
      title: "Subscribers",
      section: "notifications",
      data: {
        flash: doneNote(req, DONE),
        tab: "subscribers",
        canWrite: canWrite(res),
        wired: subscriptions !== undefined,
        query: query.length > SEARCH_MAX ? "" : query,
        issues,
        found,
        capped: found !== undefined && found.total > SUBSCRIBERS_SHOWN,
        shownMax: SUBSCRIBERS_SHOWN,
      },
    });
  });

  router.get("/subscribers/:id/remove", read, async (req: Request<{ id: string }>, res) => {
    const subscriber = await subscriptions?.store.subscriber(req.params.id);
    if (!subscriber) throw new NotFoundError("subscriber");
    const row = subscriberRow(subscriber, names());
    sendPage(render, res, {
      view: "ops-confirm",
      title: "Remove a subscriber",
      section: "notifications",
      data: {
        canWrite: canWrite(res),
        needs: "admin",
        facts: [
          { label: "How", value: row.type },
          { label: "Address", value: row.address },
          { label: "About", value: row.components },
          { label: "Confirmed", at: row.confirmed_at },
        ],
        warnings: ["Nothing more is sent to this address. They are not told; to get updates again they subscribe again."],
        action: `/admin/subscribers/${encodeURIComponent(subscriber.id)}/remove`,
        button: "Remove subscriber",
        cancel: back,
      },
    });
  });

  router.post("/subscribers/:id/remove", ...write, async (req: Request<{ id: string }>, res) => {
    if (!subscriptions) throw new NotFoundError("subscriber");
    await removeSubscriber(subscriptions, req.params.id);
    res.redirect(303, "/admin/subscribers?done=removed");
  });

  router.use("/subscribers", (err: unknown, _req: Request, res: Response, next: (err?: unknown) => void) => {
    if (!(err instanceof NotFoundError)) return next(err);
    messagePage(render, res, 404, "Not found", ["There is no such subscriber: they were removed already, or the link is wrong. Nothing was changed."], { section: "notifications", back });
  });

  return router;
}
