#!/usr/bin/env node
// `npm start`: makes sure redis-server is installed (unless REDIS_URL and
// CACHE_REDIS_URL are both set), builds, then becomes `pulseboard start`. A
// shell between npm and `pulseboard start` does not pass npm's SIGTERM on,
// which left the whole stack running; here, while a step runs, every stop
// signal and the death of whoever started us become a SIGTERM to that step,
// and `pulseboard start` then handles both itself, so `kill -TERM <npm pid>`
// stops every process of the tree.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"];
const PARENT_POLL_MS = 1_000;

/** The step running now, and the signal (or "parent gone") that asked us to stop. */
let current;
let stopReason;

// Everything is passed on as SIGTERM: `pulseboard start` stops gracefully on it and
// ignores a repeat, while a second SIGINT would mean "exit at once", and a Ctrl-C in
// a terminal already reaches it directly (npm then forwards the same SIGINT to us too).
function stop(reason) {
  stopReason ??= reason;
  current?.kill("SIGTERM");
}
for (const signal of STOP_SIGNALS) process.on(signal, () => stop(signal));

// The same watch as `pulseboard start`'s own (src/supervisor/parent-watch.ts): an
// orphan's parent pid changes and never comes back. It covers npm killed with SIGKILL,
// and a shell that forked us instead of exec'ing and died of npm's SIGTERM.
const parent = process.ppid;
let parentWatch;
if (parent > 1) {
  parentWatch = setInterval(() => {
    if (process.ppid !== parent) stop("parent gone");
  }, PARENT_POLL_MS).unref();
}

function run(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: "inherit" });
    current = child;
    child.once("error", (err) => {
      process.stderr.write(`npm start: cannot run ${command}: ${err.message}\n`);
      resolve({ code: 1, signal: null });
    });
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

/** Exits the way the last step did: with its status, or by the signal that ended it. */
function exitLike({ code, signal }) {
  if (signal) {
    for (const s of STOP_SIGNALS) process.removeAllListeners(s);
    process.kill(process.pid, signal);
  }
  process.exit(code ?? 1);
}

// The build goes through the package manager that runs us, so `npm run build` stays the one definition.
const manager = process.env.npm_execpath;
const packageManager = !manager ? ["npm", []] : /\.[cm]?js$/.test(manager) ? [process.execPath, [manager]] : [manager, []];
const steps = [
  [process.execPath, [path.join(root, "scripts/system-deps.mjs"), "redis-server", "--unless-urls"]],
  [packageManager[0], [...packageManager[1], "run", "build", "--silent"]],
];
for (const [command, args] of steps) {
  if (stopReason) exitLike({ code: 1, signal: STOP_SIGNALS.includes(stopReason) ? stopReason : null });
  const result = await run(command, args);
  if (result.code !== 0 || result.signal) exitLike(result);
}
if (stopReason) exitLike({ code: 1, signal: STOP_SIGNALS.includes(stopReason) ? stopReason : null });

// `pulseboard start` then runs in this very process (package.json starts it in V8's lite
// mode, which saves the supervisor some 8 MiB): a wrapper process of its own would hold
// another 40 MiB of Node for nothing. Its own signal handling and parent watch take over.
clearInterval(parentWatch);
for (const signal of STOP_SIGNALS) process.removeAllListeners(signal);
const main = path.join(root, "dist/src/main.js");
process.argv = [process.argv[0], main, "start", ...process.argv.slice(2)];
await import(pathToFileURL(main).href);
