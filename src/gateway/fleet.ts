import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import { AggregatorRegistry, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from "prom-client";
import type { GatewayConfig } from "../config/index.ts";
import { describeError, fromSource, LITE_MODE_FLAGS, sleep, type Logger } from "../core/index.ts";
import type { CacheMode } from "./broker.ts";
import { SWITCH_STEPS, type SwitchStep } from "./cache-modes.ts";
import type { FromNode, NodeLoad, NodeOp, NodeOps, NodeSettings, ToNode } from "./ipc.ts";
import { FaultsDisabled, type Fault } from "./faults.ts";
import type { NodeStats } from "./node.ts";
import { nodeId } from "./settings.ts";

export type NodeState = "starting" | "ready" | "draining" | "unresponsive" | "stopped";

export interface NodeSummary {
  id: string;
  index: number;
  pid: number | null;
  port: number;
  state: NodeState;
  connections: number | null;
  /** `closed` while it is full and new clients of the shared port go to nodes with room. */
  intake: "open" | "closed" | null;
  started_at: string;
  restarts: number;
}

export interface FleetStats {
  mode: CacheMode;
  total: { nodes: number; ready: number; connections: number; refusals: number; publishes_per_s: number; deliveries_per_s: number };
  nodes: (NodeSummary & { stats: NodeStats | null })[];
}

interface Handle {
  index: number;
  worker: Worker;
  state: NodeState;
  /** Liveness pings in a row that went unanswered. */
  misses: number;
  startedAt: number;
  restarts: number;
  lastStats?: NodeStats;
  /** What the last liveness ping said of its load. */
  load?: NodeLoad;
  /** Settles once the node listens (or failed to). */
  listening: Promise<void>;
}

/** A full node's intake reopens once it is below this share of its limit. */
const INTAKE_REOPEN = 0.95;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** A node that answers nothing within this, twice in a row, is unresponsive (frozen, or far behind). */
const PING_TIMEOUT_MS = 2_000;
const MISSES_TO_UNRESPONSIVE = 2;
const LIVENESS_MS = 1_000;
const DRAIN_TIMEOUT_MS = 4_000;
const READY_TIMEOUT_MS = 20_000;
const CRASH_RESTART_MS = 500;
/** How long a node may take over one step of a cache-mode switch (connecting to the cache and reading every channel's top, at most). */
const SWITCH_STEP_TIMEOUT_MS = 10_000;

/** What every node runs: its own small entry point, compiled or (in development) the source through tsx. */
const NODE_MAIN = fileURLToPath(new URL(fromSource ? "./node-main.ts" : "./node-main.js", import.meta.url));

/** The primary's Node options, with tsx's loader when the sources run uncompiled (bin/ registers it in-process). */
function nodeExecArgv(): string[] {
  // The primary may run in V8's lite mode (it relays little); nodes carry the traffic and keep the optimizing compiler.
  const argv = process.execArgv.filter((arg) => !LITE_MODE_FLAGS.includes(arg));
  return fromSource && !argv.some((arg) => arg.includes("tsx")) ? ["--import", import.meta.resolve("tsx"), ...argv] : argv;
}

/**
 * The gateway fleet: a Node cluster whose workers are gateway nodes sharing
 * one port. The primary keeps the nodes running (a node that crashes is
 * started again), watches that each still answers, and carries out the admin
 * API's orders: restart one node after draining it, rolling restart, scale,
 * cache mode, faults. It never serves clients itself.
 */
export class GatewayFleet {
  private readonly handles = new Map<number, Handle>();
  private readonly pending = new Map<number, Pending>();
  private nextRequest = 1;
  private mode: CacheMode;
  /** The cache-mode switch under way (switches run one after the other; nodes forked meanwhile wait for it). */
  private switching: Promise<unknown> = Promise.resolve();
  private stopping = false;
  private liveness?: NodeJS.Timeout;
  private readonly registry = new Registry();
  private readonly up: Gauge<"node">;
  private readonly restartsMetric: Counter<"node" | "reason">;
  private readonly log: Logger;
  private readonly settings: NodeSettings;

  constructor(
    private readonly gateway: GatewayConfig,
    cacheUrl: import("../core/index.ts").RedisTarget | undefined,
    log: Logger,
  ) {
    this.log = log.child({ module: "gateway.fleet" });
    this.mode = cacheUrl ? "normal" : "bypass";
    this.settings = { gateway, cacheUrl, logLevel: log.level };
    cluster.setupPrimary({ exec: NODE_MAIN, args: [], execArgv: nodeExecArgv() });
    this.up = new Gauge({ name: "pulseboard_gateway_node_up", help: "1 while a node answers the fleet", labelNames: ["node"], registers: [this.registry] });
    this.restartsMetric = new Counter({ name: "pulseboard_gateway_node_restarts_total", help: "Node restarts by reason", labelNames: ["node", "reason"], registers: [this.registry] });
  }

  get cacheMode(): CacheMode {
    return this.mode;
  }

  /** Forks every node; resolves when all of them listen. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.gateway.nodes }, (_, index) => this.fork(index)));
    this.liveness = setInterval(() => void this.checkLiveness(), LIVENESS_MS);
    this.liveness.unref();
    this.log.info({ nodes: this.gateway.nodes, port: this.gateway.port, mode: this.mode }, "gateway fleet ready");
  }

  /** Stops every node: each closes its clients with 1001 and exits. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.liveness);
    await Promise.all([...this.handles.values()].map((handle) => this.retire(handle, "stop")));
  }

  nodes(): NodeSummary[] {
    return [...this.handles.values()].sort((a, b) => a.index - b.index).map((h) => this.summary(h));
  }

  async stats(): Promise<FleetStats> {
    const nodes = await Promise.all(
      [...this.handles.values()]
        .sort((a, b) => a.index - b.index)
        .map(async (handle) => {
          const stats = await this.request(handle, "stats", {}, 1_000).catch(() => null);
          if (stats) handle.lastStats = stats;
          return { ...this.summary(handle), stats };
        }),
    );
    const live = nodes.flatMap((n) => (n.stats ? [n.stats] : []));
    const sum = (pick: (s: NodeStats) => number): number => Math.round(live.reduce((total, s) => total + pick(s), 0) * 10) / 10;
    return {
      mode: this.mode,
      total: {
        nodes: nodes.length,
        ready: nodes.filter((n) => n.state === "ready").length,
        connections: sum((s) => s.connections),
        refusals: sum((s) => s.refusals),
        publishes_per_s: sum((s) => s.rates.publishes_per_s),
        deliveries_per_s: sum((s) => s.rates.deliveries_per_s),
      },
      nodes,
    };
  }

  /**
   * Restarts one node: it stops taking clients and closes its own with 1012
   * (they reconnect to the others), exits, and a fresh node takes its place.
   * A node that cannot drain (frozen) is killed.
   */
  async restartNode(index: number, reason = "admin"): Promise<{ node: string; drained: number; took_ms: number }> {
    const handle = this.handleOf(index);
    const started = Date.now();
    const drained = await this.retire(handle, "drain");
    this.restartsMetric.inc({ node: nodeId(index), reason });
    await this.fork(index, handle.restarts + 1);
    return { node: nodeId(index), drained, took_ms: Date.now() - started };
  }

  /** Restarts every node, one after the other, each ready before the next goes. */
  async rollingRestart(): Promise<{ node: string; drained: number; took_ms: number }[]> {
    const done = [];
    for (const index of [...this.handles.keys()].sort((a, b) => a - b)) done.push(await this.restartNode(index, "rolling"));
    return done;
  }

  /** Adds nodes, or drains and removes the highest-numbered ones, to reach `count`. */
  async scale(count: number): Promise<NodeSummary[]> {
    if (!Number.isInteger(count) || count < 1 || count > 64) throw new RangeError("nodes must be a whole number from 1 to 64");
    const indices = [...this.handles.keys()].sort((a, b) => a - b);
    if (count > indices.length) {
      const next = (indices.at(-1) ?? -1) + 1;
      await Promise.all(Array.from({ length: count - indices.length }, (_, i) => this.fork(next + i)));
    } else {
      await Promise.all(indices.slice(count).map((index) => this.retire(this.handleOf(index), "drain")));
    }
    this.log.info({ nodes: count }, "gateway fleet scaled");
    return this.nodes();
  }

  /**
   * Switches every node's cache mode; no client connection is dropped and no
   * acknowledged message is lost, repeated or reordered. Every node takes one
   * step of the switch (SWITCH_STEPS) before any node takes the next, however
   * long one of them lags. Toward `normal`, a node that cannot reach the cache
   * keeps the whole fleet in bypass mode.
   */
  setCacheMode(mode: CacheMode): Promise<{ mode: CacheMode; nodes: Record<string, string> }> {
    const run = this.switching.then(() => this.switchEveryNode(mode));
    this.switching = run.catch(() => {});
    return run;
  }

  private async switchEveryNode(mode: CacheMode): Promise<{ mode: CacheMode; nodes: Record<string, string> }> {
    // A node still starting was told the mode before this switch: it switches with the others once it listens.
    await Promise.all([...this.handles.values()].map((handle) => handle.listening));
    const generation = Date.now();
    const outcomes = new Map<string, string>();
    const step = (step: SwitchStep) =>
      Promise.all(
        // A node leaving, or dead and about to be started again (after this switch, in the mode it reaches), takes no part.
        [...this.handles.values()].filter((handle) => handle.state !== "draining" && handle.state !== "stopped" && !handle.worker.isDead()).map(async (handle) => {
          const node = nodeId(handle.index);
          try {
            await this.request(handle, "cache-mode", { mode, step, generation }, SWITCH_STEP_TIMEOUT_MS);
            if (!outcomes.has(node)) outcomes.set(node, "ok");
          } catch (err) {
            if ((outcomes.get(node) ?? "ok") === "ok") outcomes.set(node, (err as Error).message);
          }
        }),
      );
    const started = Date.now();
    const from = this.mode;
    this.mode = mode;
    for (const next of SWITCH_STEPS) {
      await step(next);
      const unprepared = [...outcomes].filter(([, outcome]) => outcome !== "ok");
      if (next !== "prepare" || mode !== "normal" || unprepared.length === 0) continue;
      await step("abort");
      this.mode = from;
      const why = unprepared.map(([node, outcome]) => `${node}: ${outcome}`).join("; ");
      this.log.error({ mode, unprepared: why }, "gateway cache mode not switched: a node cannot use the cache, so every node stays in bypass mode");
      return { mode: from, nodes: Object.fromEntries([...outcomes].map(([node, outcome]) => [node, outcome === "ok" ? `stayed in ${from} mode (${why})` : outcome])) };
    }
    this.log.warn({ mode, took_ms: Date.now() - started, nodes: Object.fromEntries(outcomes) }, "gateway cache mode set");
    return { mode, nodes: Object.fromEntries(outcomes) };
  }

  async fault(index: number, fault: Fault): Promise<{ node: string; applied: string }> {
    if (!this.gateway.faults) throw new FaultsDisabled();
    const result = await this.request(this.handleOf(index), "fault", fault, 2_000);
    return { node: nodeId(index), applied: result.applied };
  }

  /** Prometheus text: every node's series (labelled by node) plus the fleet's own. */
  async metrics(): Promise<string> {
    const perNode = await Promise.all(
      [...this.handles.values()].map((handle) => this.request(handle, "metrics", {}, 1_000).catch(() => undefined)),
    );
    const aggregated = AggregatorRegistry.aggregate(perNode.filter(Boolean) as MetricObjectWithValues<MetricValue<string>>[][]);
    return Registry.merge([aggregated as Registry, this.registry]).metrics();
  }

  private summary(handle: Handle): NodeSummary {
    return {
      id: nodeId(handle.index),
      index: handle.index,
      pid: handle.worker.process.pid ?? null,
      port: this.gateway.nodePortBase + handle.index,
      state: handle.state,
      connections: handle.load?.connections ?? handle.lastStats?.connections ?? null,
      intake: handle.load ? (handle.load.intake ? "open" : "closed") : null,
      started_at: new Date(handle.startedAt).toISOString(),
      restarts: handle.restarts,
    };
  }

  private handleOf(index: number): Handle {
    const handle = this.handles.get(index);
    if (!handle) throw new NodeNotFound(index);
    return handle;
  }

  private async fork(index: number, restarts = 0): Promise<void> {
    // A node started during a cache-mode switch would start in a mode the others are only on their way to.
    await this.switching;
    const worker = cluster.fork();
    const handle: Handle = { index, worker, state: "starting", misses: 0, startedAt: Date.now(), restarts, listening: Promise.resolve() };
    this.handles.set(index, handle);
    worker.on("message", (message: FromNode) => this.onMessage(handle, message));
    worker.on("exit", (code, signal) => this.onExit(handle, code, signal));
    const listening = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${nodeId(index)} did not listen within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      worker.on("message", (message: FromNode) => {
        if (message.type !== "ready") return;
        clearTimeout(timer);
        resolve();
      });
      worker.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${nodeId(index)} exited with ${code} before it listened`));
      });
    });
    handle.listening = listening.catch(() => {});
    return listening;
  }

  private onMessage(handle: Handle, message: FromNode): void {
    switch (message.type) {
      case "hello":
        handle.worker.send({ type: "assign", index: handle.index, mode: this.mode, settings: this.settings } satisfies ToNode);
        return;
      case "ready":
        handle.state = "ready";
        this.up.set({ node: nodeId(handle.index) }, 1);
        this.log.info({ node: nodeId(handle.index), node_pid: handle.worker.process.pid, port: message.port, ownPort: message.ownPort }, "gateway node listening");
        return;
      case "relay":
        // Bypass mode: what one node published goes to every other node that runs.
        for (const other of this.handles.values()) {
          if (other !== handle && other.worker.isConnected() && (other.state === "ready" || other.state === "unresponsive")) other.worker.send(message satisfies ToNode);
        }
        return;
      case "reply": {
        const pending = this.pending.get(message.id);
        if (!pending) return;
        this.pending.delete(message.id);
        clearTimeout(pending.timer);
        if (message.ok) pending.resolve(message.result);
        else pending.reject(new Error(message.error));
        return;
      }
    }
  }

  private onExit(handle: Handle, code: number | null, signal: string | null): void {
    this.up.set({ node: nodeId(handle.index) }, 0);
    if (this.handles.get(handle.index) !== handle) return;
    if (handle.state === "draining" || this.stopping) {
      handle.state = "stopped";
      return;
    }
    this.log.warn({ node: nodeId(handle.index), code, signal }, "gateway node died; starting a fresh one");
    this.restartsMetric.inc({ node: nodeId(handle.index), reason: "crash" });
    setTimeout(() => {
      if (this.stopping || this.handles.get(handle.index) !== handle) return;
      this.fork(handle.index, handle.restarts + 1).catch((err: Error) => this.log.error({ err: err.message }, "restarting a gateway node failed"));
    }, CRASH_RESTART_MS);
  }

  /**
   * Takes a node out: drained (clients get 1012) or stopped (1001), killed
   * if it does not go in time. Resolves with how many clients it closed.
   */
  private async retire(handle: Handle, how: "drain" | "stop"): Promise<number> {
    // A node already seen answering nothing (frozen, its event loop stuck) would only be waited for twice over
    // (the drain, then its exit): kill it at once. Its clients are cut off from it either way.
    const unresponsive = handle.state === "unresponsive";
    handle.state = "draining";
    const exited = new Promise<void>((resolve) => {
      if (handle.worker.isDead()) resolve();
      else handle.worker.once("exit", () => resolve());
    });
    if (unresponsive && !handle.worker.isDead()) {
      this.log.warn({ node: nodeId(handle.index) }, "gateway node answers nothing; killing it without waiting for a drain");
      handle.worker.process.kill("SIGKILL");
      await exited;
      if (this.handles.get(handle.index) === handle) this.handles.delete(handle.index);
      return 0;
    }
    let drained = 0;
    if (how === "drain") {
      drained = await this.request(handle, "drain", {}, DRAIN_TIMEOUT_MS).then(
        (r) => r.closed,
        () => 0,
      );
    } else if (!handle.worker.isDead()) {
      handle.worker.send({ type: "stop" } satisfies ToNode);
    }
    const killed = await Promise.race([exited.then(() => false), sleep(DRAIN_TIMEOUT_MS).then(() => true)]);
    if (killed) {
      this.log.warn({ node: nodeId(handle.index) }, "gateway node did not stop in time; killing it");
      handle.worker.process.kill("SIGKILL");
      await exited;
    }
    if (this.handles.get(handle.index) === handle) this.handles.delete(handle.index);
    return drained;
  }

  private async checkLiveness(): Promise<void> {
    await Promise.all(
      [...this.handles.values()]
        .filter((h) => h.state === "ready" || h.state === "unresponsive")
        .map(async (handle) => {
          try {
            handle.load = await this.request(handle, "ping", {}, PING_TIMEOUT_MS);
            handle.misses = 0;
            if (handle.state === "unresponsive") {
              this.log.info({ node: nodeId(handle.index) }, "gateway node answers again");
              handle.state = "ready";
            }
            this.up.set({ node: nodeId(handle.index) }, 1);
          } catch {
            if (++handle.misses < MISSES_TO_UNRESPONSIVE || handle.state !== "ready") return;
            this.log.error({ node: nodeId(handle.index), misses: handle.misses }, "gateway node stopped answering (event loop blocked?)");
            handle.state = "unresponsive";
            this.up.set({ node: nodeId(handle.index) }, 0);
          }
        }),
    );
    await this.balanceIntake();
  }

  /**
   * Routes new clients of the shared port around full nodes: a ready node at
   * its limit stops taking them while another ready node has room, and takes
   * them again once it is below 95 % of its limit or nobody else has room
   * (then the full nodes refuse with 1013 and a retry hint, as each node's
   * safeguard says).
   */
  private async balanceIntake(): Promise<void> {
    const ready = [...this.handles.values()].filter((h) => h.state === "ready" && h.load);
    const hasRoom = (h: Handle) => h.load!.connections < h.load!.limit * INTAKE_REOPEN;
    await Promise.all(
      ready.map(async (handle) => {
        const load = handle.load!;
        const roomElsewhere = ready.some((other) => other !== handle && other.load!.intake && hasRoom(other));
        const open = load.connections >= load.limit ? !roomElsewhere : load.intake || hasRoom(handle) || !roomElsewhere;
        if (open === load.intake) return;
        try {
          load.intake = (await this.request(handle, "intake", { open }, PING_TIMEOUT_MS)).open;
          this.log.info({ node: nodeId(handle.index), intake: open ? "open" : "closed", connections: load.connections, limit: load.limit }, "gateway node intake from the shared port");
        } catch (err) {
          this.log.warn({ node: nodeId(handle.index), err: describeError(err) }, "cannot change the node's intake");
        }
      }),
    );
  }

  private request<Op extends NodeOp>(handle: Handle, op: Op, args: NodeOps[Op]["args"], timeoutMs: number): Promise<NodeOps[Op]["result"]> {
    return new Promise((resolve, reject) => {
      if (handle.worker.isDead() || !handle.worker.isConnected()) {
        reject(new Error(`${nodeId(handle.index)} is not running`));
        return;
      }
      const id = this.nextRequest++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${nodeId(handle.index)} did not answer ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      handle.worker.send({ type: "request", id, op, args } satisfies ToNode);
    });
  }
}

export class NodeNotFound extends Error {
  constructor(index: number) {
    super(`the fleet has no ${nodeId(index)}`);
    this.name = "NodeNotFound";
  }
}
