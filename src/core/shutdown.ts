import type { Logger } from "pino";
import { describeError } from "./errors.ts";

/** Something a role started and must stop on shutdown. */
export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Stops a role on SIGINT, SIGTERM, SIGHUP (the terminal it ran in closed) or
 * the loss of the parent process (the IPC channel closes when `pulseboard
 * start` dies), then exits. Listening starts
 * at once, so a signal that arrives while the role is still starting waits
 * for it to finish starting and then stops it. A second Ctrl-C, or a stop
 * that takes longer than `graceMs`, exits at once; a repeated SIGTERM (a group
 * signal followed by the parent's own) is ignored. A role that resolves to
 * nothing (it handles its own signals) releases the listeners.
 */
export function stopOnSignals(starting: Promise<Stoppable | undefined>, log: Logger, graceMs = 8_000): void {
  let stopping = false;
  const stop = (reason: string): void => {
    if (stopping) {
      if (reason !== "SIGINT") return;
      log.warn({ reason }, "second Ctrl-C; exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ reason }, "shutting down");
    setTimeout(() => {
      log.error({ graceMs }, "shutdown took too long; exiting");
      process.exit(1);
    }, graceMs).unref();
    starting
      .then((role) => role?.stop())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err: describeError(err) }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  const onInt = (): void => stop("SIGINT");
  const onTerm = (): void => stop("SIGTERM");
  const onHup = (): void => stop("SIGHUP");
  const onDisconnect = (): void => stop("parent process gone");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  process.on("SIGHUP", onHup);
  if (process.send) process.on("disconnect", onDisconnect);
  starting.then(
    (role) => {
      if (role || stopping) return;
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      process.off("SIGHUP", onHup);
      process.off("disconnect", onDisconnect);
    },
    () => {},
  );
}
