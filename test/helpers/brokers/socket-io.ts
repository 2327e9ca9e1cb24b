import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { freePortRange } from "../ports.ts";
import { startRedis, type TestRedis } from "../redis.ts";
import type { BrokerHarness } from "./types.ts";

const APP = fileURLToPath(new URL("../../../examples/socketio-app/server.mjs", import.meta.url));
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

export interface SocketIoOptions {
  /** App processes; two share a Redis through @socket.io/redis-adapter. */
  nodes: 1 | 2;
  /** The APP_TOKEN every client must send as auth.token; "" checks none. @defaultValue a fresh random one */
  token?: string;
  /** MAX_CLIENTS of every node: connections beyond it are refused with connect_error "server full". @defaultValue no limit */
  maxClients?: number;
  /**
   * A Redis for the adapter instead of one started here. With one node it
   * turns the Redis adapter on there too. @defaultValue two nodes: a
   * redis-server of their own; one node: none (the in-memory adapter)
   */
  redisUrl?: string;
}

/** The Socket.IO example app (examples/socketio-app/server.mjs) running as real node processes, one per node. */
export interface SocketIoHarness extends BrokerHarness {
  protocol: "socket.io";
  settings: { protocol: "socket.io"; url: string; auth?: { token: string } };
  /** Per node: its http:// URL. */
  urls: string[];
  token: string;
  /** The redis-server this harness started for the adapter, for a test to pause or stop; throws when it started none (one node, or `redisUrl` given). */
  readonly redis: TestRedis;
  /** Per node: its process id. */
  pids: number[];
  /** What node `i` printed so far (stdout and stderr). */
  output(node: number): string;
}

/** Starts the app for a suite: `before(async () => (app = await startSocketIo({ nodes: 2 })))`. */
export async function startSocketIo(options: SocketIoOptions): Promise<SocketIoHarness> {
  const token = options.token ?? randomBytes(12).toString("hex");
  const redis = options.nodes === 2 && !options.redisUrl ? await startRedis() : undefined;
  const redisUrl = options.redisUrl ?? redis?.url;
  const nodes: AppNode[] = [];
  try {
    const first = await freePortRange(options.nodes);
    for (let i = 0; i < options.nodes; i++) {
      nodes.push(
        await launch({
          PORT: String(first + i),
          HOST: "127.0.0.1",
          NODE_ID: `node-${i}`,
          REDIS_URL: redisUrl ?? "",
          APP_TOKEN: token,
          MAX_CLIENTS: options.maxClients === undefined ? "" : String(options.maxClients),
        }),
      );
    }
  } catch (err) {
    await Promise.all(nodes.map((node) => node.end("SIGKILL")));
    await redis?.stop();
    throw err;
  }

  const urls = nodes.map((node) => node.url);
  const settings = { protocol: "socket.io" as const, url: urls[0]!, ...(token ? { auth: { token } } : {}) };
  return {
    protocol: "socket.io",
    settings,
    urls,
    token,
    get redis(): TestRedis {
      if (!redis) throw new Error("this Socket.IO harness started no Redis: it does for two nodes without a redisUrl");
      return redis;
    },
    pids: nodes.map((node) => node.child.pid!),
    nodes: options.nodes === 2 ? urls : undefined,
    wrongAuth: token ? { settings: { ...settings, auth: { token: `wrong-${token}` } }, phase: "handshake", error: /connect_error "invalid token"/ } : undefined,
    resume: !redisUrl,
    output: (i) => nodes[i]!.output.join(""),
    async kill() {
      await Promise.all(nodes.map((node) => node.end("SIGKILL")));
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.end("SIGTERM")));
      await redis?.stop();
    },
  };
}

interface AppNode {
  url: string;
  child: ChildProcess;
  output: string[];
  end(signal: NodeJS.Signals): Promise<void>;
}

/** Spawns one node of the app and waits for its `listening <port>` line. */
async function launch(env: Record<string, string>): Promise<AppNode> {
  const child = spawn(process.execPath, [APP], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  child.stdout!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${env.NODE_ID} of the Socket.IO app did not listen within ${READY_TIMEOUT_MS} ms: ${output.join("")}`)), READY_TIMEOUT_MS);
      child.stdout!.on("data", () => /^listening \d+$/m.test(output.join("")) && (clearTimeout(timer), resolve()));
      child.once("exit", (code, signal) => (clearTimeout(timer), reject(new Error(`${env.NODE_ID} of the Socket.IO app exited (${signal ?? code}): ${output.join("")}`))));
    });
  } catch (err) {
    await end("SIGKILL");
    throw err;
  }
  return { url: `http://127.0.0.1:${env.PORT}`, child, output, end };
}
