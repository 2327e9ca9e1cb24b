import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { appendUpdate, openIncident, StatusStore, type StatusContext } from "../../src/status/index.ts";
import { captureLog } from "../helpers/receivers.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * Acknowledged writes survive a failover: with a replica, an incident's
 * writes are answered only once the replica has them (WAIT 1), so killing
 * the primary right after the answer loses none of them. Real
 * redis-servers: a primary and a replica of it, on free ports.
 */

const person = { kind: "person" as const, name: "alice" };

async function commandCalls(redis: Redis, command: string): Promise<number> {
  const info = await redis.info("commandstats");
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, "m").exec(info)?.[1] ?? 0);
}

describe("writes confirmed by a replica (real redis-server primary and replica)", { timeout: 60_000 }, () => {
  let primary: TestRedis;
  let replica: TestRedis;
  let lone: TestRedis;

  before(async () => {
    [primary, replica, lone] = await Promise.all([startRedis(), startRedis(), startRedis()]);
    await replica.client.call("REPLICAOF", "127.0.0.1", String(primary.port));
    await waitFor("the replica to be in sync", async () => /master_link_status:up/.test(await replica.client.info("replication")), 10_000, 50);
  });

  after(async () => {
    for (const server of [replica, primary, lone]) await server?.stop().catch(() => undefined);
  });

  it("without a replica, writes send no WAIT (the embedded default pays nothing)", async () => {
    const connection = new Redis(lone.url, { maxRetriesPerRequest: 1 });
    try {
      const ctx: StatusContext = { store: new StatusStore(connection, uniquePrefix("lone")), components: [{ id: "chat", name: "Chat" }] as StatusContext["components"] };
      await openIncident(ctx, { name: "Chat slow", body: "Looking.", components: { chat: "degraded_performance" }, author: person });
      assert.equal(await commandCalls(lone.client, "wait"), 0);
    } finally {
      connection.disconnect();
    }
  });

  it("a frozen replica delays the answer by at most the wait's timeout, says so in the log, and the write stands", async (t) => {
    const connection = new Redis(primary.url, { maxRetriesPerRequest: 1 });
    const captured = captureLog();
    const ctx: StatusContext = { store: new StatusStore(connection, uniquePrefix("frozen"), { log: captured.log }), components: [{ id: "chat", name: "Chat" }] as StatusContext["components"] };
    process.kill(replica.pid, "SIGSTOP");
    try {
      const started = Date.now();
      const { incident } = await openIncident(ctx, { name: "Chat slow", body: "Looking.", components: { chat: "degraded_performance" }, author: person });
      const took = Date.now() - started;
      t.diagnostic(`answered ${took} ms after the write with the replica frozen`);
      assert.ok(took >= 900, `it waited for the replica (${took} ms)`);
      assert.ok(took < 5_000, `and no longer than its timeout, with margin (${took} ms)`);
      assert.match(captured.text(), /no replica confirmed the write in time/);
      assert.ok(await ctx.store.incident(incident.id), "the write is on the primary");
    } finally {
      process.kill(replica.pid, "SIGCONT");
      connection.disconnect();
    }
    await waitFor("the replica to catch up", async () => /master_link_status:up/.test(await replica.client.info("replication")), 10_000, 50);
  });

  it("a write whose confirmation is cut off by a lost connection is not acknowledged (the WAIT sent again covers none of it)", async () => {
    const connection = new Redis(primary.url, { maxRetriesPerRequest: 1, connectionName: "replica-wait-cut" });
    const captured = captureLog();
    const ctx: StatusContext = { store: new StatusStore(connection, uniquePrefix("cut"), { log: captured.log }), components: [{ id: "chat", name: "Chat" }] as StatusContext["components"] };
    // Read the replicas once (INFO), so the write below goes straight to its WAIT; the frozen replica then holds it there.
    await openIncident(ctx, { name: "Chat slow", body: "Looking.", components: { chat: "degraded_performance" }, author: person });
    process.kill(replica.pid, "SIGSTOP");
    try {
      const writing = openIncident(ctx, { name: "Chat down", body: "Chat is down.", components: { chat: "major_outage" }, author: person });
      const id = await waitFor("the store's WAIT to be blocked on the frozen replica", async () => {
        const list = (await primary.client.call("CLIENT", "LIST")) as string;
        return /^id=(\d+) .*name=replica-wait-cut .*cmd=wait/m.exec(list)?.[1];
      }, 5_000, 10);
      await primary.client.call("CLIENT", "KILL", "ID", id);
      await assert.rejects(writing, /could not confirm that the control plane's Redis kept the \S+ \S+ write/);
      assert.match(captured.text(), /not acknowledged/);
    } finally {
      process.kill(replica.pid, "SIGCONT");
      connection.disconnect();
    }
    await waitFor("the replica to catch up", async () => /master_link_status:up/.test(await replica.client.info("replication")), 10_000, 50);
  });

  it("every write answered before the primary is killed is on the replica that takes over", async (t) => {
    const connection = new Redis(primary.url, { maxRetriesPerRequest: 1 });
    const prefix = uniquePrefix("failover");
    const ctx: StatusContext = { store: new StatusStore(connection, prefix), components: [{ id: "chat", name: "Chat" }] as StatusContext["components"] };
    const waitsBefore = await commandCalls(primary.client, "wait");
    const { incident } = await openIncident(ctx, { name: "Chat down", body: "Chat is down.", components: { chat: "major_outage" }, author: person });
    const answered: string[] = [];
    for (let i = 0; i < 40; i++) {
      const { incident: updated } = await appendUpdate(ctx, { id: incident.id, body: `Update ${i}.`, author: person });
      answered.push(updated.updates.at(-1)!.id);
    }
    const waits = (await commandCalls(primary.client, "wait")) - waitsBefore;
    // The last answer came back: the primary dies at once, before anything else can reach the replica.
    process.kill(primary.pid, "SIGKILL");
    connection.disconnect();
    primary.client.disconnect();
    await replica.client.call("REPLICAOF", "NO", "ONE");
    const promoted = new Redis(replica.url, { maxRetriesPerRequest: 1 });
    try {
      const stored = await new StatusStore(promoted, prefix).incident(incident.id);
      assert.ok(stored, "the incident is on the new primary");
      const kept = new Set(stored.updates.map((u) => u.id));
      assert.deepEqual(answered.filter((id) => !kept.has(id)), [], "no answered update is missing");
      assert.ok(waits >= 41, `each write waited for the replica (${waits} WAITs for 41 writes)`);
      t.diagnostic(`${answered.length + 1} writes, ${waits} WAITs, all on the replica after the primary's SIGKILL`);
    } finally {
      promoted.disconnect();
    }
  });
});
