import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import { REPO_ROOT } from "../helpers/config.ts";
import { freePortRange } from "../helpers/ports.ts";
import { alive, commandLine, descendants } from "../helpers/processes.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The embedded default's process layout (issue 15, footprint): worker,
 * scheduler and agent share one `core` child of `pulseboard start`; web and
 * the gateway are their own children, the gateway with its nodes beneath it
 * on their small entry point. A SIGKILL of `core` is restarted while the
 * public page keeps answering, and the restarted core probes and evaluates
 * again.
 */

const BIN = path.join(REPO_ROOT, "bin/pulseboard.js");
const ADMIN_TOKEN = "footprint-roles-admin-token-0123456789";

describe("pulseboard start runs worker, scheduler and agent in one core child (slow: whole service from the CLI)", { timeout: 180_000 }, () => {
  let home: string;
  let port: number;
  let service: ChildProcess;
  const output: string[] = [];
  const seen = new Set<number>();

  const children = (pid: number): number[] => descendants(pid).filter((child) => readParent(child) === pid);
  const childNamed = (suffix: string): number | undefined => children(service.pid!).find((pid) => alive(pid) && commandLine(pid).endsWith(suffix));
  const lastResultAt = async (): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${port}/admin/api/components`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = (await res.json()) as { components: { probes: { locations: { last_result: { finished_at: string } | null }[] }[] }[] };
    const times = body.components.flatMap((c) => c.probes.flatMap((p) => p.locations.map((l) => Date.parse(l.last_result?.finished_at ?? "") || 0)));
    return Math.max(0, ...times);
  };

  before(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-footprint-roles-"));
    port = await freePort();
    const configFile = path.join(home, "pulseboard.yaml");
    writeFileSync(
      configFile,
      `
page: { name: Footprint roles, url: "http://127.0.0.1:${port}" }
locations: [{ id: local }]
components: [{ id: realtime-gateway, name: Realtime gateway }]
gateway: { nodes: 2 }
probes:
  - { id: gateway-connect, kind: websocket, interval: 1s, timeout: 800ms, components: [realtime-gateway], with: { channel: null } }
`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PULSEBOARD_CONFIG: configFile,
      PULSEBOARD_HOME: home,
      PORT: String(port),
      GATEWAY_PORT: String(await freePortRange(3)),
      GATEWAY_ADMIN_PORT: String(await freePort()),
      ADMIN_TOKEN,
      LOG_LEVEL: "info",
    };
    delete env.REDIS_URL;
    delete env.CACHE_REDIS_URL;
    service = spawn(process.execPath, [BIN, "start"], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer) => output.push(...chunk.toString().split("\n").filter(Boolean));
    service.stdout!.on("data", keep);
    service.stderr!.on("data", keep);
  });

  after(async () => {
    for (const pid of [...seen, ...(service.pid ? descendants(service.pid) : [])]) seen.add(pid);
    try {
      process.kill(-service.pid!, "SIGKILL");
    } catch {
      // already gone
    }
    for (const pid of seen) {
      try {
        if (alive(pid)) process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    rmSync(home, { recursive: true, force: true });
  });

  it("has web, gateway and core as children (no worker, scheduler or agent of their own); a killed core comes back while the page serves", async (t) => {
    try {
      await waitFor("the status page", async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.status === 200, 60_000, 200);
      const core = await waitFor("the core child", () => childNamed(" core"), 30_000, 100);
      const gateway = await waitFor("the gateway's two nodes", () => {
        const primary = childNamed(" gateway");
        return primary !== undefined && children(primary).filter((pid) => /node-main\.[jt]s$/.test(commandLine(pid))).length === 2 ? primary : undefined;
      }, 30_000, 100);
      const web = childNamed(" web");
      assert.ok(web, "web is a child of start");
      for (const pid of descendants(service.pid!)) seen.add(pid);
      const roles = children(service.pid!).map((pid) => commandLine(pid).replace(/^.*main\.[jt]s /, "").replace(/^\S*redis-server .*/, "redis-server"));
      assert.deepEqual(roles.filter((r) => !r.includes("esbuild")).sort(), ["core", "gateway", "redis-server", "redis-server", "web"]);
      assert.ok(!descendants(gateway).some((pid) => /main\.[jt]s (?:web|core|worker)/.test(commandLine(pid))), "the gateway's tree holds only its nodes");
      await waitFor("a probe result evaluated", async () => (await lastResultAt()) > 0, 45_000, 250);

      // The page is asked every 100 ms from the kill until the restarted core has probed and evaluated again.
      const answers: (number | string)[] = [];
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) }).catch((err: Error) => err);
          answers.push(res instanceof Error ? res.message : res.status);
          if (!(res instanceof Error)) await res.arrayBuffer();
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      process.kill(core, "SIGKILL");
      const killedAt = Date.now();
      const next = await waitFor("the supervisor to start a new core", () => {
        const pid = childNamed(" core");
        return pid !== undefined && pid !== core ? pid : undefined;
      }, 30_000, 50);
      seen.add(next);
      await waitFor("a probe result from the restarted core", async () => (await lastResultAt()) > killedAt, 45_000, 250);
      polling = false;
      await poller;
      t.diagnostic(`core ${core} killed; ${next} probing again after ${((Date.now() - killedAt) / 1000).toFixed(1)} s; the page answered ${answers.length} times meanwhile`);
      assert.ok(answers.length >= 10, `the page was asked often enough (${answers.length})`);
      assert.deepEqual(answers.filter((a) => a !== 200), [], "every ask of the page while core was down and restarting got 200");
      assert.equal(childNamed(" web"), web, "web was not restarted");
      assert.equal(childNamed(" gateway"), gateway, "the gateway was not restarted");
      assert.ok(alive(service.pid!), "pulseboard start survived");
    } catch (err) {
      t.diagnostic(`service output (last 60 lines):\n${output.slice(-60).join("\n")}`);
      throw err;
    }
  });
});

function readParent(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return -1;
  }
}
