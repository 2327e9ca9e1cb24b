import { spawn, type ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import type { Config } from "../../src/config/index.ts";
import { freePort } from "../../src/core/index.ts";
import { createFleetDriver, type FleetDriver } from "../../src/fleet/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import {
  NotificationControl,
  PlaybookControl,
  ProbeControl,
  startAgent,
  startNotifyWorker,
  startPlaybookWorker,
  type Agent,
  type PlaybookWorker,
  type PlaybookWorkerOptions,
} from "../../src/pipeline/index.ts";
import { PlaybookStore, type PlaybookRun } from "../../src/playbooks/index.ts";
import { setComponentStatus, StatusStore, type ComponentStatus, type StatusContext } from "../../src/status/index.ts";
import { createWebApp, SnapshotService } from "../../src/web/index.ts";
import { configFrom, probeRegistry, testLog } from "./config.ts";
import type { TestFleet } from "./fleet.ts";
import type { HttpReceiver } from "./receivers.ts";
import { uniquePrefix, type TestRedis } from "./redis.ts";
import { waitFor } from "./wait.ts";

/**
 * The configuration of a playbook test: a unique Redis prefix, the real
 * fleet's ports and admin API, two probes (one through the fleet, one to a
 * port nothing listens on), an on-call webhook channel, and `playbooks`.
 */
export function playbookYaml(options: { prefix: string; fleet: TestFleet; hook: HttpReceiver; deadPort: number; playbooks: string }): string {
  return `
page: { name: Playbook test, url: "http://status.test" }
redis: { prefix: ${options.prefix} }
locations: [{ id: local }]
components:
  - { id: chat, name: Chat }
  - { id: realtime-gateway, name: Realtime gateway }
gateway:
  port: ${options.fleet.port}
  admin_url: "${options.fleet.adminUrl}"
  admin_token: "${options.fleet.token}"
probes:
  - { id: gateway-connect, name: Gateway connect, kind: websocket, interval: 5s, timeout: 2s, components: [realtime-gateway], with: { channel: null } }
  - { id: dead-end, name: Dead end, kind: websocket, interval: 5s, timeout: 1s, components: [chat], with: { url: "ws://127.0.0.1:${options.deadPort}/ws", channel: null } }
notifications:
  retry_base: 100ms
  retry_max: 500ms
  channels:
    - { id: oncall, kind: webhook, url: "${options.hook.url("/oncall")}" }
playbooks:
${options.playbooks}
`;
}

/** Playbook workers and the real parts they need, on one test's own prefix. */
export interface PlaybookRig {
  config: Config;
  yaml: string;
  status: StatusContext;
  store: PlaybookStore;
  fleet: FleetDriver;
  /** A client for the test's own reads and writes. */
  redis: Redis;
  /** Starts a playbook worker (as many as a test wants; each its own connections). */
  worker(name: string, options?: Partial<PlaybookWorkerOptions>): PlaybookWorker;
  /** Sets a component's computed status, as the evaluator would. */
  setStatus(component: string, status: ComponentStatus): Promise<void>;
  runs(playbook?: string): Promise<PlaybookRun[]>;
  waitForRun(what: string, check: (run: PlaybookRun) => boolean, timeoutMs?: number): Promise<PlaybookRun>;
  stop(): Promise<void>;
}

export async function startPlaybookRig(options: { redis: TestRedis; fleet: TestFleet; hook: HttpReceiver; playbooks: string }): Promise<PlaybookRig> {
  const prefix = uniquePrefix("pb");
  const yaml = playbookYaml({ ...options, prefix, deadPort: await freePort() });
  const config = await configFrom(yaml, { REDIS_URL: options.redis.url });
  const log = testLog();
  const connect = (blocking: boolean) => {
    const redis = new Redis(options.redis.url, blocking ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 1 });
    redis.on("error", () => {});
    return redis;
  };
  const blocking = connect(true);
  const redis = connect(false);
  const status: StatusContext = { store: new StatusStore(redis, prefix), components: config.components };
  const fleet = createFleetDriver(config, log);
  const agent: Agent = startAgent({ config, registry: await probeRegistry(), location: "local", connection: blocking, log });
  const notify = startNotifyWorker({ config: () => config, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log });
  const workers: { worker: PlaybookWorker; connections: Redis[] }[] = [];
  const store = new PlaybookStore(redis, prefix);

  return {
    config,
    yaml,
    status,
    store,
    fleet,
    redis,
    worker(name, overrides = {}) {
      const connections = [connect(true), connect(false)];
      const worker = startPlaybookWorker({ config, status: { store: new StatusStore(connections[1]!, prefix), components: config.components }, connection: connections[0]!, redis: connections[1]!, fleet, log, tickMs: 200, lockTtlMs: 3_000, incidentWaitMs: 300, name, ...overrides });
      workers.push({ worker, connections });
      return worker;
    },
    async setStatus(component, to) {
      await setComponentStatus(status, { id: component, status: to, reason: `set by the test: ${to}` });
    },
    runs: (playbook) => store.recentRuns({ playbook, limit: 100 }),
    async waitForRun(what, check, timeoutMs = 20_000) {
      return waitFor(what, async () => (await store.recentRuns({ limit: 100 })).find(check), timeoutMs, 50);
    },
    async stop() {
      await Promise.all(workers.map(({ worker }) => worker.close().catch(() => {})));
      for (const { connections } of workers) for (const c of connections) c.disconnect();
      await agent.close();
      await notify.close();
      blocking.disconnect();
      redis.disconnect();
    },
  };
}

/** A playbook worker in a child process (see playbook-worker-child.ts), ready once this resolves. */
export async function spawnPlaybookWorker(rig: PlaybookRig, redisUrl: string, name: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", new URL("./playbook-worker-child.ts", import.meta.url).pathname], {
    env: { ...process.env, PLAYBOOK_CHILD: Buffer.from(JSON.stringify({ yaml: rig.yaml, redisUrl, name })).toString("base64") },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`the playbook worker child exited with ${code} before it was ready`)));
  });
  return child;
}

/** The web role's app on a rig's Redis, with the playbooks' admin API behind `adminToken`; start `snapshot` for its public pages (the console's stylesheets among them). */
export function playbookWebApp(rig: PlaybookRig, redisUrl: string, adminToken: string): { app: ReturnType<typeof createWebApp>; snapshot: SnapshotService; close(): Promise<unknown> } {
  const snapshot = SnapshotService.forStore(rig.status, () => rig.config, { refreshMs: 60_000, log: testLog() });
  const control = new PlaybookControl({ config: () => rig.config, connection: rig.redis, status: rig.status, log: testLog() });
  const probes = new ProbeControl({ config: () => rig.config, connection: rig.redis, store: rig.status.store, log: testLog() });
  const app = createWebApp({
    config: rig.config,
    status: rig.status,
    snapshot,
    adminTokens: [adminToken],
    ready: async () => {},
    probes,
    notifications: new NotificationControl({ config: () => rig.config, connection: rig.redis, store: rig.status.store }),
    playbooks: control,
    log: testLog(),
  });
  return { app, snapshot, close: () => Promise.all([control.close(), probes.close(), snapshot.stop()]) };
}
