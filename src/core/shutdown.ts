import type { Logger } from "pino";
import { describeError } from "./errors.ts";

/** Something a role started and must stop on shutdown. */
export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Runs `stop` for a role on SIGINT, SIGTERM, or the loss of the parent process
 * (the IPC channel closes when `pulseboard start` dies), then exits. A second
 * Ctrl-C, or a stop that takes longer than `graceMs`, exits at once; a
 * repeated SIGTERM (a group signal followed by the parent's own) is ignored.
 */
export function stopOnSignals(role: Stoppable, log: Logger, graceMs = 8_000): void {
  let stopping = false;
  const stop = (reason: string): void => {
    if (stopping) {
      if (reason !== "SIGINT") return;
      log.warn({ reason }, "second Ctrl-C; exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ reason }, "shutting down");
    const timer = setTimeout(() => {
      log.error({ graceMs }, "shutdown took too long; exiting");
      process.exit(1);
    }, graceMs);
    timer.unref();
    role.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: describeError(err) }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  if (process.send) process.on("disconnect", () => stop("parent process gone"));
}
