import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Config } from "../config/index.ts";
import type { Logger } from "../core/index.ts";
import { describeError } from "../core/index.ts";
import type { ChangeEvent, Incident, Maintenance, StatusContext, StatusSummary } from "../status/index.ts";
import { readPageHistory, readPageSummary, type PageData, type PageHistory } from "./page-data.ts";
import { uptimeText } from "./page-views.ts";

export interface SnapshotOptions {
  /** Reads what changes with incidents and components. */
  read: () => Promise<{ summary: StatusSummary; maintenances: Maintenance[] }>;
  /** Reads uptime bars and charts. @defaultValue none (empty bars and no charts) */
  readHistory?: () => Promise<PageHistory>;
  /** Calls back on every change the pipeline announces (with its message); returns an unsubscribe. */
  subscribe?: (onChange: (message?: string) => void) => Promise<() => Promise<void>>;
  /** Re-read at least this often, in case an announcement was missed. @defaultValue 5000 */
  refreshMs?: number;
  /** Re-read uptime and charts this often. @defaultValue 30000 */
  historyMs?: number;
  /** Where the disk copy lives, served after a restart while the store is unreachable. @defaultValue no disk copy */
  file?: string;
  log: Logger;
}

export interface Snapshot {
  /** Increases whenever anything shown changes; names the rendering of this copy. */
  version: number;
  data: PageData;
  /** Shortcut to data.summary. */
  summary: StatusSummary;
  /** When the store could last be read; set only while it cannot. */
  staleSince?: string;
  /** Digest of what a person would see change (statuses, uptime figures, incidents, maintenance): live updates go out when it changes. */
  summaryDigest: string;
}

const EMPTY_HISTORY: PageHistory = { uptime: {}, charts: [], read_at: new Date(0).toISOString() };

/**
 * The status page's in-memory copy of everything it shows, refreshed on every
 * change the pipeline announces and every few seconds, with a copy on disk.
 * When the store cannot be read, the last good copy (or, after a restart, the
 * disk copy) keeps being served and says since when it is stale. Pages and
 * JSON are rendered from it once per version, never per request.
 */
export class SnapshotService {
  private snapshot?: Snapshot;
  private history?: PageHistory;
  private historyAt = 0;
  /** Set by a change announcement; cleared when a read of the history starts, so a change during a read is read again. */
  private historyWanted = false;
  private lastGoodAt?: string;
  private timer?: NodeJS.Timeout;
  private unsubscribe?: () => Promise<void>;
  private refreshing?: Promise<void>;
  private again = false;
  private readonly listeners = new Set<(snapshot: Snapshot) => void>();
  private readonly announced = new Set<(event: ChangeEvent) => void>();
  private readonly log: Logger;

  constructor(private readonly options: SnapshotOptions) {
    this.log = options.log.child({ module: "web.snapshot" });
  }

  /** A snapshot service reading a status store the usual way. */
  static forStore(ctx: StatusContext, config: () => Config, options: Omit<SnapshotOptions, "read" | "readHistory">): SnapshotService {
    return new SnapshotService({ ...options, read: () => readPageSummary(ctx), readHistory: () => readPageHistory(ctx, config()) });
  }

  async start(): Promise<void> {
    await this.refresh();
    if (!this.snapshot) this.loadDiskCopy();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs ?? 5_000);
    this.timer.unref();
    if (this.options.subscribe) {
      try {
        this.unsubscribe = await this.options.subscribe((message) => {
          void this.refresh({ history: true });
          const event = parseChangeEvent(message);
          if (event) for (const listener of this.announced) listener(event);
        });
      } catch (err) {
        this.log.warn({ err: describeError(err) }, "cannot subscribe to change events; refreshing on a timer only");
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.listeners.clear();
    this.announced.clear();
    await this.unsubscribe?.();
  }

  current(): Snapshot | undefined {
    return this.snapshot;
  }

  /** Calls back with every new version; returns a function that stops it. */
  onChange(listener: (snapshot: Snapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Calls back with every change the pipeline announces, whether or not
   * customers see it (a draft, an on-call-only entry): the console's live
   * stream. Returns a function that stops it.
   */
  onAnnounced(listener: (event: ChangeEvent) => void): () => void {
    this.announced.add(listener);
    return () => this.announced.delete(listener);
  }

  /** Re-reads the store; concurrent calls coalesce into one read plus one more. */
  refresh(options: { history?: boolean } = {}): Promise<void> {
    if (options.history) this.historyWanted = true;
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = this.readOnce().finally(() => {
      this.refreshing = undefined;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.refreshing;
  }

  private async readOnce(): Promise<void> {
    try {
      const [{ summary, maintenances }, history] = await Promise.all([this.options.read(), this.readHistory()]);
      if (this.snapshot?.staleSince) this.log.info("store reachable again; snapshot is fresh");
      this.lastGoodAt = summary.generated_at;
      this.publish({ summary, maintenances, history }, undefined);
    } catch (err) {
      if (this.snapshot && !this.snapshot.staleSince) {
        this.log.warn({ err: describeError(err) }, "cannot read the store; serving the last snapshot as stale");
        this.publish(this.snapshot.data, this.lastGoodAt ?? this.snapshot.summary.generated_at);
      } else if (!this.snapshot) {
        this.log.warn({ err: describeError(err) }, "cannot read the store yet");
      }
    }
  }

  private async readHistory(): Promise<PageHistory> {
    // While something is down its uptime falls by the second: read it with every refresh, not every 30 s.
    const unwell = this.snapshot?.summary.components.some((c) => c.status !== "operational" && c.status !== "under_maintenance") ?? false;
    const every = unwell ? Math.min(this.options.refreshMs ?? 5_000, this.options.historyMs ?? 30_000) : (this.options.historyMs ?? 30_000);
    if (!this.options.readHistory) return EMPTY_HISTORY;
    if (this.history && !this.historyWanted && Date.now() - this.historyAt < every) return this.history;
    this.historyWanted = false;
    const startedAt = Date.now();
    try {
      this.history = await this.options.readHistory();
    } catch (err) {
      this.historyWanted = true;
      throw err;
    }
    this.historyAt = startedAt;
    return this.history;
  }

  /** Takes new data as the current snapshot when anything shown differs. */
  private publish(data: PageData, staleSince: string | undefined): void {
    const summaryDigest = shownDigest(data);
    const fullDigest = digest({ ...data.summary, generated_at: undefined }, data.maintenances, data.history.uptime, data.history.charts);
    const previous = this.snapshot;
    if (previous && previous.staleSince === staleSince && this.fullDigest === fullDigest) return;
    this.fullDigest = fullDigest;
    this.snapshot = { version: (previous?.version ?? 0) + 1, data, summary: data.summary, staleSince, summaryDigest };
    if (!staleSince) this.writeDiskCopy(data);
    for (const listener of this.listeners) {
      try {
        listener(this.snapshot);
      } catch (err) {
        this.log.warn({ err: describeError(err) }, "snapshot listener failed");
      }
    }
  }

  private fullDigest?: string;

  private writeDiskCopy(data: PageData): void {
    const file = this.options.file;
    if (!file) return;
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      const temporary = `${file}.${process.pid}.tmp`;
      writeFileSync(temporary, JSON.stringify(data));
      renameSync(temporary, file);
    } catch (err) {
      this.log.warn({ err: describeError(err), file }, "cannot write the snapshot's disk copy");
    }
  }

  /** After a restart with the store unreachable: the disk copy, stale since it was read. */
  private loadDiskCopy(): void {
    const file = this.options.file;
    if (!file) return;
    try {
      const data = JSON.parse(readFileSync(file, "utf8")) as PageData;
      if (!data?.summary?.components || !data.history) throw new Error("not a snapshot written by this version");
      this.lastGoodAt = data.summary.generated_at;
      this.publish(data, data.summary.generated_at);
      this.log.warn({ file, since: data.summary.generated_at }, "store unreachable at start; serving the disk copy of the snapshot as stale");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.log.warn({ err: describeError(err), file }, "cannot read the snapshot's disk copy");
    }
  }
}

/**
 * What a person looking at the page would notice changing: statuses, the
 * banner, uptime figures and day colours, incidents and maintenance, not a
 * probe's latest reason or time.
 */
function shownDigest(data: PageData): string {
  const summary = data.summary;
  return digest(
    summary.indicator,
    summary.components.map((c) => c.status),
    Object.entries(data.history.uptime).map(([id, days]) => [id, uptimeText(days), days.map((d) => d.worst)]),
    // The public view of each incident, not its revision: an on-call-only entry moves the revision and shows customers nothing.
    summary.unresolved.map(shownIncident),
    summary.recent.slice(0, 5).map(shownIncident),
    summary.maintenances.map((m) => [m.id, m.revision]),
  );
}

function shownIncident({ revision: _revision, ...shown }: Incident): Omit<Incident, "revision"> {
  return shown;
}

function digest(...parts: unknown[]): string {
  return createHash("sha1").update(JSON.stringify(parts)).digest("base64url");
}

/** A change announcement's message, or undefined when it is not one. */
function parseChangeEvent(message: string | undefined): ChangeEvent | undefined {
  if (!message) return undefined;
  try {
    const event = JSON.parse(message) as Partial<ChangeEvent>;
    return typeof event.type === "string" && typeof event.id === "string" ? (event as ChangeEvent) : undefined;
  } catch {
    return undefined;
  }
}
