import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freePortRange } from "../ports.ts";
import type { BrokerHarness } from "./types.ts";

/** The bearer a harness's server wants unless told otherwise. */
export const PLAIN_WS_TOKEN = "plain-ws-token-for-tests";

const SERVER = fileURLToPath(new URL("./plain-websocket-server.mjs", import.meta.url));

export interface PlainWebSocketOptions {
  /**
   * `echo` answers every frame with itself; `speaks-first` sends
   * `{"type":"hello","server":"demo"}` on connect, then echoes; `chat`
   * answers a JSON message with `{"type":"ack","id":<its id>,"received":<it>}`
   * and anything else with `{"type":"error",…}`.
   * @defaultValue "echo"
   */
  mode?: "echo" | "speaks-first" | "chat";
  /** The bearer the upgrade needs (else HTTP 401); "" for none. @defaultValue PLAIN_WS_TOKEN */
  token?: string;
  /** Clients beyond this many are upgraded and closed at once with 1013 "server full, retry after 2000 ms". @defaultValue no limit */
  maxClients?: number;
}

/** A plain WebSocket server (test/helpers/brokers/plain-websocket-server.mjs) as the conformance suite drives it. */
export interface PlainWebSocketHarness extends BrokerHarness {
  url: string;
  port: number;
  pid: number;
  /** Locks (or unlocks) the server's safeguard: new connections are dropped, connected clients go on (SIGUSR2). */
  toggleLock(): Promise<"locked" | "unlocked">;
}

/** Starts a `ws` server in a child process on a free 127.0.0.1 port and waits until it listens. */
export async function startPlainWebSocket(options: PlainWebSocketOptions = {}): Promise<PlainWebSocketHarness> {
  const token = options.token ?? PLAIN_WS_TOKEN;
  const port = await freePortRange(1);
  const child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, PORT: String(port), MODE: options.mode ?? "echo", TOKEN: token, MAX_CLIENTS: options.maxClients === undefined ? "" : String(options.maxClients) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (!running()) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the plain WebSocket server did not listen within 10 s: ${output.join("")}`)), 10_000);
      child.stdout!.on("data", (chunk: Buffer) => {
        output.push(chunk.toString());
        if (output.join("").includes("listening ")) (clearTimeout(timer), resolve());
      });
      child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
      child.once("exit", (code) => (clearTimeout(timer), reject(new Error(`the plain WebSocket server exited (${code}): ${output.join("")}`))));
    });
  } catch (err) {
    await end("SIGKILL");
    throw err;
  }

  const url = `ws://127.0.0.1:${port}/`;
  const auth = token ? { auth: { bearer: token } } : {};
  return {
    protocol: "websocket",
    url,
    port,
    pid: child.pid!,
    settings: { protocol: "websocket", url, ...auth, websocket: { send: "ping {{nonce}}" } },
    wrongAuth: token
      ? { settings: { protocol: "websocket", url, auth: { bearer: `${token}-wrong` }, websocket: { send: "ping {{nonce}}" } }, phase: "upgrade", error: /HTTP 401/ }
      : undefined,
    resume: false,
    async toggleLock() {
      const said = output.join("").match(/\b(un)?locked\n/g)?.length ?? 0;
      child.kill("SIGUSR2");
      const deadline = Date.now() + 5_000;
      for (;;) {
        const lines = output.join("").match(/\b(un)?locked\n/g) ?? [];
        if (lines.length > said) return lines.at(-1)!.trim() as "locked" | "unlocked";
        if (Date.now() > deadline) throw new Error("the plain WebSocket server did not answer SIGUSR2");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    kill: () => end("SIGKILL"),
    stop: () => end("SIGTERM"),
  };
}
