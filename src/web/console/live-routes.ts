import { Router, type Response } from "express";
import type { Logger } from "../../core/index.ts";
import type { ChangeEvent } from "../../status/index.ts";
import type { ConsoleSessions } from "./sessions.ts";

export interface ConsoleLiveOptions {
  sessions: ConsoleSessions;
  /** Every change the pipeline announces (drafts and on-call-only entries included); returns a function that stops it. */
  announcements: (listener: (event: ChangeEvent) => void) => () => void;
  log: Logger;
  /** Streams open at once; beyond it new ones get 503 and the pages keep working without live refresh. @defaultValue 200 */
  maxStreams?: number;
  /** How often each stream's session is checked (without moving its idle expiry on) and a keep-alive sent. @defaultValue 15000 */
  checkMs?: number;
}

/** At most one push a second: a burst of changes goes out as one. */
const MIN_GAP_MS = 1_000;

/**
 * `GET /admin/live`: the console's own change stream (server-sent events).
 * The status page's /live speaks only of what customers see; on-call also
 * needs to hear of a draft opening under `incidents.publish: review`, an
 * on-call-only entry and a maintenance edit. Each event says only that
 * incidents or maintenance changed (`event: update`, no content): the page
 * then fetches itself again with its session, so nothing reaches a stream
 * that its session could not read. Reading the session here does not move
 * its idle expiry on (an unattended console still signs itself out); a
 * stream whose session ended gets `event: ended` and is closed.
 */
export function consoleLiveRoutes(options: ConsoleLiveOptions): Router {
  const log = options.log.child({ module: "web.console.live" });
  const maxStreams = options.maxStreams ?? 200;
  const checkMs = options.checkMs ?? 15_000;
  const streams = new Set<Response>();
  let pending: NodeJS.Timeout | undefined;
  let lastPushAt = 0;

  const push = (): void => {
    pending = undefined;
    lastPushAt = Date.now();
    for (const res of streams) res.write("event: update\ndata: {}\n\n");
    log.debug({ streams: streams.size }, "console live update sent");
  };
  options.announcements((event) => {
    // A component's status changes with every probe state; the console's live pages show incidents and maintenance.
    if (event.type === "component" || streams.size === 0 || pending) return;
    const wait = lastPushAt + MIN_GAP_MS - Date.now();
    if (wait <= 0) push();
    else pending = setTimeout(push, wait);
  });

  const router = Router();
  router.get("/live", async (req, res, next) => {
    let found;
    try {
      found = await options.sessions.read(req, { touch: false });
    } catch (err) {
      return next(err);
    }
    if (!found || "ended" in found) {
      res.status(401).set("cache-control", "no-store").type("text").send("Not signed in: sign in to the console at /admin/login.");
      return;
    }
    if (streams.size >= maxStreams) {
      res.status(503).set("retry-after", "30").type("text").send("Live refresh is at capacity; reload the page to see changes.");
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no", connection: "keep-alive" });
    res.write("retry: 5000\n\n");
    streams.add(res);
    const check = setInterval(() => {
      options.sessions.read(req, { touch: false }).then(
        (still) => {
          if (still && !("ended" in still)) return void res.write(": keep-alive\n\n");
          res.write("event: ended\ndata: {}\n\n");
          res.end();
        },
        // The control plane is unreachable for a moment: keep the stream; the next check decides.
        () => void res.write(": keep-alive\n\n"),
      );
    }, checkMs);
    req.on("close", () => {
      clearInterval(check);
      streams.delete(res);
    });
  });

  return router;
}
