import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { findExecutable } from "../../../src/core/index.ts";
import { freePortRange } from "../ports.ts";
import { waitFor } from "../wait.ts";
import type { BrokerHarness } from "./types.ts";

/** Real nats-server processes (one, or a two-node cluster) on free loopback ports, owned by one test suite. */
export interface NatsHarness extends BrokerHarness {
  protocol: "nats";
  settings: { protocol: "nats"; url: string; auth: NatsAuth; nats: { monitor_url: string } };
  /** The token every client must give (authorization { token }); with `user`, that user's password. */
  token: string;
  /** Per node: its nats:// (TCP) URL. */
  tcpUrls: string[];
  /** Per node: its ws:// URL (wss:// with `tls`). */
  wsUrls: string[];
  /** Per node: its monitoring port (http://127.0.0.1:port). */
  monitorUrls: string[];
  /** Per node: the nats-server's pid (to SIGSTOP it: a server that accepts TCP but answers nothing). */
  pids: number[];
  /** With `tls`: the PEM of the nodes' self-signed certificate (their client ports speak TLS after a plain-text INFO; their WebSocket ports are wss://). */
  certificate?: string;
  /**
   * Waits until `node` has learned over its cluster route that another node
   * has a subscriber on `subject` (its /routez lists it). Until then a
   * message published on `node` reaches no one there: NATS spreads interest
   * asynchronously, a few ms after the subscriber's SUB was answered.
   */
  routeInterest(node: number, subject: string): Promise<void>;
  /** GETs a monitoring endpoint of `node` ("/connz", "/varz") and parses it. */
  monitor<T>(node: number, endpoint: string): Promise<T>;
}

export type NatsAuth = { token: string } | { username: string; password: string };

export interface NatsOptions {
  /** @defaultValue 1 */
  nodes?: 1 | 2;
  /** max_connections of every node (TCP and WebSocket clients together). @defaultValue the server's own (64K) */
  maxConnections?: number;
  /** @defaultValue a fresh random one */
  token?: string;
  /**
   * Clients log in as this user (password: the token) instead of with a bare
   * token, and may neither publish nor subscribe on the `deny` subjects.
   */
  user?: { name: string; deny: string[] };
  /** The server's ping_interval ("100ms"): it PINGs idle clients that often and drops one that misses ping_max (2) answers. @defaultValue the server's own (2m) */
  pingInterval?: string;
  /** TLS on every node's client and WebSocket ports, with a self-signed certificate for 127.0.0.1 (made by openssl). @defaultValue false */
  tls?: boolean;
}

const STOP_TIMEOUT_MS = 5_000;
const READY_TIMEOUT_MS = 10_000;

/** Starts nats-server for a suite: `before(async () => (nats = await startNats({ nodes: 2 })))`. */
export async function startNats(options: NatsOptions = {}): Promise<NatsHarness> {
  const binary = findExecutable("nats-server", process.env.PATH ?? "");
  if (!binary) throw new Error("nats-server is not installed (Debian: apt-get install nats-server)");
  const count = options.nodes ?? 1;
  const token = options.token ?? `t${Math.random().toString(36).slice(2, 14)}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-test-nats-"));
  const first = await freePortRange(4 * count);
  const ws = options.tls ? "wss" : "ws";
  const ports = Array.from({ length: count }, (_, i) => ({ client: first + 4 * i, http: first + 4 * i + 1, ws: first + 4 * i + 2, cluster: first + 4 * i + 3 }));
  const certificate = options.tls ? makeCertificate(dir) : undefined;
  const children: ChildProcess[] = [];
  const logs: string[] = [];
  const authAs = (secret: string): NatsAuth => (options.user ? { username: options.user.name, password: secret } : { token: secret });

  const stopAll = async (signal: NodeJS.Signals): Promise<void> => {
    await Promise.all(children.map((child) => stopChild(child, signal)));
  };
  const harness: NatsHarness = {
    protocol: "nats",
    token,
    tcpUrls: ports.map((p) => `nats://127.0.0.1:${p.client}`),
    wsUrls: ports.map((p) => `${ws}://127.0.0.1:${p.ws}`),
    monitorUrls: ports.map((p) => `http://127.0.0.1:${p.http}`),
    pids: [],
    certificate,
    settings: { protocol: "nats", url: `${ws}://127.0.0.1:${ports[0]!.ws}`, auth: authAs(token), nats: { monitor_url: `http://127.0.0.1:${ports[0]!.http}` } },
    nodes: count > 1 ? ports.map((p) => `${ws}://127.0.0.1:${p.ws}`) : undefined,
    wrongAuth: {
      settings: { protocol: "nats", url: `${ws}://127.0.0.1:${ports[0]!.ws}`, auth: authAs(`wrong-${token}`) },
      phase: "handshake",
      error: /refused the connection: -ERR 'Authorization Violation'/,
    },
    resume: false,
    kill: () => stopAll("SIGKILL"),
    monitor: (node, endpoint) => getJson(`${harness.monitorUrls[node]}${endpoint}`),
    async routeInterest(node, subject) {
      await waitFor(`node-${node} to learn of the interest in ${subject} over its route`, async () => {
        const routez = await getJson<{ routes?: { subscriptions_list?: string[] }[] }>(`${harness.monitorUrls[node]}/routez?subs=1`);
        return routez.routes?.some((route) => route.subscriptions_list?.includes(subject));
      }, 5_000, 5);
    },
    async stop() {
      await stopAll("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    ports.forEach((p, i) => {
      const file = path.join(dir, `node-${i}.conf`);
      const routes = ports.filter((_, j) => j !== i).map((other) => `nats-route://127.0.0.1:${other.cluster}`);
      writeFileSync(file, config({ ...options, name: `node-${i}`, ports: p, token, routes, tls: certificate ? dir : undefined }));
      const log = path.join(dir, `node-${i}.log`);
      logs.push(log);
      const fd = openSync(log, "a");
      const child = spawn(binary, ["-c", file], { stdio: ["ignore", fd, fd] });
      closeSync(fd);
      children.push(child);
      harness.pids.push(child.pid!);
    });
    await waitFor("every nats-server node to answer on its monitoring port, with its cluster routes up", () => ready(children, logs, harness.monitorUrls, count - 1), READY_TIMEOUT_MS, 50);
  } catch (err) {
    await harness.stop();
    throw err;
  }
  return harness;
}

type NodeConfig = Omit<NatsOptions, "tls"> & { name: string; ports: { client: number; http: number; ws: number; cluster: number }; token: string; routes: string[]; tls?: string };

/** One node's config file: client, monitoring and WebSocket ports on 127.0.0.1, the credential, and the cluster when there are routes. */
function config(node: NodeConfig): string {
  const tls = node.tls && `tls { cert_file: ${JSON.stringify(path.join(node.tls, "cert.pem"))}, key_file: ${JSON.stringify(path.join(node.tls, "key.pem"))} }`;
  const lines = [
    `server_name: ${JSON.stringify(node.name)}`,
    `listen: 127.0.0.1:${node.ports.client}`,
    `http: 127.0.0.1:${node.ports.http}`,
    `websocket { listen: "127.0.0.1:${node.ports.ws}", ${tls || "no_tls: true"} }`,
  ];
  if (node.user) {
    const deny = JSON.stringify(node.user.deny);
    lines.push(`authorization { users: [ { user: ${JSON.stringify(node.user.name)}, password: ${JSON.stringify(node.token)}, permissions: { publish: { deny: ${deny} }, subscribe: { deny: ${deny} } } } ] }`);
  } else lines.push(`authorization { token: ${JSON.stringify(node.token)} }`);
  if (node.maxConnections !== undefined) lines.push(`max_connections: ${node.maxConnections}`);
  if (node.pingInterval) lines.push(`ping_interval: ${JSON.stringify(node.pingInterval)}`);
  if (tls) lines.push(tls);
  if (node.routes.length) {
    lines.push(`cluster { name: "pulseboard-test", listen: "127.0.0.1:${node.ports.cluster}", routes: [${node.routes.map((r) => JSON.stringify(r)).join(", ")}] }`);
  }
  return `${lines.join("\n")}\n`;
}

/** True once every node answers /varz and has `routes` cluster routes up; throws when a node has exited. */
async function ready(children: ChildProcess[], logs: string[], monitors: string[], routes: number): Promise<boolean> {
  for (const [i, child] of children.entries()) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nats-server node-${i} exited (${child.signalCode ?? child.exitCode}) while starting:\n${readFileSync(logs[i]!, "utf8").split("\n").slice(-6).join("\n")}`);
    }
  }
  for (const monitor of monitors) {
    const routez = await getJson<{ num_routes?: number }>(`${monitor}/routez`);
    if ((routez.num_routes ?? 0) < routes) return false;
  }
  return true;
}

/** GET a monitoring endpoint; no connection is kept alive, so none outlives the call (the leak checks count sockets). */
function getJson<T>(url: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 1_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => {
        try {
          if (res.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${res.statusCode}`);
          resolve(JSON.parse(text) as T);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer within 1 s`)));
    req.on("error", reject);
  });
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** A self-signed certificate for 127.0.0.1 (cert.pem, key.pem in `dir`); returns its PEM. */
function makeCertificate(dir: string): string {
  const openssl = findExecutable("openssl", process.env.PATH ?? "");
  if (!openssl) throw new Error("openssl is not installed: the TLS NATS harness makes its certificate with it");
  execFileSync(openssl, [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"),
  ], { stdio: "ignore", timeout: 10_000 });
  return readFileSync(path.join(dir, "cert.pem"), "utf8");
}
