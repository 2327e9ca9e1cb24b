import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import { REPO_ROOT } from "../helpers/config.ts";
import { alive, commandLine, descendants } from "../helpers/processes.ts";
import { freePortRange } from "../helpers/ports.ts";
import { portFree } from "../helpers/start-stack.ts";
import { waitFor } from "../helpers/wait.ts";

/** `npm start` as a user runs it: its own process group, its own PULSEBOARD_HOME, real ports. */
class NpmStart {
  readonly output: string[] = [];
  readonly proc: ChildProcess;

  private constructor(
    readonly env: NodeJS.ProcessEnv,
    readonly home: string,
  ) {
    this.proc = spawn("npm", ["start"], { cwd: REPO_ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer) => this.output.push(...chunk.toString().split("\n").filter(Boolean));
    this.proc.stdout!.on("data", keep);
    this.proc.stderr!.on("data", keep);
  }

  static async launch(): Promise<NpmStart> {
    const home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-npm-start-"));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(await freePort()),
      GATEWAY_PORT: String(await freePortRange(3)),
      GATEWAY_ADMIN_PORT: String(await freePort()),
      PULSEBOARD_HOME: home,
      LOG_LEVEL: "info",
    };
    for (const name of ["REDIS_URL", "CACHE_REDIS_URL", "ADMIN_TOKEN", "PULSEBOARD_CONFIG"]) delete env[name];
    return new NpmStart(env, home);
  }

  /** npm's exit status, or the signal that ended it. */
  exited(): Promise<number | NodeJS.Signals | null> {
    const { exitCode, signalCode } = this.proc;
    if (exitCode !== null || signalCode !== null) return Promise.resolve(exitCode ?? signalCode);
    return new Promise((resolve) => this.proc.once("exit", (code, signal) => resolve(code ?? signal)));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Waits for the page, then for the whole tree: both embedded redis-servers and the gateway fleet. */
  async whenServing(): Promise<number[]> {
    await waitFor("the status page", async () => (await fetch(`http://127.0.0.1:${this.env.PORT}/`)).status === 200, 60_000, 250).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.output.slice(-20).join("\n")}`);
    });
    return waitFor("every process of the stack", () => {
      const tree = descendants(this.pid);
      const count = (pattern: RegExp) => tree.filter((pid) => pattern.test(commandLine(pid))).length;
      return count(/^\S*redis-server /) === 2 && count(/(?:primary|node)-main\.js$/) >= 3 && count(/ core$/) >= 1 ? tree : undefined;
    }, 20_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}; running:\n  ${descendants(this.pid).map((pid) => `${pid} ${commandLine(pid)}`).join("\n  ")}`);
    });
  }

  /** The process `pulseboard start` runs in: scripts/start.mjs, which becomes it after the build. */
  startPid(tree: number[]): number {
    const found = [this.pid, ...tree].find((pid) => /^\S*node (?:--lite-mode --no-expose-wasm )?\S*(?:scripts\/start\.mjs|main\.js start)$/.test(commandLine(pid)));
    assert.ok(found, `pulseboard start among ${tree.map((pid) => commandLine(pid)).join(" | ")}`);
    return found;
  }

  /** Kills whatever is left, the recorded pids included (a process that left the group is not reached by -pgid). */
  cleanUp(recorded: number[]): void {
    for (const target of [-this.pid, ...recorded]) {
      try {
        process.kill(target, "SIGKILL");
      } catch {
        // already gone
      }
    }
    rmSync(this.home, { recursive: true, force: true });
  }
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

function describeAlive(pids: number[]): string {
  return pids.filter(alive).map((pid) => `${pid} ${commandLine(pid)}`).join("\n  ");
}

describe("npm start and its signals (slow: the whole stack through npm)", { timeout: 180_000 }, () => {
  let run: NpmStart | undefined;
  let recorded: number[] = [];

  afterEach(() => {
    run?.cleanUp(recorded);
    run = undefined;
    recorded = [];
  });

  it("SIGTERM to the npm process stops every process of the stack within 10 s and frees the ports", async (t) => {
    run = await NpmStart.launch();
    recorded = await run.whenServing();
    const sentAt = Date.now();
    process.kill(run.pid, "SIGTERM");
    const npmExit = run.exited();
    await waitFor("every process of the stack to end", () => recorded.every((pid) => !alive(pid)), 10_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}; still alive:\n  ${describeAlive(recorded)}`);
    });
    const took = Date.now() - sentAt;
    assert.equal(await npmExit, 0, "npm exits as pulseboard start does after a SIGTERM: cleanly");
    assert.ok(await portFree(Number(run.env.PORT)), "the page's port is free");
    assert.ok(await portFree(Number(run.env.GATEWAY_PORT)), "the gateway's port is free");
    t.diagnostic(`all ${recorded.length} processes under npm gone ${took} ms after SIGTERM to npm`);
  });

  it("pulseboard start stops the stack when its parent is killed with SIGKILL", async (t) => {
    run = await NpmStart.launch();
    recorded = await run.whenServing();
    const start = run.startPid(recorded);
    const parent = parentOf(start);
    const parentCommand = commandLine(parent);
    const killedAt = Date.now();
    process.kill(parent, "SIGKILL");
    // One second to notice the parent is gone, then the same stop as on SIGTERM.
    await waitFor("every process of the stack to end", () => recorded.every((pid) => !alive(pid)), 11_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}; still alive:\n  ${describeAlive(recorded)}`);
    });
    assert.ok(await portFree(Number(run.env.PORT)), "the page's port is free");
    t.diagnostic(`all ${recorded.length} processes gone ${Date.now() - killedAt} ms after SIGKILL to start's parent (${parentCommand})`);
  });
});
