import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, isIPv6 } from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../src/core/index.ts";
import { REPO_ROOT } from "./config.ts";
import { freePortRange } from "./ports.ts";
import { waitFor } from "./wait.ts";

export const FLEET_TOKEN = "gateway-admin-token-for-tests";

/** `pulseboard gateway` running as its own process tree, for tests that need real nodes. */
export interface TestFleet {
  /** The shared port; node i listens alone on port + 1 + i. */
  port: number;
  adminUrl: string;
  adminPort: number;
  token: string;
  process: ChildProcess;
  output: string[];
  /** ws:// URL of node i alone, or of the shared port. */
  url(node?: number): string;
  /** Calls the fleet admin API with the token. */
  admin(method: string, pathname: string, body?: unknown, token?: string): Promise<{ status: number; body: any; text: string }>;
  stop(): Promise<void>;
}

/**
 * Starts a gateway fleet (`nodes` nodes, faults enabled) against `cacheUrl`,
 * with `yaml` appended under `gateway:` of a copy of pulseboard.yaml. Its
 * admin API listens on `adminHost`:`adminPort`, so that several fleets can
 * stand for pods that all serve it on the same port at their own address.
 * @defaultValue adminHost: 127.0.0.1; adminPort: a free one
 */
export async function startTestFleet(options: { cacheUrl?: string; nodes?: number; yaml?: string; faults?: boolean; adminHost?: string; adminPort?: number } = {}): Promise<TestFleet> {
  const nodes = options.nodes ?? 2;
  const port = await freePortRange(nodes + 4);
  const adminHost = options.adminHost ?? "127.0.0.1";
  const adminPort = options.adminPort ?? (await freePort(adminHost));
  const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-fleet-"));
  const configFile = path.join(dir, "pulseboard.yaml");
  const base = readFileSync(path.join(REPO_ROOT, "pulseboard.yaml"), "utf8");
  writeFileSync(configFile, base.replace(/^gateway:\n  nodes: 2\n/m, `gateway:\n  nodes: ${nodes}\n${options.yaml ?? ""}\n`));
  const output: string[] = [];
  const child = spawn(process.execPath, [path.join(REPO_ROOT, "bin/pulseboard.js"), "gateway"], {
    env: {
      ...process.env,
      PULSEBOARD_CONFIG: configFile,
      GATEWAY_PORT: String(port),
      GATEWAY_ADMIN_PORT: String(adminPort),
      GATEWAY_ADMIN_HOST: adminHost,
      GATEWAY_ADMIN_TOKEN: FLEET_TOKEN,
      GATEWAY_FAULTS: options.faults === false ? "0" : "1",
      CACHE_REDIS_URL: options.cacheUrl ?? "",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const adminUrl = `http://${isIPv6(adminHost) ? `[${adminHost}]` : adminHost}:${adminPort}`;
  const admin: TestFleet["admin"] = async (method, pathname, body, token = FLEET_TOKEN) => {
    const res = await fetch(`${adminUrl}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, body: json, text };
  };
  try {
    await waitFor(
      "the gateway fleet to be ready",
      async () => {
        if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}: ${output.join("")}`);
        const { body } = await admin("GET", "/nodes");
        return body?.nodes?.filter((n: { state: string }) => n.state === "ready").length === nodes;
      },
      30_000,
      250,
    );
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return {
    port,
    adminUrl,
    adminPort,
    token: FLEET_TOKEN,
    process: child,
    output,
    url: (node) => `ws://127.0.0.1:${node === undefined ? port : port + 1 + node}/ws`,
    admin,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 8_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The loopback addresses a test may use: stand-ins for pod IPs, at most two pods. */
export const POD_IPS = ["127.0.0.1", "::1"] as const;

/**
 * One real gateway per pod, as a Deployment runs them: a `pulseboard gateway`
 * of `nodes` nodes for each address in `hosts`, every admin API on the same
 * port (the kubernetes driver's admin_port), sharing the cache at `cacheUrl`.
 */
export async function startPodGateways(options: { hosts?: readonly string[]; cacheUrl?: string; nodes?: number } = {}): Promise<{ adminPort: number; gateways: TestFleet[] }> {
  const hosts = options.hosts ?? POD_IPS;
  const adminPort = await portFreeOnEvery(hosts);
  const started = await Promise.allSettled(hosts.map((host) => startTestFleet({ cacheUrl: options.cacheUrl, nodes: options.nodes ?? 1, adminHost: host, adminPort })));
  const gateways = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await Promise.all(gateways.map((g) => g.stop()));
    throw failed.reason;
  }
  return { adminPort, gateways };
}

async function portFreeOnEvery(hosts: readonly string[]): Promise<number> {
  for (;;) {
    const port = await freePort(hosts[0]);
    const free = await Promise.all(hosts.slice(1).map((host) => canListen(port, host)));
    if (free.every(Boolean)) return port;
  }
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer().once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
