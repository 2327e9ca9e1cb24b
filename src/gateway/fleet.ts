import cluster, { type Worker } from "node:cluster";
import type { Logger } from "../core/index.ts";
import { GatewayNode } from "./node.ts";

export interface FleetOptions {
  /** Number of nodes. */
  nodes: number;
  /** The port all nodes share. */
  port: number;
  /** Node i also listens alone on nodePortBase + i. */
  nodePortBase: number;
  host?: string;
  heartbeatMs: number;
  log: Logger;
}

/** Messages between the fleet's primary and its nodes. */
type ToNode = { type: "assign"; index: number } | { type: "stop" };
type FromNode = { type: "hello" } | { type: "ready"; index: number; port: number; ownPort?: number };

const RESTART_DELAY_MS = 500;

/**
 * The gateway fleet: a Node cluster whose workers are gateway nodes sharing
 * one port. The primary keeps `nodes` of them running and restarts a node
 * that dies; it never serves clients itself.
 */
export class GatewayFleet {
  private readonly workers = new Map<number, Worker>();
  private stopping = false;
  private readonly log: Logger;

  constructor(private readonly options: FleetOptions) {
    this.log = options.log.child({ module: "gateway.fleet" });
  }

  /** Forks every node; resolves when all of them listen. */
  async start(): Promise<void> {
    const ready = Array.from({ length: this.options.nodes }, (_, index) => this.fork(index));
    await Promise.all(ready);
    this.log.info({ nodes: this.options.nodes, port: this.options.port }, "gateway fleet ready");
  }

  /** Stops every node: each closes its clients with 1001 and exits. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.workers.values()].map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            const kill = setTimeout(() => worker.process.kill("SIGKILL"), 3_000);
            worker.once("exit", () => {
              clearTimeout(kill);
              resolve();
            });
            worker.send({ type: "stop" } satisfies ToNode);
          }),
      ),
    );
  }

  private fork(index: number): Promise<void> {
    const worker = cluster.fork();
    this.workers.set(index, worker);
    worker.on("exit", (code, signal) => {
      if (this.workers.get(index) !== worker || this.stopping) return;
      this.log.warn({ node: nodeId(index), code, signal }, "gateway node died; restarting it");
      setTimeout(() => {
        if (!this.stopping) this.fork(index).catch((err: Error) => this.log.error({ err: err.message }, "restart failed"));
      }, RESTART_DELAY_MS);
    });
    return new Promise((resolve, reject) => {
      worker.on("message", (message: FromNode) => {
        // The node asks for its index once it listens for messages; one sent earlier could be lost.
        if (message.type === "hello") worker.send({ type: "assign", index } satisfies ToNode);
        if (message.type === "ready") {
          this.log.info({ node: nodeId(index), pid: worker.process.pid, port: message.port, ownPort: message.ownPort }, "gateway node listening");
          resolve();
        }
      });
      worker.once("exit", (code) => reject(new Error(`gateway node ${index} exited with ${code} before it listened`)));
    });
  }
}

export function nodeId(index: number): string {
  return `node-${index}`;
}

/**
 * Runs inside a cluster worker: waits for the primary to assign an index,
 * starts that node and stops it when told to (or when the primary is gone).
 */
export function runFleetNode(options: Omit<FleetOptions, "nodes">): void {
  let node: GatewayNode | undefined;
  process.on("message", (message: ToNode) => {
    if (message.type === "assign") {
      node = new GatewayNode({
        nodeId: nodeId(message.index),
        port: options.port,
        ownPort: options.nodePortBase + message.index,
        host: options.host,
        heartbeatMs: options.heartbeatMs,
        log: options.log,
      });
      node.start().then(
        (ports) => process.send?.({ type: "ready", index: message.index, ...ports } satisfies FromNode),
        (err: Error) => {
          options.log.error({ err: err.message, node: nodeId(message.index) }, "gateway node could not listen");
          process.exit(1);
        },
      );
    }
    if (message.type === "stop") stop();
  });
  const stop = (): void => {
    void (node?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
  };
  // Ctrl-C reaches the whole process group; the primary coordinates that stop.
  process.on("SIGINT", () => {});
  // SIGTERM sent to this node alone stops it; the primary starts a fresh one.
  process.on("SIGTERM", stop);
  process.send?.({ type: "hello" } satisfies FromNode);
}

export const isFleetPrimary = (): boolean => cluster.isPrimary;
