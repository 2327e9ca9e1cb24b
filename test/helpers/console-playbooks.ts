import http from "node:http";
import type { AddressInfo } from "node:net";
import { startTestFleet, type TestFleet } from "./fleet.ts";
import { playbookWebApp, startPlaybookRig, type PlaybookRig } from "./playbooks.ts";
import { HttpReceiver } from "./receivers.ts";
import { startRedis, type TestRedis } from "./redis.ts";

/** What a console playbook test runs on: real redis-server, gateway fleet, agent, notify worker, and the web app over real HTTP. */
export interface ConsolePlaybookStack {
  redis: TestRedis;
  fleet: TestFleet;
  hook: HttpReceiver;
  rig: PlaybookRig;
  /** The web app's address: http://127.0.0.1:PORT. */
  base: string;
  /** The admin API with `token` (the bootstrap token by default). */
  api(method: string, pathname: string, body?: unknown, token?: string): Promise<{ status: number; body: any }>;
  /** A scoped token made through the admin API, as `pulseboard tokens create` makes one. */
  token(name: string, scopes: string[]): Promise<string>;
  /** Restart counts of the fleet's nodes, by id. */
  restarts(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/**
 * Starts the parts a console playbook test needs (see PlaybookRig) with
 * `playbooks` (YAML list items under `playbooks:`), and serves the web role's
 * app (admin API and console) over HTTP with `adminToken` as its bootstrap token.
 */
export async function startConsolePlaybooks(options: { playbooks: string; adminToken: string }): Promise<ConsolePlaybookStack> {
  const redis = await startRedis();
  const hook = await HttpReceiver.start({ status: 204, body: "" });
  const fleet = await startTestFleet({ nodes: 2 });
  const rig = await startPlaybookRig({ redis, fleet, hook, playbooks: options.playbooks });
  const web = playbookWebApp(rig, redis.url, options.adminToken);
  await web.snapshot.start();
  const server = http.createServer(web.app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const api: ConsolePlaybookStack["api"] = async (method, pathname, body, token = options.adminToken) => {
    const res = await fetch(`${base}/admin/api${pathname}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  return {
    redis,
    fleet,
    hook,
    rig,
    base,
    api,
    async token(name, scopes) {
      const made = await api("POST", "/tokens", { name, scopes });
      if (made.status !== 201) throw new Error(`cannot make the token ${name}: ${JSON.stringify(made.body)}`);
      return made.body.token as string;
    },
    async restarts() {
      const nodes = (await fleet.admin("GET", "/nodes")).body.nodes as { id: string; restarts: number }[];
      return Object.fromEntries(nodes.map((n) => [n.id, n.restarts]));
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await web.close();
      await rig.stop();
      await fleet.stop();
      await hook.stop();
      await redis.stop();
    },
  };
}
