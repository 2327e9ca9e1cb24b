import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import { REPO_ROOT } from "../helpers/config.ts";
import { freePortRange } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const BIN = path.join(REPO_ROOT, "bin/pulseboard.js");
const ADMIN_TOKEN = "playbook-recovery-admin-token-0123";

/**
 * The embedded stack repairs a gateway node by itself: a fault is injected
 * through the fleet admin API (GATEWAY_FAULTS=1), probes at 1 s see it, the
 * playbook restarts the failing node and verifies, and nothing of the test
 * touches the fleet afterwards: recovery is the playbook's.
 */
describe("playbooks repair the embedded stack (slow: whole service from the CLI, 1 s probes)", { timeout: 240_000 }, () => {
  let home: string;
  let port: number;
  let adminPort: number;
  let service: ChildProcess;
  const output: string[] = [];

  before(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-playbook-recovery-"));
    port = await freePort();
    adminPort = await freePort();
    const configFile = path.join(home, "pulseboard.yaml");
    writeFileSync(
      configFile,
      `
page: { name: Playbook recovery, url: "http://127.0.0.1:${port}" }
evaluation: { quiet_period: 3s, flap_changes: 20 }
locations: [{ id: local }]
components: [{ id: realtime-gateway, name: Realtime gateway }]
gateway: { nodes: 2 }
probes:
  - { id: gateway-connect, kind: websocket, interval: 1s, timeout: 800ms, fail_after: 1, recover_after: 1, components: [realtime-gateway], with: { channel: null } }
  - { id: gateway-safeguard, kind: safeguard, interval: 1s, timeout: 900ms, fail_after: 1, recover_after: 1, components: [realtime-gateway] }
playbooks:
  - id: restart-stuck-gateway-node
    trigger: { probe: gateway-safeguard, status: down }
    steps:
      - { action: restart-gateway, target: failing }
      - { action: verify, probes: [gateway-connect, gateway-safeguard], within: 20s }
    guards: { cooldown: 1s, max_runs: 10, per: 1h }
`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PULSEBOARD_CONFIG: configFile,
      PULSEBOARD_HOME: home,
      PORT: String(port),
      GATEWAY_PORT: String(await freePortRange(3)),
      GATEWAY_ADMIN_PORT: String(adminPort),
      GATEWAY_FAULTS: "1",
      ADMIN_TOKEN,
      LOG_LEVEL: "info",
    };
    delete env.REDIS_URL;
    delete env.CACHE_REDIS_URL;
    service = spawn(process.execPath, [BIN, "start"], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer) => output.push(...chunk.toString().split("\n").filter(Boolean));
    service.stdout!.on("data", keep);
    service.stderr!.on("data", keep);
    await waitFor("the gateway evaluated operational", async () => (await status()) === "operational", 60_000, 250);
  });

  after(async () => {
    for (const signal of ["SIGCONT", "SIGKILL"] as const) {
      try {
        process.kill(-service.pid!, signal);
      } catch {
        // already gone
      }
    }
    rmSync(home, { recursive: true, force: true });
  });

  const api = async (pathname: string): Promise<any> => {
    const res = await fetch(`http://127.0.0.1:${port}/admin/api${pathname}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    if (!res.ok) throw new Error(`GET ${pathname}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const status = async (): Promise<string | undefined> =>
    (await api("/components").catch(() => undefined))?.components?.find((c: { id: string }) => c.id === "realtime-gateway")?.state?.status;
  const fault = async (node: string, kind: string, duration: string): Promise<void> => {
    const token = readFileSync(path.join(home, "gateway-admin-token"), "utf8").trim();
    const res = await fetch(`http://127.0.0.1:${adminPort}/nodes/${node}/faults`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ fault: kind, duration }),
    });
    assert.ok(res.ok, `fault ${kind} on ${node}: ${res.status} ${await res.text()}`);
  };

  /** Injects the fault, then waits for a run of the playbook to succeed and the gateway to be operational again. */
  async function scenario(t: { diagnostic(message: string): void }, name: string, node: string, kind: string) {
    const before = (await api("/playbooks/runs")).runs.length as number;
    const faultAt = Date.now();
    // Longer than the test waits: only the playbook's restart can end it.
    await fault(node, kind, "10m");
    const detected = await waitFor(`${name} to be seen`, async () => ((await status()) !== "operational" ? Date.now() : undefined), 30_000, 100);
    const run = await waitFor(`the playbook run for ${name} to succeed`, async () => {
      const { runs } = await api("/playbooks/runs");
      const latest = runs.length > before ? runs[0] : undefined;
      if (latest?.state === "failed") throw new Error(`the run failed: ${latest.outcome}`);
      return latest?.state === "succeeded" ? latest : undefined;
    }, 60_000, 250);
    const recovered = await waitFor("the gateway operational again", async () => ((await status()) === "operational" ? Date.now() : undefined), 30_000, 100);
    const ttr = (recovered - faultAt) / 1000;
    t.diagnostic(`${name}: detected ${((detected - faultAt) / 1000).toFixed(1)} s, recovered ${ttr.toFixed(1)} s after the fault (run ${run.id}: ${run.outcome})`);
    assert.ok(ttr < 30, `recovered within 30 s of the fault (took ${ttr} s)`);
    assert.deepEqual(run.steps.map((s: { action: string; state: string }) => `${s.action}:${s.state}`), ["restart-gateway:succeeded", "verify:succeeded"]);
    assert.ok(run.incident, "the run wrote to an incident");
    const { incident } = await api(`/incidents/${run.incident}`);
    const bodies = incident.updates.map((u: { body: string }) => u.body).join("\n");
    assert.match(bodies, /restart/i, "the restart step is on the incident's timeline");
    assert.match(bodies, /verif/i, "the verify step is on the incident's timeline");
    return run;
  }

  it("a frozen gateway node is restarted by the playbook and verified healthy", async (t) => {
    await scenario(t, "a frozen node", "node-1", "freeze");
  });

  it("a node whose connection safeguard locked up is restarted by the playbook and verified", async (t) => {
    await scenario(t, "a locked safeguard", "node-0", "lock-safeguard");
  });
});
