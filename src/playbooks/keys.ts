/** Every Redis key of the playbook engine, under the control plane's prefix. */
export class PlaybookKeys {
  readonly base: string;

  constructor(prefix: string) {
    this.base = `${prefix}:playbooks`;
  }

  /** A run's audit record (JSON). */
  run(id: string): string {
    return `${this.base}:run:${id}`;
  }
  /** Sorted set of every run id by creation time. */
  get runs(): string {
    return `${this.base}:runs`;
  }
  /** Sorted set of one playbook's run ids by creation time. */
  runsOf(playbook: string): string {
    return `${this.base}:runs:${playbook}`;
  }
  /** Sorted set of one playbook's recovery runs by start, trimmed to the max-runs window. */
  recent(playbook: string): string {
    return `${this.base}:recent:${playbook}`;
  }
  /**
   * Hash of one playbook's state: `active` (its run in progress), `last_ended_at`,
   * `tripped` (a failed run: held until the trigger clears), `restore_pending`,
   * `firing_since`, `clear_since`, `held`, `refused`.
   */
  state(playbook: string): string {
    return `${this.base}:state:${playbook}`;
  }
  /** Sorted set of held-back run ids (see `holds.ts`) by when the guard first held each. */
  get held(): string {
    return `${this.base}:held`;
  }
  /** Hash: held-back run id → its record (JSON). */
  get heldDocs(): string {
    return `${this.base}:held:docs`;
  }
  /** Hash: playbook id → "on" / "off", set through the admin API (beats pulseboard.yaml). */
  get overrides(): string {
    return `${this.base}:overrides`;
  }
  /** The execution lock of a target: `<run>:<token>`, expiring unless its holder renews it. */
  lock(target: string): string {
    return `${this.base}:lock:${target}`;
  }
  /** Hash of what a target remembers between runs (when it was last scaled). */
  memory(target: string): string {
    return `${this.base}:memory:${target}`;
  }
  /** Lease of the periodic trigger evaluation: one worker evaluates at a time. */
  get evaluator(): string {
    return `${this.base}:evaluator`;
  }
  /** HMAC key of approve links (random, made once). */
  get linkKey(): string {
    return `${this.base}:link-key`;
  }
  /** Marker that an approve link was used. */
  usedLink(nonce: string): string {
    return `${this.base}:link-used:${nonce}`;
  }
}
