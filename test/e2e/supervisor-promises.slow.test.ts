import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../../src/core/index.ts";
import { pingOnce } from "../../src/supervisor/index.ts";
import { alive, commandLine } from "../helpers/processes.ts";
import { ROLE_PATTERNS, StartStack, groupMembers, killAll, pidsOf, portFree, stackEnv } from "../helpers/start-stack.ts";
import { waitFor } from "../helpers/wait.ts";

/** parent-watch polls every second and each role has 8 s to stop: 15 s is generous. */
const ORPHANS_GONE_MS = 15_000;
/** How long a role stopped by hand is watched for a replacement (the supervisor's first restart backoff is 1 s). */
const STAYS_STOPPED_MS = 10_000;

describe("pulseboard start keeps the README's promises (slow: the whole stack from the CLI)", { timeout: 300_000 }, () => {
  let stack: StartStack | undefined;
  let recorded: number[] = [];

  /** A home made before its stack starts (the leftover test): removed here when no stack took it over. */
  let home: string | undefined;

  afterEach(() => {
    if (stack) stack.cleanUp(recorded);
    else killAll(recorded);
    if (home) rmSync(home, { recursive: true, force: true });
    stack = undefined;
    recorded = [];
    home = undefined;
  });

  it("SIGKILL to start alone: every child exits by itself within 15 s and the ports are free", async (t) => {
    stack = new StartStack(await stackEnv());
    const tree = await stack.whenServing();
    recorded = pidsOf(tree);
    const ports = stack.ports();
    assert.equal(ports.length, 7, `page, gateway ×3, fleet admin, two Redis: ${ports}`);
    assert.ok(!(await portFree(Number(stack.env.PORT))), "the page's port is taken while the stack runs");

    const killedAt = Date.now();
    process.kill(stack.pid, "SIGKILL");
    const left = () => [...new Set([...recorded.filter(alive), ...groupMembers(stack!.pid)])];
    await waitFor("every process of the killed start's tree to exit", () => left().length === 0, ORPHANS_GONE_MS, 100).catch((err: Error) => {
      throw new Error(`${err.message}; still alive:\n  ${stack!.describe(left())}`);
    });
    const took = Date.now() - killedAt;
    const held: number[] = [];
    for (const port of ports) if (!(await portFree(port))) held.push(port);
    assert.deepEqual(held, [], "ports still taken once the tree is gone");
    t.diagnostic(`all ${recorded.length} children of start (web, core, gateway primary, ${tree.node.length} nodes, 2 redis-servers) gone ${took} ms after SIGKILL to start; ports ${ports.join(", ")} free`);
  });

  it("a redis-server left behind with its pid file is stopped by the next start, which runs its own and serves the page", async (t) => {
    const env = await stackEnv();
    home = env.PULSEBOARD_HOME;
    // What a killed start leaves: each embedded redis-server still running, its pid file beside its data
    // (the layout and format of EmbeddedRedis: <home>/redis/<name>/redis-server.pid holding {"pid","port"}).
    const stale: Record<"control" | "cache", number> = { control: 0, cache: 0 };
    for (const name of ["control", "cache"] as const) {
      const dir = path.join(env.PULSEBOARD_HOME!, "redis", name);
      mkdirSync(dir, { recursive: true });
      const port = await freePort();
      const args = ["--port", String(port), "--bind", "127.0.0.1", "--daemonize", "no", "--dir", dir, "--save", "", "--appendonly", name === "control" ? "yes" : "no"];
      const server = spawn("redis-server", args, { detached: true, stdio: "ignore" });
      recorded.push(server.pid!);
      await waitFor(`the leftover ${name} redis-server`, () => pingOnce(port), 10_000, 50);
      writeFileSync(path.join(dir, "redis-server.pid"), JSON.stringify({ pid: server.pid, port }));
      stale[name] = server.pid!;
    }

    stack = new StartStack(env);
    const startedAt = Date.now();
    const tree = await stack.whenServing();
    recorded.push(...pidsOf(tree));
    const upAfter = Date.now() - startedAt;

    for (const name of ["control", "cache"] as const) {
      assert.ok(!alive(stale[name]), `the leftover ${name} redis-server (${stale[name]}) is stopped: ${commandLine(stale[name])}`);
      const now = stack.redisPidFile(name);
      assert.ok(now, `start wrote a pid file for its ${name} redis-server`);
      assert.notEqual(now.pid, stale[name], `the ${name} pid file names a new process`);
      assert.ok(alive(now.pid) && ROLE_PATTERNS.redis.test(commandLine(now.pid)), `${now.pid} is a live redis-server: ${commandLine(now.pid)}`);
      assert.ok(tree.redis.includes(now.pid), `${now.pid} is start's own child`);
      assert.ok(await pingOnce(now.port), `the new ${name} redis-server answers on ${now.port}`);
    }
    const stopped = stack.logs().filter((line) => line.msg === "stopping a redis-server left over from an earlier run").map((line) => line.redis_pid);
    assert.deepEqual(stopped.sort(), [stale.control, stale.cache].sort(), "start says which leftovers it stopped");
    t.diagnostic(`leftovers ${stale.control} (control) and ${stale.cache} (cache) stopped; page served ${upAfter} ms after start`);
  });

  it("a role stopped with SIGTERM stays stopped while start and the other roles keep running", async (t) => {
    stack = new StartStack(await stackEnv());
    const tree = await stack.whenServing();
    recorded = pidsOf(tree);
    const web = tree.web[0]!; // whenServing waited for exactly one
    const others = { core: tree.core, gateway: tree.gateway, node: tree.node, redis: tree.redis };

    const sentAt = Date.now();
    process.kill(web, "SIGTERM");
    await waitFor("web to exit after SIGTERM", () => !alive(web), 10_000, 50);
    const exitedAfter = Date.now() - sentAt;
    const exitedAt = Date.now();
    const replacements = new Set<number>();
    while (Date.now() - exitedAt < STAYS_STOPPED_MS) {
      for (const pid of stack.tree().web) replacements.add(pid);
      await sleep(200);
    }
    recorded.push(...replacements);

    assert.deepEqual([...replacements].map((pid) => `${pid} ${commandLine(pid)}`), [], `no new web process within ${STAYS_STOPPED_MS / 1000} s`);
    assert.ok(alive(stack.pid) && stack.proc.exitCode === null, "start itself stays up");
    const now = stack.tree();
    assert.deepEqual({ core: now.core, gateway: now.gateway, node: now.node, redis: now.redis }, others, "the other roles keep running, the same processes");
    assert.ok(await portFree(Number(stack.env.PORT)), "nothing serves the page any more");
    const said = stack.logs().filter((line) => line.child === "web" && /stays stopped/.test(String(line.msg)));
    assert.equal(said.length, 1, `start logs once that web stays stopped: ${JSON.stringify(said)}`);
    t.diagnostic(`web exited ${exitedAfter} ms after SIGTERM; no replacement in the ${STAYS_STOPPED_MS / 1000} s after; start said: ${said[0]?.msg}`);
  });

  it("SIGHUP to the whole group (the terminal start ran in closed) stops everything gracefully, as SIGTERM does", async (t) => {
    stack = new StartStack(await stackEnv());
    const tree = await stack.whenServing();
    recorded = pidsOf(tree);
    const sentAt = Date.now();
    const exited = new Promise<number | null>((resolve) => stack!.proc.once("exit", (code) => resolve(code)));
    process.kill(-stack.pid, "SIGHUP");
    const code = await exited;
    await waitFor("every process of the tree to end", () => recorded.every((pid) => !alive(pid)), 10_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}; still alive:\n  ${stack!.describe(recorded.filter(alive))}`);
    });
    assert.equal(code, 0, "start exits cleanly, not killed by the signal");
    assert.ok(stack.logs().some((line) => line.msg === "shutting down" && line.reason === "SIGHUP"), "start says why it stops");
    assert.ok(await portFree(Number(stack.env.PORT)), "the page's port is free");
    t.diagnostic(`all ${recorded.length} processes gone ${Date.now() - sentAt} ms after SIGHUP to the group`);
  });
});
