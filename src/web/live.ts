import { Router, type Response } from "express";
import type { Logger } from "../core/index.ts";
import type { LiveFragments, PageRenderer } from "./pages.ts";
import type { Snapshot, SnapshotService } from "./snapshot.ts";

export interface LiveOptions {
  snapshot: SnapshotService;
  pages: PageRenderer;
  log: Logger;
  /** Streams open at once; beyond it new ones get 503 and the page keeps working without live updates. @defaultValue 10000 */
  maxClients?: number;
  /** Comment line sent this often so proxies keep the stream open. @defaultValue 25000 */
  heartbeatMs?: number;
}

/**
 * Live updates of the home page over SSE (`GET /live?v=VERSION`): whenever
 * what the page shows changes, every open page gets the new banner,
 * incidents, maintenance and components, rendered once for all of them. A
 * page that connects with an older version gets the current parts at once.
 */
export function liveRouter(options: LiveOptions): Router {
  const { snapshot, pages } = options;
  const log = options.log.child({ module: "web.live" });
  const maxClients = options.maxClients ?? 10_000;
  const clients = new Set<Response>();
  let frame: { version: number; text: string } | undefined;
  let lastShown: string | undefined;

  const frameFor = (current: Snapshot): string => {
    if (frame?.version !== current.version) frame = { version: current.version, text: eventText(pages.fragments(current)) };
    return frame.text;
  };

  // At most one push a second: a burst of changes goes out as its last state.
  const minGapMs = 1_000;
  let lastPushAt = 0;
  let pending: NodeJS.Timeout | undefined;
  const push = (): void => {
    pending = undefined;
    const current = snapshot.current();
    if (!current || clients.size === 0) return;
    lastPushAt = Date.now();
    const text = frameFor(current);
    for (const res of clients) res.write(text);
    log.debug({ version: current.version, clients: clients.size }, "live update sent");
  };
  snapshot.onChange((current) => {
    // Charts and tooltips move every few seconds; only a change people should see at once (a status, an uptime figure) goes out.
    const shown = `${current.summaryDigest}|${current.staleSince ?? ""}`;
    if (shown === lastShown) return;
    lastShown = shown;
    if (pending) return;
    const wait = lastPushAt + minGapMs - Date.now();
    if (wait <= 0) push();
    else pending = setTimeout(push, wait);
  });

  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(": keep-alive\n\n");
  }, options.heartbeatMs ?? 25_000);
  heartbeat.unref();

  const router = Router();
  router.get("/live", (req, res) => {
    if (clients.size >= maxClients) {
      res.status(503).set("retry-after", "30").json({ code: "too_many_streams", message: "live updates are at capacity; reload the page to see changes" });
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no", connection: "keep-alive" });
    res.write("retry: 3000\n\n");
    const current = snapshot.current();
    const seen = Number(req.query.v);
    if (current && seen !== current.version) res.write(frameFor(current));
    clients.add(res);
    req.on("close", () => clients.delete(res));
  });
  return router;
}

function eventText(live: LiveFragments): string {
  return `id: ${live.version}\nevent: update\ndata: ${JSON.stringify(live)}\n\n`;
}
