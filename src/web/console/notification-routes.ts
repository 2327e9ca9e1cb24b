import { Router, type Request, type Response } from "express";
import { NotFoundError } from "../../core/index.ts";
import type { NotificationAdmin } from "../admin-operations.ts";
import type { AdminAuth } from "../auth.ts";
import { consoleWrite, messagePage } from "./guard.ts";
import { channelRow, deadLetterRow, replayFacts } from "./notification-views.ts";
import { doneNote, mayDo, scopedRead, sendPage } from "./ops-page.ts";
import type { ConsoleRenderer } from "./render.ts";

export interface NotificationRoutesOptions {
  auth: AdminAuth;
  notifications: NotificationAdmin;
  render: ConsoleRenderer;
}

/** How many dead letters the page lists (the newest). */
const DEAD_SHOWN = 100;
const DONE = { replayed: "Replayed: the post is queued for its channel again.", enabled: "Channel enabled: posts go to it again." };

/**
 * The console's notifications page: each on-call channel with its last
 * delivery (and Enable for one its receiver disabled with 410 Gone), and
 * the dead-letter list, each with Replay behind a confirmation page.
 * Writes call the admin API's NotificationAdmin after its scope check
 * (`incidents`) and audit log.
 */
export function notificationRoutes(options: NotificationRoutesOptions): Router {
  const { notifications, render } = options;
  const router = Router();
  const read = scopedRead(render, "notifications");
  const write = consoleWrite(options.auth, render);
  const canWrite = (res: Response) => mayDo(res, "POST", "/admin/api/notifications/dead/x/replay");
  const back = { href: "/admin/notifications", label: "Back to notifications" };

  router.get("/notifications", read, async (req, res) => {
    const [channels, dead] = await Promise.all([notifications.channels(), notifications.deadLetters(DEAD_SHOWN)]);
    sendPage(render, res, {
      view: "notifications",
      title: "Notifications",
      section: "notifications",
      data: { flash: doneNote(req, DONE), canWrite: canWrite(res), tab: "channels", channels: channels.map(channelRow), dead: dead.map(deadLetterRow), deadCapped: dead.length === DEAD_SHOWN, deadShown: DEAD_SHOWN },
    });
  });

  router.get("/notifications/dead/:id/replay", read, async (req: Request<{ id: string }>, res) => {
    const letter = await notifications.deadLetter(req.params.id);
    if (!letter) throw new NotFoundError("dead letter");
    sendPage(render, res, {
      view: "ops-confirm",
      title: "Replay a post",
      section: "notifications",
      data: {
        canWrite: canWrite(res),
        needs: "incidents",
        facts: replayFacts(letter),
        warnings: [
          "The post goes to its channel again now, out of its incident's order, with the id it had: a receiver that already took it may drop it as a duplicate.",
          "If it fails again, it comes back to this list.",
        ],
        action: `/admin/notifications/dead/${encodeURIComponent(letter.id)}/replay`,
        button: "Replay",
        cancel: back,
      },
    });
  });

  router.post("/notifications/dead/:id/replay", ...write, async (req: Request<{ id: string }>, res) => {
    await notifications.replay(req.params.id);
    res.redirect(303, "/admin/notifications?done=replayed");
  });

  router.post("/notifications/channels/:id/enable", ...write, async (req: Request<{ id: string }>, res) => {
    await notifications.enableChannel(req.params.id);
    res.redirect(303, "/admin/notifications?done=enabled");
  });

  router.use("/notifications", (err: unknown, _req: Request, res: Response, next: (err?: unknown) => void) => {
    if (!(err instanceof NotFoundError)) return next(err);
    const what = err.message.startsWith("channel ") ? "There is no such channel in pulseboard.yaml." : "There is no such dead letter: it was replayed already, or the link is wrong. Nothing was sent.";
    messagePage(render, res, 404, "Not found", [what], { section: "notifications", back });
  });

  return router;
}
