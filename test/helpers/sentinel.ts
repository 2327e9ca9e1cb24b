import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { findExecutable, sleep, type RedisSentinelTarget } from "../../src/core/index.ts";
import { freePortRange } from "./ports.ts";
import { waitFor } from "./wait.ts";

/** One redis-server of the group: a data node or a Sentinel. */
interface Server {
  port: number;
  dir: string;
  proc: ChildProcess;
  output: string[];
}

/**
 * A real Sentinel group on free ports of 127.0.0.1: a primary, one replica
 * (`replicaof`) and three Sentinels (`redis-server --sentinel`, quorum 2),
 * each in a temporary directory of its own. The Sentinels call a primary
 * down after 1 s of silence, so a failover takes a few seconds.
 */
export interface SentinelGroup {
  /** The master's name, as the Sentinels know it. */
  name: string;
  /** The data nodes' password (`requirepass`, `masterauth`). */
  password: string;
  /** The Sentinels' own password. */
  sentinelPassword: string;
  /** What REDIS_SENTINELS and REDIS_SENTINEL_NAME (and the passwords) say to reach the group. */
  target: RedisSentinelTarget;
  /** The same as environment variables, as `pulseboard` reads them. */
  env: Record<string, string>;
  /** The ports of the primary and the replica as started. */
  dataPorts: [number, number];
  /** The port the Sentinels name as the master now (asking each until one answers). */
  masterPort(): Promise<number>;
  /** SIGKILLs the data node the Sentinels name as master; resolves with its port. */
  killMaster(): Promise<number>;
  /**
   * SIGSTOPs the master: its sockets stay open and silent, as a hung host's
   * do. `resume()` lets it run again (the Sentinels then make it a replica).
   */
  freezeMaster(): Promise<{ port: number; resume(): void }>;
  /** Waits until the Sentinels know `count` replicas in good health, linked to the master: one of them can be promoted. */
  waitForReplicas(count: number, timeoutMs: number): Promise<void>;
  /** Waits until every Sentinel still running names another master than `formerPort` and that node says it is one; resolves with its port. */
  waitForNewMaster(formerPort: number, timeoutMs: number): Promise<number>;
  /** A client of the data node on `port` (closed by stop()). */
  client(port: number): Redis;
  /** The servers' last output lines, for a failure message. */
  output(): string;
  /** Stops every server and removes their directories. */
  stop(): Promise<void>;
}

export async function startSentinelGroup(options: { name?: string; password?: string; sentinelPassword?: string } = {}): Promise<SentinelGroup> {
  const binary = findExecutable("redis-server", process.env.PATH ?? "");
  if (!binary) throw new Error("redis-server is not installed: run `node scripts/system-deps.mjs redis-server`");
  const setpriv = findExecutable("setpriv", process.env.PATH ?? "");
  const name = options.name ?? "pulseboard-test";
  const password = options.password ?? "data-password-5b7e1c";
  const sentinelPassword = options.sentinelPassword ?? "sentinel-password-9a2f4d";
  const first = await freePortRange(5);
  const [primaryPort, replicaPort, ...sentinelPorts] = [first, first + 1, first + 2, first + 3, first + 4] as [number, number, number, number, number];
  const servers: Server[] = [];
  const clients: Redis[] = [];

  /** Starts redis-server on `port` in a directory of its own, with the arguments `argsIn(dir)` gives. */
  const launch = (port: number, role: string, argsIn: (dir: string) => string[]): Server => {
    const dir = mkdtempSync(path.join(os.tmpdir(), `pulseboard-sentinel-${role}-`));
    const args = argsIn(dir);
    // pdeathsig: a test process that dies outright takes its servers with it.
    const [command, argv] = setpriv ? [setpriv, ["--pdeathsig", "SIGKILL", "--", binary, ...args]] : [binary, args];
    const proc = spawn(command, argv, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    const server: Server = { port, dir, proc, output: [] };
    const keep = (chunk: Buffer) => server.output.push(...chunk.toString().split("\n").filter(Boolean).map((line) => `${role}: ${line}`));
    proc.stdout!.on("data", keep);
    proc.stderr!.on("data", keep);
    servers.push(server);
    return server;
  };
  const dataArgs = (port: number, replicaOf?: number) => (dir: string) => [
    "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
    "--requirepass", password, "--masterauth", password,
    ...(replicaOf ? ["--replicaof", "127.0.0.1", String(replicaOf)] : []),
  ];
  const byPort = new Map<number, Redis>();
  /** One client per server, kept: data nodes with their password, Sentinels with theirs. */
  const client = (port: number): Redis => {
    let redis = byPort.get(port);
    if (!redis) {
      const pass = sentinelPorts.includes(port) ? sentinelPassword : password;
      redis = new Redis({ host: "127.0.0.1", port, password: pass, maxRetriesPerRequest: 1, connectTimeout: 1_000, commandTimeout: 2_000, retryStrategy: () => 200 });
      redis.on("error", () => {});
      byPort.set(port, redis);
      clients.push(redis);
    }
    return redis;
  };
  const sentinelConf = (port: number, dir: string) =>
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
      `sentinel auth-pass ${name} ${password}`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`,
      `requirepass ${sentinelPassword}`,
      `sentinel sentinel-pass ${sentinelPassword}`,
      "",
    ].join("\n");
  const output = () => servers.flatMap((s) => s.output.slice(-15)).join("\n");
  const stop = async () => {
    for (const redis of clients) redis.disconnect();
    await Promise.all(
      servers.map(async (s) => {
        if (s.proc.exitCode === null && s.proc.signalCode === null) {
          s.proc.kill("SIGKILL");
          await new Promise((resolve) => s.proc.once("exit", resolve));
        }
        rmSync(s.dir, { recursive: true, force: true });
      }),
    );
  };

  try {
    launch(primaryPort, "primary", dataArgs(primaryPort));
    launch(replicaPort, "replica", dataArgs(replicaPort, primaryPort));
    await waitFor("the replica to sync with the primary", async () => /master_link_status:up/.test(await client(replicaPort).info("replication").catch(() => "")), 15_000, 100);
    for (const [i, port] of sentinelPorts.entries()) {
      launch(port, `sentinel-${i + 1}`, (dir) => {
        // Sentinel rewrites its config file, so each has one of its own, writable.
        const conf = path.join(dir, "sentinel.conf");
        writeFileSync(conf, sentinelConf(port, dir));
        return [conf, "--sentinel"];
      });
    }
    // Agreed: each Sentinel names the primary, knows the replica and both other Sentinels (needed to elect a leader).
    await waitFor("the Sentinels to agree on the primary, its replica and each other", async () => {
      for (const port of sentinelPorts) {
        const info = fieldsOf((await client(port).call("SENTINEL", "MASTER", name)) as string[]);
        if (info.port !== String(primaryPort) || info["num-slaves"] !== "1" || info["num-other-sentinels"] !== "2" || info.flags !== "master") return false;
      }
      return true;
    }, 30_000, 200);
  } catch (err) {
    const lines = output();
    await stop();
    throw new Error(`${(err as Error).message}\n${lines}`);
  }

  const masterPort = async (): Promise<number> => {
    for (const port of sentinelPorts) {
      const answer = (await client(port).call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name).catch(() => null)) as [string, string] | null;
      if (answer) return Number(answer[1]);
    }
    throw new Error("no Sentinel named a master");
  };
  const sentinels = sentinelPorts.map((port) => ({ host: "127.0.0.1", port }));
  return {
    name,
    password,
    sentinelPassword,
    target: { sentinels, name, password, sentinelPassword },
    env: {
      REDIS_SENTINELS: sentinels.map((s) => `${s.host}:${s.port}`).join(","),
      REDIS_SENTINEL_NAME: name,
      REDIS_PASSWORD: password,
      REDIS_SENTINEL_PASSWORD: sentinelPassword,
    },
    dataPorts: [primaryPort, replicaPort],
    masterPort,
    async killMaster() {
      const port = await masterPort();
      const server = servers.find((s) => s.port === port)!;
      server.proc.kill("SIGKILL");
      await new Promise((resolve) => server.proc.once("exit", resolve));
      return port;
    },
    async freezeMaster() {
      const port = await masterPort();
      const server = servers.find((s) => s.port === port)!;
      server.proc.kill("SIGSTOP");
      return { port, resume: () => void server.proc.kill("SIGCONT") };
    },
    async waitForReplicas(count, timeoutMs) {
      await waitFor(`${count} healthy replica(s) known to every Sentinel`, async () => {
        for (const port of sentinelPorts) {
          const replicas = (await client(port).call("SENTINEL", "REPLICAS", name)) as string[][];
          const healthy = replicas.map(fieldsOf).filter((r) => r.flags === "slave" && r["master-link-status"] === "ok");
          if (healthy.length < count) return false;
        }
        return true;
      }, timeoutMs, 200);
    },
    async waitForNewMaster(formerPort, timeoutMs) {
      return waitFor(`a Sentinel failover away from 127.0.0.1:${formerPort}`, async () => {
        const named = await Promise.all(sentinelPorts.map(async (port) => Number(((await client(port).call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)) as [string, string])[1])));
        const port = named[0]!;
        if (port === formerPort || named.some((p) => p !== port)) return false;
        const role = (await client(port).call("ROLE")) as [string];
        return role[0] === "master" ? port : false;
      }, timeoutMs, 50);
    },
    client: (port) => client(port),
    output,
    async stop() {
      await stop();
      // Give the kernel a moment to release the ports before another suite picks them.
      await sleep(50);
    },
  };
}

/** A Sentinel answer's flat field, value, field, value… list as a record. */
function fieldsOf(flat: string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i]!] = flat[i + 1]!;
  return record;
}
