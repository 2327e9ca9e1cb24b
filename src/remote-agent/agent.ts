import { setTimeout as sleep } from "node:timers/promises";
import { describeError, type Logger, type Stoppable } from "../core/index.ts";
import type { ProbeRegistry } from "../probe-runtime/index.ts";
import { Backoff, ProblemStreak } from "./backoff.ts";
import { ResultBuffer } from "./buffer.ts";
import { AgentClient } from "./client.ts";
import { ResultPusher, type PushStats } from "./pusher.ts";
import { prepareConfig, type RemoteConfig } from "./remote-config.ts";
import { ProbeScheduler } from "./scheduler.ts";
import type { RemoteAgentSettings } from "./settings.ts";
import { AgentToken } from "./token.ts";
import { createTransport } from "./transport.ts";

/** A server clock this far off is worth a warning: results are stamped with the agent's clock. */
const SKEW_WARN_MS = 5_000;

export interface RemoteAgentOptions {
  settings: RemoteAgentSettings;
  registry: ProbeRegistry;
  log: Logger;
  /** Sent with every push as `agent`. */
  agent: { name: string; version: string };
  /** How often buffered results are pushed. @defaultValue 1000 */
  pushEveryMs?: number;
  /** First and longest delay between retries of a failed push or config pull. @defaultValue [1000, 30000] */
  backoffMs?: [first: number, max: number];
  /** Probe runs at once. @defaultValue 64 */
  concurrency?: number;
  /** How long one request may take. @defaultValue 15000 */
  requestTimeoutMs?: number;
  /** The bound of the last push at stop. @defaultValue 5000 */
  lastPushMs?: number;
}

/** A running remote agent. */
export interface RemoteAgent extends Stoppable {
  /** Settles when the first config is running. */
  readonly ready: Promise<void>;
  /** The results not yet taken by the server. */
  readonly buffer: ResultBuffer;
  readonly stats: PushStats;
  /** The probes running now. */
  probes(): string[];
}

/**
 * A location's agent that reaches the control plane over HTTP(S) only: it
 * pulls the location's probes (retrying until it gets them, then every
 * `poll_ms` with the ETag it has), runs them on its own clock, buffers the
 * results and pushes them in order. It answers at once; the first pull goes
 * on in the background, so a stop signal is obeyed while the server is
 * still out of reach.
 */
export function startRemoteAgent(options: RemoteAgentOptions): RemoteAgent {
  const { settings, registry } = options;
  const log = options.log.child({ module: "remote-agent", location: settings.location });
  const [firstMs, maxMs] = options.backoffMs ?? [1_000, 30_000];
  const token = new AgentToken(settings.token, log);
  const transport = createTransport(settings);
  const client = new AgentClient({ server: settings.server, location: settings.location, token, transport, requestTimeoutMs: options.requestTimeoutMs });
  const buffer = new ResultBuffer(settings.bufferSize);
  const pusher = new ResultPusher({ client, buffer, location: settings.location, agent: options.agent, log, everyMs: options.pushEveryMs, backoff: new Backoff(firstMs, maxMs) });
  /** Results the probes made since the start: with the server's count, what shows nothing was lost. */
  let made = 0;
  const scheduler = new ProbeScheduler({
    location: settings.location,
    log,
    concurrency: options.concurrency,
    onResult(result) {
      made++;
      // The first drop since the last accepted push is told; the count goes to the server with the next push.
      if (buffer.add(result) > 0 && buffer.dropped === 1) log.warn({ capacity: buffer.capacity }, "the result buffer is full: dropping the oldest results until the server takes them (--buffer sets its size)");
      pusher.wake();
    },
  });
  const halt = new AbortController();
  const pollStreak = new ProblemStreak();
  let etag: string | undefined;
  let pollMs = 30_000;
  let pollTimer: NodeJS.Timeout | undefined;

  log.info(
    { server: settings.server.href, proxy: transport.proxy, ca: transport.ca, tokenFrom: token.source, buffer: settings.bufferSize },
    `remote agent starting: server ${settings.server.href}, proxy: ${transport.proxy}, CA: ${transport.ca}`,
  );
  if (settings.server.protocol === "http:" && !["127.0.0.1", "localhost", "[::1]"].includes(settings.server.hostname)) {
    log.warn({ server: settings.server.href }, "the server URL is plain http: the agent token and results travel unencrypted; use https");
  }

  function apply(config: RemoteConfig, tag: string | undefined): void {
    etag = tag;
    pollMs = config.poll_ms;
    pusher.batchMax = config.batch_max;
    if (config.location.id !== settings.location) log.warn({ served: config.location.id }, "the server sent the config of another location");
    const skewMs = config.server_time ? Date.now() - Date.parse(config.server_time) : 0;
    if (Math.abs(skewMs) > SKEW_WARN_MS) log.warn({ skewMs }, "this machine's clock differs from the server's; results carry this machine's times");
    const prepared = prepareConfig(config, registry);
    for (const problem of prepared.problems) log.warn({ problem }, `probe not run: ${problem}`);
    scheduler.update(prepared);
    log.info({ probes: scheduler.probes(), notRun: prepared.problems.length, pollMs, batchMax: config.batch_max }, "running the probe config");
  }

  async function firstPull(): Promise<void> {
    const backoff = new Backoff(firstMs, maxMs);
    for (;;) {
      try {
        const answer = await client.config(undefined, halt.signal);
        if (answer.changed) return apply(answer.config, answer.etag);
      } catch (err) {
        if (halt.signal.aborted) throw err;
        const delayMs = backoff.next();
        log.warn({ retryInMs: delayMs }, `cannot get the probe config yet: ${describeError(err)}; retrying in ${Math.round(delayMs / 100) / 10} s`);
        await sleep(delayMs, undefined, { signal: halt.signal });
      }
    }
  }

  async function poll(): Promise<void> {
    try {
      const answer = await client.config(etag, halt.signal);
      if (pollStreak.end()) log.info("the probe config can be pulled again");
      if (answer.changed) apply(answer.config, answer.etag);
      else log.debug({ etag }, "probe config unchanged");
    } catch (err) {
      if (halt.signal.aborted) return;
      if (pollStreak.first(String((err as { code?: unknown }).code))) log.warn({ err: describeError(err) }, "cannot pull the probe config; running the probes it had");
    }
    if (!halt.signal.aborted) pollTimer = setTimeout(() => void poll(), pollMs);
  }

  const ready = firstPull().then(() => {
    if (halt.signal.aborted) return;
    pusher.start();
    pollTimer = setTimeout(() => void poll(), pollMs);
  });
  ready.catch(() => {});

  return {
    ready,
    buffer,
    stats: pusher.stats,
    probes: () => scheduler.probes(),
    async stop() {
      const budgetMs = options.lastPushMs ?? 5_000;
      const started = Date.now();
      halt.abort();
      clearTimeout(pollTimer);
      scheduler.stop();
      // What the runs going on measure is worth sending too, if they finish in the first part of the budget.
      const waitMs = Math.floor(budgetMs * 0.4);
      await Promise.race([scheduler.idle(), sleep(waitMs, undefined, { ref: false })]);
      const left = await pusher.stop(budgetMs - (Date.now() - started));
      await client.close().catch(() => undefined);
      log.info({ made, ...pusher.stats, left }, "remote agent stopped");
    },
  };
}
