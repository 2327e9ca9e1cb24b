import { unwatchFile, watchFile } from "node:fs";
import { ConfigError, describeError, type Logger } from "../core/index.ts";
import { loadConfig, type LoadOptions } from "./load.ts";
import type { Config } from "./resolve.ts";

/** Settings that only take effect after a restart, by name; a change to them is reported, not applied. */
const RESTART_ONLY: Record<string, (c: Config) => unknown> = {
  locations: (c) => c.locations.map((l) => l.id).join(","),
  gateway: (c) => JSON.stringify(c.gateway),
  web: (c) => JSON.stringify(c.web),
  redis: (c) => JSON.stringify(c.redis),
  cache: (c) => JSON.stringify(c.cache),
  // The fleet driver (web's fleet pages, the playbook worker's steps) is made once, when the role starts.
  fleet: (c) => JSON.stringify(c.fleet),
};

/**
 * Reloads pulseboard.yaml when it changes on disk (polled every second, which
 * also catches editors that replace the file). A valid new config is handed
 * to the listeners; an invalid one is logged with its problems and ignored,
 * so a typo never takes a running service down.
 */
export class ConfigWatcher {
  private readonly listeners: ((config: Config) => void)[] = [];
  private watching = false;

  constructor(
    private current: Config,
    private readonly options: LoadOptions,
    private readonly log: Logger,
    private readonly intervalMs = 1_000,
  ) {}

  get config(): Config {
    return this.current;
  }

  /** Calls `listener` with every valid new config. */
  onChange(listener: (config: Config) => void): void {
    this.listeners.push(listener);
    if (!this.watching) {
      this.watching = true;
      watchFile(this.current.file, { interval: this.intervalMs, persistent: false }, (now, before) => {
        if (now.mtimeMs !== before.mtimeMs || now.size !== before.size) this.reload();
      });
    }
  }

  stop(): void {
    if (this.watching) unwatchFile(this.current.file);
    this.watching = false;
  }

  /** Loads the file again; listeners hear of it only when it is valid. */
  reload(): boolean {
    let next: Config;
    try {
      next = loadConfig({ ...this.options, file: this.current.file });
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [describeError(err)];
      this.log.error({ file: this.current.file, problems }, "configuration changed but is invalid; keeping the running one");
      return false;
    }
    const stale = Object.entries(RESTART_ONLY).flatMap(([name, pick]) => (pick(next) !== pick(this.current) ? [name] : []));
    if (stale.length > 0) this.log.warn({ sections: stale }, `${stale.join(", ")} settings changed: they take effect after a restart of the roles that use them`);
    this.current = next;
    this.log.info({ probes: next.probes.length }, "configuration reloaded");
    for (const listener of this.listeners) {
      try {
        listener(next);
      } catch (err) {
        this.log.error({ err: describeError(err) }, "applying the reloaded configuration failed");
      }
    }
    return true;
  }
}
