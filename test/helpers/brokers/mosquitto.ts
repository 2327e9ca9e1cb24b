import { spawn, type ChildProcess } from "node:child_process";
import { pbkdf2Sync, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { findExecutable } from "../../../src/core/index.ts";
import { freePortRange } from "../ports.ts";
import { waitFor } from "../wait.ts";
import type { BrokerHarness } from "./types.ts";

/** A real Mosquitto owned by one test suite: a TCP listener and a WebSocket listener, password auth. */
export interface MosquittoHarness extends BrokerHarness {
  /** mqtt://127.0.0.1:PORT */
  tcpUrl: string;
  /** ws://127.0.0.1:PORT (the `protocol websockets` listener) */
  wsUrl: string;
  pid: number;
  /** The user `settings` authenticate as. */
  username: string;
  password: string;
  /** The password of the user "pulseboard", as which the adapter sends an `auth: { token }`. */
  token: string;
  /** The broker's log so far (its log file). */
  log(): string;
}

export interface MosquittoOptions {
  /**
   * Mosquitto's `max_connections`, set on each listener. What Mosquitto
   * 2.0.11 makes of it (test/integration/realtime-mqtt.test.ts checks it):
   * - it counts per listener, not per broker;
   * - only the TCP listener enforces it: it accepts the TCP connection, then
   *   closes it before any CONNACK, logging "Client connection from
   *   127.0.0.1 denied: max_connections exceeded."; the websockets listener
   *   lets every client in;
   * - its count drifts up: each disconnect of a clean session frees two
   *   places, and each CONNECT it refuses (a wrong password) frees one it
   *   never took; a `clean: false` client's disconnect frees one, correctly.
   * So a test of the limit uses `transport: "tcp"`, and fills the broker
   * right before it checks, with no clean client having come and gone.
   * @defaultValue no limit
   */
  maxConnections?: number;
  /** Which listener `settings.url` points at. @defaultValue "ws" */
  transport?: "tcp" | "ws";
  /** Seconds between $SYS updates; 0 publishes no $SYS topics at all. @defaultValue 1 */
  sysInterval?: number;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 4_000;

/**
 * Starts Mosquitto for a suite: `before(async () => (broker = await startMosquitto()))`.
 *
 * `settings` always carry `mqtt: { qos: 1, clean: false }`, so the
 * conformance suite's resume kind finds a persistent session without
 * knowing about MQTT; the other kinds work the same on one (each connection
 * has a fresh client id, so no session is ever shared), and their
 * disconnects do not make `max_connections` drift (see `maxConnections`). The cost:
 * each connection leaves a session in the broker's memory until it stops.
 */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoHarness> {
  const binary = findExecutable("mosquitto", process.env.PATH ?? "");
  if (!binary) throw new Error("mosquitto is not installed (Debian: apt-get install mosquitto)");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-test-mosquitto-"));
  const username = "probe";
  const password = randomBytes(12).toString("hex");
  const token = randomBytes(12).toString("hex");
  writeFileSync(path.join(dir, "passwd"), passwordLine(username, password) + passwordLine("pulseboard", token), { mode: 0o600 });
  for (let attempt = 1; ; attempt++) {
    const port = await freePortRange(2);
    const config = writeConfig(dir, port, options);
    try {
      const child = await launch(binary, config, dir, port);
      return harness(child, dir, port, { username, password, token }, options.transport ?? "ws");
    } catch (err) {
      if (attempt >= 3 || !/Address already in use/i.test((err as Error).message)) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

/**
 * A password-file line in Mosquitto 2's own format ($7$: PBKDF2-SHA512, 101
 * rounds, base64 salt and hash), written directly so the harness needs no
 * mosquitto_passwd.
 */
function passwordLine(username: string, password: string): string {
  const salt = randomBytes(12);
  const hash = pbkdf2Sync(password, salt, 101, 64, "sha512");
  return `${username}:$7$101$${salt.toString("base64")}$${hash.toString("base64")}\n`;
}

function writeConfig(dir: string, port: number, options: MosquittoOptions): string {
  const limit = options.maxConnections === undefined ? [] : [`max_connections ${options.maxConnections}`];
  const lines = [
    "per_listener_settings false",
    "allow_anonymous false",
    `password_file ${path.join(dir, "passwd")}`,
    // Sessions live in memory only: a persistent session survives a client's reconnect, not a broker restart.
    "persistence false",
    `sys_interval ${options.sysInterval ?? 1}`,
    `log_dest file ${path.join(dir, "mosquitto.log")}`,
    "log_type error",
    "log_type warning",
    "log_type notice",
    "log_type information",
    "connection_messages true",
    // Started as root, Mosquitto would switch to the user `mosquitto`, who cannot read the temp dir.
    `user ${os.userInfo().username}`,
    `listener ${port} 127.0.0.1`,
    ...limit,
    // Mosquitto 2.0.11 binds a websockets listener on every interface whatever address is given.
    `listener ${port + 1} 127.0.0.1`,
    "protocol websockets",
    ...limit,
  ];
  const file = path.join(dir, "mosquitto.conf");
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

function readLog(dir: string): string {
  try {
    return readFileSync(path.join(dir, "mosquitto.log"), "utf8");
  } catch {
    return "";
  }
}

/** Runs mosquitto and waits until both listeners are open (its log says "running" after it bound them). */
async function launch(binary: string, config: string, dir: string, port: number): Promise<ChildProcess> {
  const child = spawn(binary, ["-c", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const tail = (): string => `${readLog(dir)}\n${stderr}`.trim().split("\n").slice(-8).join("\n  ");
  try {
    await waitFor(
      `mosquitto to listen on ${port} and ${port + 1}`,
      () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`mosquitto exited (${child.signalCode ?? child.exitCode})`);
        return /mosquitto version \S+ running/.test(readLog(dir));
      },
      READY_TIMEOUT_MS,
      25,
    );
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`mosquitto did not start (${(err as Error).message}):\n  ${tail()}`);
  }
  return child;
}

function harness(child: ChildProcess, dir: string, port: number, users: { username: string; password: string; token: string }, transport: "tcp" | "ws"): MosquittoHarness {
  const { username, password } = users;
  const tcpUrl = `mqtt://127.0.0.1:${port}`;
  const wsUrl = `ws://127.0.0.1:${port + 1}`;
  const url = transport === "tcp" ? tcpUrl : wsUrl;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  const settings = { protocol: "mqtt", url, auth: { username, password }, mqtt: { qos: 1, clean: false } };
  return {
    protocol: "mqtt",
    settings,
    wrongAuth: {
      settings: { ...settings, auth: { username, password: `${password}-wrong` } },
      phase: "handshake",
      // Mosquitto answers a wrong password with "not authorized" (3.1.1 code 5), not "bad user name or password".
      error: /refused the connection: CONNACK 5 \(not authorized\)/,
    },
    resume: true,
    tcpUrl,
    wsUrl,
    pid: child.pid!,
    ...users,
    log: () => readLog(dir),
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
