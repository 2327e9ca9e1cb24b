import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { UpstreamError, freePort, processAlive, sleep, type Logger } from "../core/index.ts";

export interface EmbeddedRedisOptions {
  /** `control` (Pulseboard's own) or `cache` (the gateway's). */
  name: string;
  /** Path of redis-server. */
  binary: string;
  /** Data directory; created when missing. */
  dir: string;
  /** Append-only file on: every acknowledged write survives a kill. */
  persist: boolean;
  /** setpriv, to have the kernel stop Redis if this process dies. */
  setpriv?: string;
  log: Logger;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 4_000;
/** A hold-down longer than this is not honoured: a stale or mistaken file must not keep Redis down. */
const MAX_HOLD_DOWN_MS = 15 * 60_000;

/**
 * The file in an embedded Redis's data directory that asks the supervisor to
 * leave it down until a time (epoch ms), used by `pulseboard chaos` to
 * rehearse a Redis that dies and comes back later. The supervisor reads it
 * when the server dies and again every 250 ms while it waits, so shortening
 * or removing it brings the server back at once.
 */
export const HOLD_DOWN_FILE = "hold-down-until";

/** The data directory of the embedded Redis `name` (`control` or `cache`) under PULSEBOARD_HOME. */
export function embeddedRedisDir(home: string, name: "control" | "cache"): string {
  return path.join(home, "redis", name);
}

/** The URL of the embedded Redis `pulseboard start` runs from `dir`, from its pid file; undefined when none was started there. */
export function embeddedRedisUrl(dir: string): string | undefined {
  try {
    const { port } = JSON.parse(readFileSync(path.join(dir, "redis-server.pid"), "utf8")) as { port: number };
    return `redis://127.0.0.1:${port}`;
  } catch {
    return undefined;
  }
}

/** Until when (epoch ms) the server in `dir` is to stay down; undefined when it is not held. */
export function holdDownUntil(dir: string, now = Date.now()): number | undefined {
  try {
    const until = Number(readFileSync(path.join(dir, HOLD_DOWN_FILE), "utf8").trim());
    return Number.isFinite(until) && until > now && until - now <= MAX_HOLD_DOWN_MS ? until : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A redis-server started and owned by `pulseboard start`, on a free port of
 * 127.0.0.1. A leftover server from a run that was killed is stopped first
 * (its pid is kept in the data directory); one that dies on its own is
 * started again on the same port, so clients reconnect by themselves.
 */
export class EmbeddedRedis {
  private child?: ChildProcess;
  private port?: number;
  private stopping = false;
  private readonly output: string[] = [];
  private readonly log: Logger;
  private readonly pidFile: string;

  constructor(private readonly options: EmbeddedRedisOptions) {
    this.log = options.log.child({ module: "supervisor.redis", redis: options.name });
    this.pidFile = path.join(options.dir, "redis-server.pid");
  }

  get url(): string {
    if (this.port === undefined) throw new Error(`embedded ${this.options.name} Redis is not started`);
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<string> {
    mkdirSync(this.options.dir, { recursive: true });
    await this.stopLeftover();
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        await this.launch(port);
        this.log.info({ port, redis_pid: this.child?.pid, persist: this.options.persist, dir: this.options.dir }, "embedded redis-server ready");
        return this.url;
      } catch (err) {
        if (attempt >= 3 || !this.output.some((l) => /Address already in use/i.test(l))) throw err;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    rmSync(this.pidFile, { force: true });
  }

  private async launch(port: number): Promise<void> {
    this.output.length = 0;
    const args = [
      "--port", String(port),
      "--bind", "127.0.0.1",
      "--protected-mode", "yes",
      "--daemonize", "no",
      "--dir", this.options.dir,
      "--save", "",
      "--appendonly", this.options.persist ? "yes" : "no",
      "--appendfsync", "everysec",
      "--logfile", "",
      "--loglevel", "notice",
    ];
    const [command, commandArgs] = this.options.setpriv
      ? [this.options.setpriv, ["--pdeathsig", "SIGTERM", "--", this.options.binary, ...args]]
      : [this.options.binary, args];
    const child = spawn(command, commandArgs, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.port = port;
    const remember = (chunk: Buffer): void => {
      for (const line of chunk.toString().split("\n")) {
        if (!line.trim()) continue;
        this.output.push(line);
        if (this.output.length > 40) this.output.shift();
        this.log.debug({ line }, "redis-server");
      }
    };
    child.stdout?.on("data", remember);
    child.stderr?.on("data", remember);
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code, signal) =>
        reject(new UpstreamError(`embedded ${this.options.name} redis-server exited (${signal ?? code}) while starting:\n  ${this.output.slice(-5).join("\n  ")}`)),
      ),
    );
    exited.catch(() => {});
    child.once("error", (err) => this.output.push(err.message));
    await Promise.race([waitForPong(port, READY_TIMEOUT_MS), exited]);
    writeFileSync(this.pidFile, JSON.stringify({ pid: child.pid, port }));
    child.once("exit", (code, signal) => this.onExit(code, signal));
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return;
    if (code === 0) {
      // redis-server exits 0 when asked to (SIGTERM, SIGINT, SHUTDOWN): someone meant it.
      this.log.warn({ port: this.port }, "embedded redis-server was shut down; it stays down until pulseboard start is restarted");
      return;
    }
    this.log.error({ code, signal, last: this.output.slice(-3) }, "embedded redis-server died; starting it again on the same port");
    const port = this.port!;
    const retry = async (delay: number): Promise<void> => {
      await sleep(delay);
      await this.heldDown();
      if (this.stopping) return;
      try {
        await this.launch(port);
        this.log.info({ port }, "embedded redis-server is back");
      } catch (err) {
        this.log.error({ err: (err as Error).message }, "restarting redis-server failed; trying again");
        await retry(Math.min(delay * 2, 10_000));
      }
    };
    void retry(500);
  }

  /** Waits while a hold-down file asks for the server to stay down (see HOLD_DOWN_FILE). */
  private async heldDown(): Promise<void> {
    const until = holdDownUntil(this.options.dir);
    if (until === undefined) return;
    this.log.warn({ until: new Date(until).toISOString() }, "embedded redis-server held down on purpose (pulseboard chaos); it comes back then");
    while (!this.stopping && holdDownUntil(this.options.dir) !== undefined) await sleep(250);
    rmSync(path.join(this.options.dir, HOLD_DOWN_FILE), { force: true });
  }

  /** Stops a redis-server left running by a `start` that was killed. */
  private async stopLeftover(): Promise<void> {
    let pid: number;
    try {
      pid = (JSON.parse(readFileSync(this.pidFile, "utf8")) as { pid: number }).pid;
    } catch {
      return;
    }
    if (!processAlive(pid) || !isRedisServer(pid)) return;
    this.log.warn({ redis_pid: pid }, "stopping a redis-server left over from an earlier run");
    process.kill(pid, "SIGTERM");
    for (let waited = 0; waited < STOP_TIMEOUT_MS && processAlive(pid); waited += 100) await sleep(100);
    if (processAlive(pid)) process.kill(pid, "SIGKILL");
  }
}

function isRedisServer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("redis-server");
  } catch {
    return false;
  }
}

/** Resolves once a raw PING on the port answers +PONG. */
async function waitForPong(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pingOnce(port)) return;
    await sleep(50);
  }
  throw new UpstreamError(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

/** Whether a Redis on 127.0.0.1:`port` answers PING within half a second (no client library: the supervisor loads none). */
export function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => done(data.toString().startsWith("+PONG")));
  });
}
