import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { findExecutable, sleep, type RedisClusterTarget } from "../../src/core/index.ts";
import { freePortRange } from "./ports.ts";
import { waitFor } from "./wait.ts";

const run = promisify(execFile);

/** One redis-server of the cluster. */
interface Node {
  port: number;
  dir: string;
  proc: ChildProcess;
  output: string[];
}

/**
 * A real six-node Redis Cluster on free ports of 127.0.0.1: three primaries
 * and a replica of each, made with `redis-cli --cluster create`, each node
 * in a temporary directory of its own. Nodes call a silent peer failed after
 * `cluster-node-timeout` 1000 ms, so a failover takes a few seconds.
 */
export interface RedisClusterGroup {
  /** The nodes' password (`requirepass`, `masterauth`). */
  password: string;
  /** What REDIS_CLUSTER_NODES (and REDIS_PASSWORD) say to reach the cluster. */
  target: RedisClusterTarget;
  /** The same as environment variables, as `pulseboard` reads them (`prefix` "CACHE_" for the cache's). */
  env(prefix?: "" | "CACHE_"): Record<string, string>;
  /** The data ports of the six nodes, as started. */
  ports: number[];
  /** The port of the primary serving `key`'s slot now (asking the nodes still running). */
  primaryOf(key: string): Promise<number>;
  /** SIGKILLs the node on `port` (a primary, normally); resolves when it has exited. */
  kill(port: number): Promise<void>;
  /**
   * Waits until the slots `formerPort` served have a new primary that every
   * running node agrees on and the cluster says `cluster_state:ok`;
   * resolves with the new primary's port.
   */
  waitForFailover(formerPort: number, key: string, timeoutMs: number): Promise<number>;
  /** A client of the node on `port` (closed by stop()). */
  client(port: number): Redis;
  /** The nodes' last output lines, for a failure message. */
  output(): string;
  /** Stops every node and removes their directories. */
  stop(): Promise<void>;
}

export async function startRedisCluster(options: { password?: string } = {}): Promise<RedisClusterGroup> {
  const binary = findExecutable("redis-server", process.env.PATH ?? "");
  const cli = findExecutable("redis-cli", process.env.PATH ?? "");
  if (!binary || !cli) throw new Error("redis-server and redis-cli are not installed: run `node scripts/system-deps.mjs redis-server`");
  const setpriv = findExecutable("setpriv", process.env.PATH ?? "");
  const password = options.password ?? "cluster-password-3c8d2a";
  // Data ports and cluster-bus ports, both in the range freePortRange keeps below the ephemeral one.
  const first = await freePortRange(12);
  const ports = [0, 1, 2, 3, 4, 5].map((i) => first + i);
  const nodes: Node[] = [];
  const byPort = new Map<number, Redis>();

  const launch = (port: number, busPort: number): Node => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-cluster-"));
    const args = [
      "--port", String(port), "--cluster-port", String(busPort), "--bind", "127.0.0.1", "--dir", dir,
      "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
      "--save", "", "--appendonly", "no", "--requirepass", password, "--masterauth", password,
    ];
    // pdeathsig: a test process that dies outright takes its servers with it.
    const [command, argv] = setpriv ? [setpriv, ["--pdeathsig", "SIGKILL", "--", binary, ...args]] : [binary, args];
    const proc = spawn(command, argv, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    const node: Node = { port, dir, proc, output: [] };
    const keep = (chunk: Buffer) => node.output.push(...chunk.toString().split("\n").filter(Boolean).map((line) => `node ${port}: ${line}`));
    proc.stdout!.on("data", keep);
    proc.stderr!.on("data", keep);
    nodes.push(node);
    return node;
  };
  const client = (port: number): Redis => {
    let redis = byPort.get(port);
    if (!redis) {
      redis = new Redis({ host: "127.0.0.1", port, password, maxRetriesPerRequest: 1, connectTimeout: 1_000, commandTimeout: 2_000, retryStrategy: () => 200 });
      redis.on("error", () => {});
      byPort.set(port, redis);
    }
    return redis;
  };
  const running = () => nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
  const output = () => nodes.flatMap((n) => n.output.slice(-10)).join("\n");
  const stop = async () => {
    for (const redis of byPort.values()) redis.disconnect();
    await Promise.all(
      nodes.map(async (n) => {
        if (n.proc.exitCode === null && n.proc.signalCode === null) {
          n.proc.kill("SIGKILL");
          await new Promise((resolve) => n.proc.once("exit", resolve));
        }
        rmSync(n.dir, { recursive: true, force: true });
      }),
    );
  };
  const clusterInfo = async (port: number) => String(await client(port).call("CLUSTER", "INFO"));
  /** The primary's port that a node names for `slot` (CLUSTER SHARDS would do; CLUSTER SLOTS is older and enough). */
  const primaryFor = async (port: number, slot: number): Promise<number | undefined> => {
    const ranges = (await client(port).call("CLUSTER", "SLOTS")) as [number, number, [string, number, string]][];
    return ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
  };

  try {
    ports.forEach((port, i) => launch(port, first + 6 + i));
    await waitFor("the six nodes to answer", async () => {
      for (const port of ports) if ((await client(port).ping()) !== "PONG") return false;
      return true;
    }, 15_000, 100);
    await run(cli, ["-a", password, "--no-auth-warning", "--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "1", "--cluster-yes"], { timeout: 30_000 });
    await waitFor("every node to say cluster_state:ok and know all six", async () => {
      for (const port of ports) {
        const info = await clusterInfo(port);
        if (!/cluster_state:ok/.test(info) || !/cluster_known_nodes:6/.test(info) || !/cluster_slots_ok:16384/.test(info)) return false;
      }
      return true;
    }, 30_000, 200);
    // Each replica in sync with its primary, so a failover has a replica to promote.
    await waitFor("every replica to sync with its primary", async () => {
      let linked = 0;
      for (const port of ports) if (/master_link_status:up/.test(await client(port).info("replication"))) linked++;
      return linked === 3;
    }, 30_000, 200);
  } catch (err) {
    const lines = output();
    await stop();
    throw new Error(`${(err as Error).message}\n${lines}`);
  }

  const slotOf = async (key: string): Promise<number> => Number(await client(running()[0]!.port).call("CLUSTER", "KEYSLOT", key));
  const primaryOf = async (key: string): Promise<number> => {
    const slot = await slotOf(key);
    for (const node of running()) {
      const port = await primaryFor(node.port, slot).catch(() => undefined);
      // A node that has not yet heard of a failover still names the killed primary: ask the next.
      if (port && running().some((n) => n.port === port)) return port;
    }
    throw new Error(`no node named a primary for the slot of ${key}`);
  };
  const target: RedisClusterTarget = { clusterNodes: ports.slice(0, 3).map((port) => ({ host: "127.0.0.1", port })), password };
  return {
    password,
    target,
    env: (prefix = "") => ({
      [`${prefix}REDIS_CLUSTER_NODES`]: target.clusterNodes.map((n) => `${n.host}:${n.port}`).join(","),
      [`${prefix}REDIS_PASSWORD`]: password,
    }),
    ports,
    primaryOf,
    async kill(port) {
      const node = nodes.find((n) => n.port === port)!;
      if (node.proc.exitCode !== null || node.proc.signalCode !== null) return;
      node.proc.kill("SIGKILL");
      await new Promise((resolve) => node.proc.once("exit", resolve));
    },
    async waitForFailover(formerPort, key, timeoutMs) {
      const slot = await slotOf(key);
      return waitFor(`a cluster failover away from 127.0.0.1:${formerPort}`, async () => {
        const alive = running();
        const named = await Promise.all(alive.map((n) => primaryFor(n.port, slot)));
        const port = named[0];
        if (!port || port === formerPort || named.some((p) => p !== port)) return false;
        for (const n of alive) if (!/cluster_state:ok/.test(await clusterInfo(n.port))) return false;
        const role = (await client(port).call("ROLE")) as [string];
        return role[0] === "master" ? port : false;
      }, timeoutMs, 50);
    },
    client,
    output,
    async stop() {
      await stop();
      // Give the kernel a moment to release the ports before another suite picks them.
      await sleep(50);
    },
  };
}
