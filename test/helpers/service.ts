import { spawn, type ChildProcess } from "node:child_process";
import type { ChaosSummary } from "../../src/chaos/index.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../src/core/index.ts";
import { REPO_ROOT } from "./config.ts";
import { freePortRange } from "./ports.ts";
import { waitFor } from "./wait.ts";

export const BIN = path.join(REPO_ROOT, "bin/pulseboard.js");

/**
 * The stack the chaos test and bench:recovery break: three components,
 * 1 s probes, the shipped kinds of playbooks with short bounds, a small
 * connection limit per node so a surge can go beyond the fleet, and
 * optionally a webhook channel for on-call posts.
 */
export function recoveryConfig(options: { port: number; nodeLimit: number; hookUrl?: string }): string {
  const channels = options.hookUrl ? `notifications:\n  channels:\n    - { id: oncall, kind: webhook, url: "${options.hookUrl}" }\n` : "";
  return `
page: { name: Recovery rehearsal, url: "http://127.0.0.1:${options.port}" }
evaluation: { quiet_period: 3s, flap_changes: 20 }
locations: [{ id: local }]
components:
  - { id: realtime-gateway, name: Realtime gateway }
  - { id: chat, name: Chat }
  - { id: cache, name: Cache }
gateway: { nodes: 2, max_connections: ${options.nodeLimit} }
probes:
  - { id: gateway-connect, kind: websocket, interval: 1s, timeout: 800ms, fail_after: 1, recover_after: 1, components: [realtime-gateway], with: { channel: null } }
  - { id: gateway-safeguard, kind: safeguard, interval: 1s, timeout: 900ms, fail_after: 1, recover_after: 1, components: [realtime-gateway] }
  - { id: chat-echo, kind: websocket, interval: 1s, timeout: 800ms, fail_after: 1, recover_after: 1, components: [chat], with: { channel: probe.chat } }
  - { id: gateway-pubsub, kind: pubsub, interval: 1s, timeout: 900ms, fail_after: 1, recover_after: 1, components: [realtime-gateway] }
  - { id: cache-ping, kind: redis, interval: 1s, timeout: 500ms, fail_after: 1, recover_after: 1, components: [cache] }
${channels}playbooks:
  - id: restart-stuck-gateway-node
    trigger: { probe: gateway-safeguard, status: down }
    steps:
      - { action: restart-gateway, target: failing }
      - { action: verify, probes: [gateway-connect, gateway-safeguard], within: 20s }
    guards: { cooldown: 1s, max_runs: 20, per: 1h }
  - id: bypass-clogged-cache
    trigger: { component: cache, status: major_outage, for: 1s }
    components: [cache, realtime-gateway, chat]
    steps:
      - { action: bypass-cache }
      - { action: verify, probes: [chat-echo, gateway-connect], within: 20s }
    restore:
      after: 3s
      steps:
        - { action: restore-cache }
        - { action: verify, probes: [chat-echo, gateway-pubsub], within: 20s }
    guards: { cooldown: 1s, max_runs: 20, per: 1h, once_per_episode: true }
  - id: scale-out-on-surge
    trigger: { stat: connections_ratio, above: 0.7, for: 2s }
    components: [realtime-gateway]
    steps:
      - { action: scale-out, by: 1, max: 3 }
      - { action: verify, probes: [gateway-connect], within: 20s }
    restore:
      after: 2s
      steps:
        - { action: scale-in, min: 2, stabilization: 1s }
    guards: { cooldown: 1s, max_runs: 20, per: 1h }
`;
}

/** `pulseboard start` as its own process group, on free ports, with its own home. */
export interface Service {
  /** The `pulseboard start` process (its children are the roles). */
  pid: number;
  home: string;
  port: number;
  adminPort: number;
  env: NodeJS.ProcessEnv;
  output: string[];
  /** Whether all three components of recoveryConfig have been evaluated operational. */
  allOperational(): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startService(options: {
  config: (port: number) => string;
  adminToken: string;
  logLevel?: string;
  ready?: (service: Service) => Promise<boolean>;
  /** More environment for the service (the variables a config file reads). */
  env?: Record<string, string>;
}): Promise<Service> {
  const home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-service-"));
  const port = await freePort();
  const adminPort = await freePort();
  const configFile = path.join(home, "pulseboard.yaml");
  writeFileSync(configFile, options.config(port));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULSEBOARD_CONFIG: configFile,
    PULSEBOARD_HOME: home,
    PORT: String(port),
    // The shared port and one per node, up to the 3 nodes scale-out may reach.
    GATEWAY_PORT: String(await freePortRange(4)),
    GATEWAY_ADMIN_PORT: String(adminPort),
    GATEWAY_FAULTS: "1",
    ADMIN_TOKEN: options.adminToken,
    LOG_LEVEL: options.logLevel ?? "info",
    ...options.env,
  };
  delete env.REDIS_URL;
  delete env.CACHE_REDIS_URL;
  const child: ChildProcess = spawn(process.execPath, [BIN, "start"], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString().split("\n").filter(Boolean));
    if (output.length > 2_000) output.splice(0, output.length - 2_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const service: Service = {
    pid: child.pid!,
    home,
    port,
    adminPort,
    env,
    output,
    async allOperational() {
      // The admin API, not the public one: a component no probe has reported on yet has no state there.
      const res = await fetch(`http://127.0.0.1:${port}/admin/api/components`, { headers: { authorization: `Bearer ${options.adminToken}` } }).catch(() => undefined);
      if (!res?.ok) return false;
      const { components } = (await res.json()) as { components: { state?: { status: string } }[] };
      return components.length === 3 && components.every((c) => c.state?.status === "operational");
    },
    async stop() {
      for (const signal of ["SIGCONT", "SIGTERM"] as const) {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // already gone
        }
      }
      const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", resolve));
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // already gone
        }
      }, 12_000);
      await exited;
      clearTimeout(timer);
      rmSync(home, { recursive: true, force: true });
    },
  };
  try {
    await waitFor("every component operational", () => (options.ready ?? ((s) => s.allOperational()))(service), 60_000, 250);
  } catch (err) {
    await service.stop();
    throw new Error(`${(err as Error).message}; the service said:\n${output.slice(-20).join("\n")}`);
  }
  return service;
}

/** Runs `pulseboard chaos SCENARIO … --json` against a service to its end: its summary, exit status and progress output. */
export function runChaos(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ summary: ChaosSummary; code: number | null; progress: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "chaos", ...args, "--json"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      try {
        resolve({ summary: JSON.parse(stdout) as ChaosSummary, code, progress: stderr });
      } catch {
        reject(new Error(`chaos ${args.join(" ")} exited ${code} without a summary:\n${stdout}\n${stderr}`));
      }
    });
  });
}
