/**
 * The control-plane keys of heartbeat checks, under the config's Redis
 * prefix. One probe's keys share a hash tag, so they sit in one slot.
 */
export class HeartbeatKeys {
  constructor(readonly prefix: string) {}

  /** When the check last got a ping (any status), ms since the epoch. */
  lastPing(probe: string): string {
    return `${this.prefix}:heartbeat:{${probe}}:last-ping`;
  }

  /** When a worker first watched a check that was never pinged: its deadlines count from here. */
  firstSeen(probe: string): string {
    return `${this.prefix}:heartbeat:{${probe}}:first-seen`;
  }

  /**
   * Set (NX) by the worker that reports one missed deadline, so it is
   * reported once however many workers watch: `since` is the last ping (or
   * first sight), `n` counts the deadlines missed since then from 0.
   */
  missed(probe: string, since: number, n: number): string {
    return `${this.prefix}:heartbeat:{${probe}}:missed:${since}:${n}`;
  }
}
