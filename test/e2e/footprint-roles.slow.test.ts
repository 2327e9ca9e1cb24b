import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { alive, children, commandLine, descendants } from "../helpers/processes.ts";
import { startService, type Service } from "../helpers/service.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The embedded default's process layout (issue 15, footprint): worker,
 * scheduler and agent share one `core` child of `pulseboard start`; web and
 * the gateway are their own children, the gateway with its nodes beneath it
 * on their small entry point. A SIGKILL of `core` is restarted while the
 * public page keeps answering, and the restarted core probes and evaluates
 * again.
 */

const ADMIN_TOKEN = "footprint-roles-admin-token-0123456789";

describe("pulseboard start runs worker, scheduler and agent in one core child (slow: whole service from the CLI)", { timeout: 180_000 }, () => {
  let service: Service;
  let port: number;
  const seen = new Set<number>();

  const childNamed = (suffix: string): number | undefined => children(service.pid).find((pid) => alive(pid) && commandLine(pid).endsWith(suffix));
  const lastResultAt = async (): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${port}/admin/api/components`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = (await res.json()) as { components: { probes: { locations: { last_result: { finished_at: string } | null }[] }[] }[] };
    const times = body.components.flatMap((c) => c.probes.flatMap((p) => p.locations.map((l) => Date.parse(l.last_result?.finished_at ?? "") || 0)));
    return Math.max(0, ...times);
  };

  before(async () => {
    service = await startService({
      config: (p) => `
page: { name: Footprint roles, url: "http://127.0.0.1:${p}" }
locations: [{ id: local }]
components: [{ id: realtime-gateway, name: Realtime gateway }]
gateway: { nodes: 2 }
probes:
  - { id: gateway-connect, kind: websocket, interval: 1s, timeout: 800ms, components: [realtime-gateway], with: { channel: null } }
`,
      adminToken: ADMIN_TOKEN,
      ready: async (s) => (await fetch(`http://127.0.0.1:${s.port}/`).catch(() => undefined))?.status === 200,
    });
    port = service.port;
  });

  after(async () => {
    for (const pid of descendants(service.pid)) seen.add(pid);
    await service.stop();
    // A core restarted during the test is in the same process group, but make sure nothing it started is left.
    for (const pid of seen) {
      try {
        if (alive(pid)) process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  });

  it("has web, gateway and core as children (no worker, scheduler or agent of their own); a killed core comes back while the page serves", async (t) => {
    try {
      const core = await waitFor("the core child", () => childNamed(" core"), 30_000, 100);
      const gateway = await waitFor("the gateway's two nodes", () => {
        const primary = children(service.pid).find((pid) => /primary-main\.[jt]s$/.test(commandLine(pid)));
        return primary !== undefined && children(primary).filter((pid) => /node-main\.[jt]s$/.test(commandLine(pid))).length === 2 ? primary : undefined;
      }, 30_000, 100);
      const web = childNamed(" web");
      assert.ok(web, "web is a child of start");
      for (const pid of descendants(service.pid)) seen.add(pid);
      const roles = children(service.pid).map((pid) =>
        commandLine(pid).replace(/^.*primary-main\.[jt]s$/, "gateway").replace(/^.*main\.[jt]s /, "").replace(/^\S*redis-server .*/, "redis-server"),
      );
      assert.deepEqual(roles.filter((r) => !r.includes("esbuild")).sort(), ["core", "gateway", "redis-server", "redis-server", "web"]);
      assert.ok(!descendants(gateway).some((pid) => /main\.[jt]s (?:web|core|worker)/.test(commandLine(pid))), "the gateway's tree holds only its nodes");
      // The primary relays little and runs in V8's lite mode; the nodes carry the traffic and keep the optimizing compiler.
      assert.match(commandLine(gateway), /--lite-mode/);
      for (const node of children(gateway)) assert.doesNotMatch(commandLine(node), /--lite-mode/, "a gateway node runs in lite mode");
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
      assert.ok(children(service.pid).includes(gateway), "the gateway was not restarted");
      assert.ok(alive(service.pid), "pulseboard start survived");
    } catch (err) {
      t.diagnostic(`service output (last 60 lines):\n${service.output.slice(-60).join("\n")}`);
      throw err;
    }
  });
});

