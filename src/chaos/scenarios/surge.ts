import WebSocket from "ws";
import { openFileLimit, sleep } from "../../core/index.ts";
import type { AdminStats } from "../../fleet/index.ts";
import { ChaosUsageError, type ChaosContext, type ChaosScenario } from "../types.ts";

/** Connections the chaos process leaves itself room for: it needs a few files of its own. */
const OWN_FILES_RESERVE = 200;

/**
 * Thousands of clients connect at once, beyond what the fleet accepts (the
 * virtual event where the WebSocket servers halted): opens connections to
 * the gateway's shared URL at `rate` per second, holds every one that got
 * in for the duration, and closes them all at the end (or on Ctrl-C).
 * Refused clients (close 1013, the safeguard) are counted, not retried.
 */
export const surge: ChaosScenario = {
  name: "surge",
  description: "thousands of clients connect at once, beyond the fleet's capacity (the virtual event where the WebSocket servers halted)",
  defaultDurationMs: 45_000,
  async run(ctx: ChaosContext): Promise<string> {
    const stats = await ctx.target.fleet.get<AdminStats>("/stats", ctx.signal);
    const limit = stats.nodes.reduce((sum, n) => sum + (n.stats?.safeguard.limit ?? 0), 0);
    const room = openFileRoom();
    // Beyond what the fleet accepts; a fleet that does not say gets a thousand.
    const wanted = ctx.options.connections ?? (limit > 0 ? Math.ceil(limit * 1.2) : 1_000);
    const count = Math.min(wanted, room);
    if (count < 1) throw new ChaosUsageError("this process may not open another file: raise its open-file limit (ulimit -n)");
    if (count < wanted) ctx.note(`opening ${count} connections, not ${wanted}: this process may open only ${room} more files (raise ulimit -n for more)`);
    const rate = ctx.options.rate ?? 1_000;
    const sockets = new Set<WebSocket>();
    const tally = { welcomed: 0, refused: 0, failed: 0, dropped: 0 };
    const started = Date.now();
    ctx.note(`surging: ${count} connections at ${rate}/s to ${ctx.target.gatewayUrl} (the fleet accepts ${limit || "an unknown number"}), held for ${Math.round(ctx.options.durationMs / 1000)} s`);
    try {
      for (let i = 0; i < count && !ctx.signal.aborted && Date.now() - started < ctx.options.durationMs; i++) {
        sockets.add(connect(ctx.target.gatewayUrl, tally, sockets));
        const due = started + ((i + 1) * 1000) / rate;
        if (due > Date.now()) await sleep(due - Date.now());
        if (i % 100 === 0) ctx.progress(`${i + 1}/${count} opened, ${tally.welcomed} in, ${tally.refused} refused, ${tally.failed} failed`);
      }
      await ctx.hold(ctx.options.durationMs - (Date.now() - started), () => {
        ctx.progress(`holding ${tally.welcomed - tally.dropped} connections, ${tally.refused} refused, ${tally.failed} failed`);
        return false;
      });
    } finally {
      for (const socket of sockets) socket.terminate();
    }
    return `opened ${count} connections: ${tally.welcomed} got in, ${tally.refused} were refused by the safeguard (1013), ${tally.failed} failed, ${tally.dropped} were dropped while held`;
  },
};

function connect(url: string, tally: { welcomed: number; refused: number; failed: number; dropped: number }, sockets: Set<WebSocket>): WebSocket {
  const socket = new WebSocket(url, { handshakeTimeout: 10_000, perMessageDeflate: false });
  let welcomed = false;
  socket.on("message", (raw) => {
    if (welcomed) return;
    if ((JSON.parse(raw.toString()) as { type?: string }).type === "welcome") {
      welcomed = true;
      tally.welcomed++;
    }
  });
  socket.on("close", (code) => {
    sockets.delete(socket);
    if (welcomed) tally.dropped++;
    else if (code === 1013) tally.refused++;
    else tally.failed++;
  });
  socket.on("error", () => {});
  return socket;
}

/** How many more files this process may open (its soft limit less what it holds and a reserve). */
function openFileRoom(): number {
  return Math.max(0, (openFileLimit() ?? 1_024) - process.getActiveResourcesInfo().length - OWN_FILES_RESERVE);
}
