import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { createFleetDriver, FleetConfigError, FleetError, FleetNodeNotFound, FleetUpstreamError, FleetValidationError, type FleetDriver } from "../../src/fleet/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { alive } from "../helpers/processes.ts";
import { FLEET_COMMAND, startShellFleet, type ShellFleet } from "../helpers/shell-fleet.ts";
import { waitFor } from "../helpers/wait.ts";

/** The command fleet driver against real /bin/sh commands acting on a small fleet kept in files. */

const OPS_TOKEN = "ops-token-9f3a7c1e5b";
const run = (dryRun = false) => ({ signal: AbortSignal.timeout(15_000), dryRun });

function driverFor(settings: Record<string, unknown>): FleetDriver {
  return createFleetDriver({ fleet: { driver: "command", settings, inCluster: false }, gateway: { adminUrl: "http://127.0.0.1:9", adminToken: undefined } }, testLog(), process.env);
}

/** The pids a command wrote to `pids` in the fleet's directory. */
function pidsIn(fleet: ShellFleet): number[] {
  return readFileSync(fleet.file("pids"), "utf8").split("\n").filter(Boolean).map(Number);
}

async function rejectsWithin(promise: Promise<unknown>, check: (err: FleetError) => void): Promise<number> {
  const started = Date.now();
  await assert.rejects(promise, (err: Error) => {
    assert.ok(err instanceof FleetError, String(err));
    check(err);
    return true;
  });
  return Date.now() - started;
}

describe("command fleet driver", { timeout: 90_000 }, () => {
  let fleet: ShellFleet;
  const fleets: ShellFleet[] = [];

  beforeEach(() => {
    fleet = startShellFleet({ replicas: 2 });
    fleets.push(fleet);
  });

  after(async () => {
    for (const f of fleets) await f.stop();
  });

  it("restarts one node with the order in PULSEBOARD_* variables and words the outcome", async () => {
    const outcome = await driverFor(fleet.settings()).restart({ node: "gw-1" }, run());
    assert.deepEqual(fleet.state().restarts, ["gw-1"]);
    assert.deepEqual(fleet.orders(), [
      "nodes dry=0 restart= node= replicas= mode=",
      "restart dry=0 restart=node node=gw-1 replicas= mode=",
    ]);
    assert.equal(outcome.dryRun, false);
    assert.match(outcome.summary, /^Ran the restart command for node gw-1 \(exit 0, \d+ ms\)\.$/);
    assert.deepEqual((outcome.details as { order: unknown }).order, { PULSEBOARD_ACTION: "restart", PULSEBOARD_RESTART: "node", PULSEBOARD_NODE: "gw-1" });
  });

  it("never runs what a node id holds: it comes as a variable, not as command text", async () => {
    const node = "gw-1; touch pwned && $(touch pwned2) `touch pwned3` | touch pwned4";
    const driver = driverFor({ restart: { run: 'printf "%s\\n" "restarting $PULSEBOARD_NODE" >> orders; echo restarted $PULSEBOARD_NODE' }, cwd: fleet.dir });
    const outcome = await driver.restart({ node }, run());
    assert.deepEqual(fleet.orders(), [`restarting ${node}`]);
    for (const file of ["pwned", "pwned2", "pwned3", "pwned4"]) assert.equal(existsSync(fleet.file(file)), false, `${file} was created`);
    assert.deepEqual(readdirSync(fleet.dir).sort(), ["fleet.sh", "mode", "orders", "replicas"]);
    assert.equal(outcome.summary.includes(node), true, outcome.summary);
  });

  it("refuses replicas outside min/max before running anything", async () => {
    const driver = driverFor(fleet.settings({ max_replicas: 4 }));
    for (const replicas of [0, 5, 2.5, -1]) {
      await assert.rejects(driver.scale(replicas, run()), (err: Error) => {
        assert.ok(err instanceof FleetValidationError);
        assert.equal(err.message, `cannot scale to ${replicas} nodes: replicas must be a whole number from 1 to 4 (fleet.min_replicas, fleet.max_replicas)`);
        return true;
      });
    }
    assert.deepEqual(fleet.orders(), [], "no command ran");
    const outcome = await driver.scale(4, run());
    assert.equal(fleet.state().replicas, 4);
    assert.match(outcome.summary, /^Ran the scale command for 4 nodes \(exit 0, \d+ ms\)\.$/);
  });

  it("kills the command and every process it started at its timeout", async () => {
    // A background sleep, a nested shell with its own sleep, and the shell itself waiting on both.
    const command = "sleep 30 & echo $! >> pids; sh -c 'sleep 30 & echo $! >> pids; wait' & echo $! >> pids; echo $$ >> pids; wait";
    const driver = driverFor({ restart: { run: command }, cwd: fleet.dir, timeout: "500ms" });
    const took = await rejectsWithin(driver.restart({ node: "gw-0" }, run()), (err) => {
      assert.ok(err instanceof FleetUpstreamError);
      assert.equal(err.retryable, true);
      assert.equal(err.message, "the restart command for node gw-0 timed out after 500 ms and was killed, with every process it started");
    });
    assert.ok(took >= 450 && took < 2_000, `took ${took} ms`);
    const pids = pidsIn(fleet);
    assert.equal(pids.length, 4);
    await waitFor("every process of the command to be gone", () => pids.every((pid) => !alive(pid)), 1_000, 20);
  });

  it("kills a command that ignores SIGTERM with SIGKILL a little later", async () => {
    const driver = driverFor({ scale: { run: 'trap "" TERM; sleep 30 & echo $! >> pids; echo $$ >> pids; wait; wait' }, cwd: fleet.dir, timeout: "300ms" });
    const took = await rejectsWithin(driver.scale(2, run()), (err) => assert.match(err.message, /^the scale command for 2 nodes timed out after 300 ms and was killed/));
    assert.ok(took >= 2_000 && took < 4_000, `took ${took} ms (300 ms, then 2 s of grace after SIGTERM)`);
    const pids = pidsIn(fleet);
    await waitFor("the processes that ignored SIGTERM to be gone", () => pids.every((pid) => !alive(pid)), 1_000, 20);
  });

  it("stops at the call's deadline, even before its own timeout", async () => {
    const driver = driverFor({ cache_mode: { run: "sleep 30 & echo $! >> pids; wait" }, cwd: fleet.dir, timeout: "30s" });
    const took = await rejectsWithin(driver.setCacheMode("bypass", { signal: AbortSignal.timeout(300), dryRun: false }), (err) => {
      assert.ok(err instanceof FleetUpstreamError && err.retryable);
      assert.match(err.message, /^the cache_mode command for cache mode bypass was stopped at the step's deadline \(.+\) and killed, with every process it started$/);
    });
    assert.ok(took < 1_500, `took ${took} ms`);
    const [sleeper] = pidsIn(fleet);
    await waitFor("the sleep to be gone", () => !alive(sleeper!), 1_000, 20);
  });

  it("quotes the tail of stderr on a non-zero exit, and says which exits are worth retrying", async () => {
    const failing = (code: number) => driverFor({ scale: { run: `for i in 1 2 3 4 5 6 7; do echo "line $i of the failure" >&2; done; echo "not this"; exit ${code}` } });
    await rejectsWithin(failing(3).scale(3, run()), (err) => {
      assert.ok(err instanceof FleetUpstreamError);
      assert.equal(err.retryable, true);
      assert.equal(err.message, "the scale command for 3 nodes exited with code 3: line 3 of the failure | line 4 of the failure | line 5 of the failure | line 6 of the failure | line 7 of the failure");
    });
    await rejectsWithin(failing(2).scale(3, run()), (err) => {
      assert.ok(err instanceof FleetValidationError);
      assert.equal(err.retryable, false);
    });
    await rejectsWithin(driverFor({ scale: { run: "no-such-program-4711 --replicas $PULSEBOARD_REPLICAS" } }).scale(3, run()), (err) => {
      assert.ok(err instanceof FleetConfigError);
      assert.match(err.message, /^the scale command for 3 nodes exited with code 127 \(a program it runs was not found\): .*no-such-program-4711: not found$/);
    });
    await rejectsWithin(driverFor({ scale: { run: "echo only on stdout; exit 1" } }).scale(3, run()), (err) => assert.equal(err.message, "the scale command for 3 nodes exited with code 1: only on stdout"));
    await rejectsWithin(driverFor({ scale: { run: "kill -KILL $$" } }).scale(3, run()), (err) => {
      assert.equal(err.message, "the scale command for 3 nodes was killed by SIGKILL");
      assert.equal(err.retryable, true);
    });
  });

  it("scrubs the secrets of its settings from errors, summaries and details", async () => {
    const env = { FLEET_DIR: fleet.dir, OPS_TOKEN };
    const leaking = driverFor({ restart: { run: 'echo "auth with $OPS_TOKEN refused" >&2; exit 1' }, env });
    await rejectsWithin(leaking.restart({ node: "gw-0" }, run()), (err) => assert.equal(err.message, "the restart command for node gw-0 exited with code 1: auth with [redacted] refused"));

    const inline = driverFor({ restart: { run: 'tool() { echo "tool: password $2 rejected" >&2; exit 1; }; tool --password hunter2-f00d-cafe' } });
    await rejectsWithin(inline.restart({ node: "gw-0" }, run()), (err) => assert.equal(err.message, "the restart command for node gw-0 exited with code 1: tool: password [redacted] rejected"));

    const saying = driverFor({ restart: { run: 'echo "{\\"summary\\": \\"Restarted $PULSEBOARD_NODE as $OPS_TOKEN.\\"}"' }, env });
    const outcome = await saying.restart({ node: "gw-0" }, run());
    assert.equal(outcome.summary, "Restarted gw-0 as [redacted].");
    assert.ok(!JSON.stringify(outcome).includes(OPS_TOKEN));

    const nodes = driverFor({ restart: { run: "true" }, nodes: { run: 'echo "token=$OPS_TOKEN"' }, env });
    await rejectsWithin(nodes.nodes(run()), (err) => assert.equal(err.message, "the nodes command printed something that is not the expected JSON (Invalid input): token=[redacted]"));
  });

  it("takes the outcome's words from a last stdout line {\"summary\": …}, and keeps the rest of that object in details", async () => {
    const driver = driverFor({ restart: { run: 'echo "stopping chat@$PULSEBOARD_NODE"; echo \'{"summary": "Restarted chat@gw-1 via systemd (pid 4242).", "pid": 4242}\'; echo' } });
    const outcome = await driver.restart({ node: "gw-1" }, run());
    assert.equal(outcome.summary, "Restarted chat@gw-1 via systemd (pid 4242).");
    assert.deepEqual((outcome.details as { answer: unknown }).answer, { summary: "Restarted chat@gw-1 via systemd (pid 4242).", pid: 4242 });

    const plain = await driverFor({ restart: { run: "echo '{\"summary\": \"not the last line\"}'; echo done" } }).restart({ node: "gw-1" }, run());
    assert.match(plain.summary, /^Ran the restart command for node gw-1 \(exit 0, \d+ ms\)\.$/);
  });

  it("does not run an action command in a dry run unless told to, and then says nothing changed", async () => {
    const skipping = driverFor(fleet.settings({ restart: { run: FLEET_COMMAND }, scale: { run: FLEET_COMMAND } }));
    const before = fleet.state();
    const restart = await skipping.restart({ node: "gw-1" }, run(true));
    assert.equal(restart.summary, "Would run the restart command for node gw-1. Nothing was changed (dry run).");
    const scale = await skipping.scale(3, run(true));
    assert.equal(scale.summary, "Would run the scale command for 3 nodes. Nothing was changed (dry run).");
    assert.deepEqual(fleet.orders(), ["nodes dry=1 restart= node= replicas= mode="], "only the node list was read");
    await assert.rejects(skipping.restart({ node: "gw-7" }, run(true)), FleetNodeNotFound);

    const running = driverFor(fleet.settings());
    const checked = await running.restart({ node: "gw-1" }, run(true));
    assert.equal(checked.dryRun, true);
    assert.equal(checked.summary, "Would restart gw-1 with systemd. Nothing was changed (dry run).");
    const scaled = await running.scale(5, run(true));
    assert.match(scaled.summary, /^Ran the scale command as a dry run for 5 nodes \(exit 0, \d+ ms\)\. Nothing was changed \(dry run\)\.$/);
    assert.ok(fleet.orders().includes("restart dry=1 restart=node node=gw-1 replicas= mode="));
    assert.ok(fleet.orders().includes("scale dry=1 restart= node= replicas=5 mode="));
    assert.deepEqual(fleet.state(), before);
  });

  it("restarts the failing nodes, or every node, one command per node and one after the other", async () => {
    fleet = startShellFleet({ replicas: 3 });
    fleets.push(fleet);
    const driver = driverFor(fleet.settings());
    const none = await driver.restart({ failing: true }, run());
    assert.equal(none.summary, "No gateway node is failing (3 of 3 nodes ready); nothing to restart.");
    assert.deepEqual(fleet.state().restarts, []);

    fleet.setNodeState("gw-1", "unresponsive");
    const failing = await driver.restart({ failing: true }, run());
    assert.match(failing.summary, /^Ran the restart command for 1 failing node one by one: gw-1 \(exit 0, \d+ ms\)\.$/);
    assert.ok(fleet.orders().includes("restart dry=0 restart=failing node=gw-1 replicas= mode="));

    await driver.restart({ rolling: true }, run());
    assert.deepEqual(fleet.state().restarts, ["gw-1", "gw-0", "gw-1", "gw-2"]);

    const stubborn = driverFor(fleet.settings({ restart: { run: `[ "$PULSEBOARD_NODE" != gw-1 ] || { echo "chat@gw-1 will not stop" >&2; exit 1; }; ${FLEET_COMMAND}` } }));
    await rejectsWithin(stubborn.restart({ rolling: true }, run()), (err) => assert.equal(err.message, "the restart command for node gw-1 exited with code 1 (it had already run for gw-0): chat@gw-1 will not stop"));
    assert.deepEqual(fleet.state().restarts.slice(4), ["gw-0"], "gw-2 was not restarted after gw-1 failed");

    const unlisted = driverFor({ restart: { run: FLEET_COMMAND }, env: { FLEET_DIR: fleet.dir } });
    const whole = await unlisted.restart({ rolling: true }, run());
    assert.match(whole.summary, /^Ran the restart command for every node, one by one \(exit 0, \d+ ms\)\.$/);
    assert.equal(fleet.orders().at(-1), "restart dry=0 restart=rolling node= replicas= mode=");
  });

  it("reads nodes and stats as JSON from stdout, sums stats from nodes, and refuses anything else", async () => {
    const driver = driverFor(fleet.settings());
    assert.deepEqual((await driver.nodes(run())).map((n) => [n.id, n.state, n.connections]), [["gw-0", "ready", 5], ["gw-1", "ready", 5]]);
    await driver.setCacheMode("bypass", run());
    assert.deepEqual(await driver.stats(run()), { nodes: await driver.nodes(run()), connections: 10, limit: undefined, cacheMode: "bypass" });

    const bare = driverFor({ restart: { run: "true" }, nodes: { run: `echo '[{"id": "chat-1", "connections": 40, "safeguard_stuck": true}, {"id": "chat-2", "state": "starting"}]'` } });
    assert.deepEqual(await bare.nodes(run()), [
      { id: "chat-1", state: "ready", connections: 40, safeguardStuck: true, address: undefined },
      { id: "chat-2", state: "starting", connections: undefined, safeguardStuck: undefined, address: undefined },
    ]);
    assert.equal((await bare.stats(run())).connections, 40);

    await rejectsWithin(driverFor({ restart: { run: "true" }, nodes: { run: `echo '{"servers": ["chat-1"]}'` } }).nodes(run()), (err) => {
      assert.equal(err.retryable, false);
      assert.match(err.message, /^the nodes command printed something that is not the expected JSON \(.+\): \{"servers": \["chat-1"\]\}$/);
    });
    await rejectsWithin(driverFor({ restart: { run: "true" }, stats: { run: "echo broker down >&2; exit 1" } }).stats(run()), (err) => assert.equal(err.message, "the stats command exited with code 1: broker down"));
    await rejectsWithin(driverFor({ restart: { run: "true" } }).nodes(run()), (err) => assert.equal(err.message, "the command fleet driver cannot list nodes: set fleet.nodes.run (or fleet.stats.run)"));
  });

  it("says which command is missing, and when its working directory is", async () => {
    const driver = driverFor({ restart: { run: "true" } });
    await rejectsWithin(driver.setCacheMode("bypass", run()), (err) => assert.equal(err.message, "the command fleet driver cannot switch the cache mode: set fleet.cache_mode.run"));
    await rejectsWithin(driver.scale(2, run()), (err) => assert.ok(err instanceof FleetConfigError));
    const lost = driverFor({ restart: { run: "true" }, cwd: path.join(fleet.dir, "no-such-dir") });
    await rejectsWithin(lost.restart({ node: "gw-0" }, run()), (err) => {
      assert.ok(err instanceof FleetConfigError);
      assert.equal(err.message, `the restart command for node gw-0 could not start: fleet.cwd (${path.join(fleet.dir, "no-such-dir")}) is not a directory`);
    });
  });

  it("is configured under fleet:, with ${VAR} in env, and errors that name fleet.<field>", async () => {
    const yaml = (fleetYaml: string) => `locations: [{ id: here }]\ncomponents: [{ id: chat, name: Chat }]\nfleet:\n${fleetYaml}`;
    const config = await configFrom(
      yaml(`  driver: command\n  restart: { run: 'echo "$OPS_TOKEN $\${PULSEBOARD_RESTART}" > token-seen' }\n  env: { OPS_TOKEN: "\${OPS_TOKEN}" }\n  cwd: "${fleet.dir}"\n  timeout: 5s\n`),
      { OPS_TOKEN },
    );
    assert.equal(config.fleet.driver, "command");
    await driverFor(config.fleet.settings).restart({ rolling: true }, run());
    assert.equal(readFileSync(fleet.file("token-seen"), "utf8"), `${OPS_TOKEN} rolling\n`, "$${VAR} reaches the shell as ${VAR}");

    await assert.rejects(
      configFrom(yaml('  driver: command\n  restart: { run: "  " }\n  scale: { run: x, dry_run: maybe }\n  env: { PULSEBOARD_NODE: x, "bad name": y }\n  timeout: 10\n')),
      (err: Error) => {
        assert.match(err.message, /fleet\.restart\.run: give the command to run/);
        assert.match(err.message, /fleet\.scale\.dry_run: expected "skip" or "run"/);
        assert.match(err.message, /fleet\.env\.PULSEBOARD_NODE: is set by the driver for each order/);
        assert.match(err.message, /fleet\.env\.bad name: expected an environment variable name like OPS_TOKEN/);
        assert.match(err.message, /fleet\.timeout: expected a duration like "10s", got 10/);
        return true;
      },
    );
    await assert.rejects(configFrom(yaml("  driver: command\n  nodes: { run: \"true\" }\n")), /fleet: give at least one action command: restart, scale or cache_mode/);
  });
});
