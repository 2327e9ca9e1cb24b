import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { createLogger, phaseOf } from "../../src/core/index.ts";
import type { ProbeResult } from "../../src/probe-runtime/index.ts";
import { remoteAgentSettings, startRemoteAgent, type RemoteAgent, type RemoteAgentOptions, type RemoteAgentSettings } from "../../src/remote-agent/index.ts";
import { probeRegistry, REPO_ROOT } from "../helpers/config.ts";
import { waitFor } from "../helpers/wait.ts";

const LOCATION = "eu-west";
const RESULT_ID = /^[A-Za-z0-9._:-]{1,200}$/;
const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-remote-agent-"));

interface ServedProbe {
  id: string;
  kind: string;
  interval_ms: number;
  timeout_ms: number;
  with: unknown;
}

interface Push {
  at: number;
  status: number;
  auth?: string;
  body?: { location: string; agent: { name: string; version: string }; sent_at: string; dropped: number; results: ProbeResult[] };
  rejected?: string[];
}

/**
 * The server side of the remote agent protocol as its spec says, small and
 * real: config with an ETag (304 when unchanged), results stored once by id,
 * and the refusals an agent must handle (401, 400 bad_results, 413, 503). It
 * also serves /target/<name>, counting hits, for the agent's http probes.
 */
class ProtocolServer {
  readonly tokens = new Set<string>();
  probes: ServedProbe[] = [];
  pollMs = 150;
  batchMax = 500;
  maxBodyBytes = 1024 * 1024;
  /** When set, every push is answered with this status. */
  pushStatus?: number;
  /** When set, pushes and config pulls get no answer at all. */
  hang = false;
  /** Probes the results endpoint does not know (bad_results). */
  readonly unknownProbes = new Set<string>();
  readonly stored: ProbeResult[] = [];
  readonly pushes: Push[] = [];
  readonly configRequests: { at: number; ifNoneMatch?: string; status: number; etag?: string }[] = [];
  readonly hits = new Map<string, number>();
  private readonly server: http.Server;
  private readonly seen = new Set<string>();
  port = 0;

  constructor(tlsFiles?: { key: string; cert: string }) {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
    this.server = tlsFiles ? https.createServer({ key: readFileSync(tlsFiles.key), cert: readFileSync(tlsFiles.cert) }, handler) : http.createServer(handler);
  }

  get url(): string {
    return `${this.server instanceof https.Server ? "https" : "http"}://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** An http probe of /target/<id> on this server. */
  httpProbe(id: string, intervalMs = 100): ServedProbe {
    return { id, kind: "http", interval_ms: intervalMs, timeout_ms: Math.min(intervalMs, 1_000), with: { url: `${this.url}/target/${id}`, contains: "ok" } };
  }

  storedOf(probe: string): ProbeResult[] {
    return this.stored.filter((r) => r.probe === probe);
  }

  /** The ids of every result in a push the server accepted, in the order they came. */
  acceptedIds(): string[] {
    return this.pushes.filter((p) => p.status === 200).flatMap((p) => p.body!.results.map((r) => r.id));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const json = (status: number, body: unknown) => void res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (url.pathname.startsWith("/target/")) {
      this.hits.set(url.pathname.slice(8), (this.hits.get(url.pathname.slice(8)) ?? 0) + 1);
      return void res.writeHead(200, { "content-type": "text/plain" }).end("ok from the target");
    }
    if (this.hang) return;
    const authorized = [...this.tokens].some((t) => req.headers.authorization === `Bearer ${t}`);
    if (url.pathname === "/api/agent/v1/config" && req.method === "GET") {
      if (!authorized) return this.configAnswer(req, 401, json, { code: "unauthorized", message: "a valid agent token is required; this one is missing, unknown or revoked" });
      if (url.searchParams.get("location") !== LOCATION) return this.configAnswer(req, 404, json, { code: "unknown_location", message: "no such location" });
      const body = { location: { id: LOCATION, name: "Frankfurt" }, poll_ms: this.pollMs, batch_max: this.batchMax, probes: this.probes, targets: { gatewayUrl: "ws://127.0.0.1:1/", gatewayNodeUrls: [] } };
      const etag = `"${createHash("sha256").update(JSON.stringify(body)).digest("base64url").slice(0, 27)}"`;
      if (req.headers["if-none-match"] === etag) {
        this.configRequests.push({ at: Date.now(), ifNoneMatch: req.headers["if-none-match"], status: 304, etag });
        return void res.writeHead(304, { etag }).end();
      }
      this.configRequests.push({ at: Date.now(), ifNoneMatch: req.headers["if-none-match"], status: 200, etag });
      return void res.writeHead(200, { "content-type": "application/json", etag }).end(JSON.stringify({ ...body, server_time: new Date().toISOString() }));
    }
    if (url.pathname === "/api/agent/v1/results" && req.method === "POST") {
      const push: Push = { at: Date.now(), status: 0, auth: req.headers.authorization };
      this.pushes.push(push);
      const answer = (status: number, body: unknown) => ((push.status = status), json(status, body));
      if (raw.length > this.maxBodyBytes) return answer(413, { code: "too_large", message: `a push may carry at most ${this.maxBodyBytes} bytes` });
      if (!authorized) return answer(401, { code: "unauthorized", message: "a valid agent token is required; this one is missing, unknown or revoked" });
      try {
        push.body = JSON.parse(raw.toString("utf8")) as Push["body"];
      } catch {
        return answer(400, { code: "bad_request", message: "the request body is not valid JSON" });
      }
      if (this.pushStatus) return answer(this.pushStatus, { code: "unavailable", message: "the server is not taking results now" });
      const results = push.body!.results;
      if (results.length > this.batchMax) return answer(413, { code: "too_large", message: `at most ${this.batchMax} results per push` });
      if (push.body!.location !== LOCATION) return answer(403, { code: "forbidden", message: "another location" });
      const known = new Set(this.probes.map((p) => p.id).filter((id) => !this.unknownProbes.has(id)));
      const rejected = results.flatMap((r, index) => {
        if (!RESULT_ID.test(r.id)) return [{ index, id: r.id, message: `results[${index}].id: expected 1 to 200 letters, digits or . _ : -` }];
        if (!known.has(r.probe)) return [{ index, id: r.id, message: `results[${index}].probe: no probe "${r.probe}" runs from ${LOCATION}` }];
        return [];
      });
      if (rejected.length > 0) {
        push.rejected = rejected.map((r) => r.id);
        return answer(400, { code: "bad_results", message: `${rejected.length} of ${results.length} results refused: ${rejected[0]!.message}`, rejected });
      }
      let accepted = 0;
      for (const result of results) {
        if (this.seen.has(result.id)) continue;
        this.seen.add(result.id);
        this.stored.push(result);
        accepted++;
      }
      return answer(200, { accepted, duplicates: results.length - accepted, late: 0 });
    }
    json(404, { code: "not_found", message: `${req.method} ${url.pathname}` });
  }

  private configAnswer(req: http.IncomingMessage, status: number, json: (s: number, b: unknown) => void, body: unknown): void {
    this.configRequests.push({ at: Date.now(), ifNoneMatch: req.headers["if-none-match"], status });
    json(status, body);
  }
}

type LogLine = { level: string; msg: string } & Record<string, unknown>;

interface Running {
  agent: RemoteAgent;
  lines: LogLine[];
  tokenFile: string;
}

const servers: ProtocolServer[] = [];
const agents: RemoteAgent[] = [];

async function protocolServer(...probes: ((s: ProtocolServer) => ServedProbe)[]): Promise<ProtocolServer> {
  const server = await new ProtocolServer().start();
  servers.push(server);
  server.tokens.add("agent-token-1");
  server.probes = probes.map((p) => p(server));
  return server;
}

let tokens = 0;
/** A real remote agent in this process, logging at debug into `lines`, with short delays so a test takes seconds. */
async function runAgent(server: ProtocolServer, settings: Partial<RemoteAgentSettings> = {}, options: Partial<RemoteAgentOptions> = {}): Promise<Running> {
  const tokenFile = path.join(dir, `token-${++tokens}`);
  writeFileSync(tokenFile, "agent-token-1\n");
  const lines: LogLine[] = [];
  const log = createLogger({ level: "debug", pretty: false, destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) } });
  const parsed = remoteAgentSettings({ location: LOCATION, server: server.url, tokenFile }, {});
  const agent = startRemoteAgent({
    settings: { ...parsed, ...settings },
    registry: await probeRegistry(),
    log,
    agent: { name: "test-agent", version: "0.0.1" },
    pushEveryMs: 100,
    backoffMs: [100, 400],
    lastPushMs: 3_000,
    ...options,
  });
  agents.push(agent);
  return { agent, lines, tokenFile };
}

async function stop(agent: RemoteAgent): Promise<void> {
  agents.splice(agents.indexOf(agent), 1);
  await agent.stop();
}

const logged = (lines: LogLine[], pattern: RegExp): LogLine[] => lines.filter((l) => pattern.test(l.msg));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every result the agent measured reached the server once: the ids of accepted pushes are unique and are what the server stored. */
function assertDeliveredOnce(server: ProtocolServer): void {
  const ids = server.acceptedIds();
  assert.equal(new Set(ids).size, ids.length, "no result was sent again after the server accepted it");
  assert.deepEqual(ids, server.stored.map((r) => r.id));
}

/** Each probe's results reached the server in the order they were measured. */
function assertInOrder(results: ProbeResult[]): void {
  for (const probe of new Set(results.map((r) => r.probe))) {
    const starts = results.filter((r) => r.probe === probe).map((r) => Date.parse(r.started_at));
    assert.deepEqual(starts, [...starts].sort((a, b) => a - b), `results of ${probe} in order`);
  }
}

describe("remote agent over HTTP (real servers on 127.0.0.1, real probe runs)", () => {
  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.stop();
    for (const server of servers.splice(0)) await server.close();
  });

  it("pushes results in order, each with a unique id of the protocol's form, at the probe's phase", async () => {
    const server = await protocolServer((s) => s.httpProbe("fast", 100), (s) => s.httpProbe("phased", 500));
    const { agent, lines } = await runAgent(server);
    await agent.ready;
    await waitFor("results of both probes", () => server.storedOf("fast").length >= 15 && server.storedOf("phased").length >= 4, 10_000);
    await stop(agent);

    for (const result of server.stored) {
      assert.match(result.id, RESULT_ID);
      const [location, probe, started, random] = result.id.split(".");
      assert.deepEqual([location, probe, Number(started)], [LOCATION, result.probe, Date.parse(result.started_at)]);
      assert.match(random!, /^[0-9a-f]{4}$/);
      assert.equal(result.location, LOCATION);
      assert.equal(result.status, "ok", `${result.probe}: ${result.error}`);
    }
    assert.equal(new Set(server.stored.map((r) => r.id)).size, server.stored.length, "ids are unique");
    assertInOrder(server.stored);
    assertDeliveredOnce(server);
    assert.equal(server.storedOf("fast").length, server.hits.get("fast"), "every run of the probe was delivered");
    // Each run starts at phaseOf(id) within its interval (timers may be a little late, never early).
    const phase = phaseOf("phased", 500);
    for (const r of server.storedOf("phased")) {
      const offset = (((Date.parse(r.started_at) - phase) % 500) + 500) % 500;
      assert.ok(offset < 150, `a run of "phased" started ${offset} ms after its slot`);
    }
    const push = server.pushes.find((p) => p.status === 200)!;
    assert.deepEqual(push.body!.agent, { name: "test-agent", version: "0.0.1" });
    assert.equal(push.body!.dropped, 0);
    assert.ok(server.pushes.every((p) => p.auth === "Bearer agent-token-1"));
    assert.ok(!JSON.stringify(lines).includes("agent-token-1"), "the token is never logged");
  });

  it("picks up a config change within a poll, asking with If-None-Match and getting 304 while nothing changed", async () => {
    const server = await protocolServer((s) => s.httpProbe("first", 100));
    const { agent } = await runAgent(server);
    await agent.ready;
    const firstTag = server.configRequests[0]!.etag;
    await waitFor("three unchanged polls", () => server.configRequests.filter((r) => r.status === 304).length >= 3, 5_000);
    assert.ok(server.configRequests.slice(1).every((r) => r.ifNoneMatch === firstTag && r.status === 304));

    server.probes = [server.httpProbe("first", 100), server.httpProbe("second", 100)];
    const changedAt = Date.now();
    await waitFor("results of the added probe", () => server.storedOf("second").length >= 3, 5_000);
    const changed = server.configRequests.filter((r) => r.status === 200)[1]!;
    assert.equal(changed.ifNoneMatch, firstTag, "the poll that found the change named the old version");
    assert.ok(changed.at - changedAt < server.pollMs + 400, `picked up ${changed.at - changedAt} ms after the change (poll every ${server.pollMs} ms)`);

    server.probes = [server.httpProbe("second", 100)];
    await waitFor("the removal picked up", () => agent.probes().join() === "second", 5_000);
    const hitsAfterRemoval = server.hits.get("first");
    await sleep(500);
    assert.equal(server.hits.get("first"), hitsAfterRemoval, "a removed probe runs no more");
    await stop(agent);
    assertDeliveredOnce(server);
  });

  it("keeps results while the server answers 503, retries with backoff, then delivers each once and in order", async () => {
    const server = await protocolServer((s) => s.httpProbe("steady", 100));
    const { agent, lines } = await runAgent(server);
    await waitFor("a first accepted push", () => server.stored.length > 0, 5_000);
    server.pushStatus = 503;
    await sleep(1_800);
    const refused = server.pushes.filter((p) => p.status === 503);
    server.pushStatus = undefined;
    await waitFor("the backlog delivered", () => server.stored.length >= (server.hits.get("steady") ?? 0) - 2, 5_000);
    await stop(agent);

    assert.ok(refused.length >= 3, `${refused.length} pushes refused with 503`);
    const gaps = refused.slice(1).map((p, i) => p.at - refused[i]!.at);
    assert.ok(gaps[1]! >= gaps[0]! * 1.5 && gaps.at(-1)! >= 350, `retries back off (gaps ${gaps.join(", ")} ms with backoff 100 ms doubling to 400 ms)`);
    assert.ok(refused.at(-1)!.body!.results.length > refused[0]!.body!.results.length, "results kept piling up while refused");
    assertDeliveredOnce(server);
    assertInOrder(server.stored);
    assert.equal(server.stored.length, server.hits.get("steady"), "every result measured was delivered");
    assert.equal(logged(lines, /the server answered 503 \(unavailable\).*keeping \d+ results and retrying with backoff/).length, 1, "the outage is logged once, not at every retry");
    assert.equal(logged(lines, /the server takes results again/).length, 1);
  });

  it("drops the oldest results when the buffer is full and reports how many in `dropped`", async () => {
    const server = await protocolServer((s) => s.httpProbe("overflow", 100));
    server.pushStatus = 503;
    const { agent, lines } = await runAgent(server, { bufferSize: 5 });
    await agent.ready;
    await waitFor("the buffer overflowing", () => (server.hits.get("overflow") ?? 0) >= 15, 5_000);
    server.pushStatus = undefined;
    await waitFor("a push accepted", () => server.stored.length > 0, 5_000);
    await sleep(300);
    await stop(agent);

    const accepted = server.pushes.filter((p) => p.status === 200);
    const first = accepted[0]!;
    assert.ok(first.body!.dropped >= 10, `the first accepted push reports ${first.body!.dropped} dropped`);
    assert.ok(first.body!.results.length <= 5);
    assert.ok(accepted.slice(1).every((p) => p.body!.dropped === 0), "dropped counts only since the last accepted push");
    const hits = server.hits.get("overflow")!;
    assert.equal(server.stored.length + first.body!.dropped, hits, "every run is either delivered or counted as dropped");
    const firstRefused = server.pushes.find((p) => p.status === 503)!;
    const storedIds = new Set(server.stored.map((r) => r.id));
    assert.ok(firstRefused.body!.results.length > 0 && firstRefused.body!.results.every((r) => !storedIds.has(r.id)), "the oldest results were the ones dropped");
    const kept = first.body!.results.map((r) => Date.parse(r.started_at));
    assert.ok(kept.slice(1).every((t, i) => t - kept[i]! >= 50 && t - kept[i]! <= 150), `what was kept is consecutive runs (started ${kept.join(", ")})`);
    assert.equal(logged(lines, /the result buffer is full/).length, 1);
  });

  it("on 401 says so in one line per streak, keeps retrying, and picks up a new token file without a restart", async () => {
    const server = await protocolServer((s) => s.httpProbe("guarded", 100));
    const { agent, lines, tokenFile } = await runAgent(server);
    await waitFor("a first accepted push", () => server.stored.length > 0, 5_000);
    server.tokens.delete("agent-token-1");
    await waitFor("several refused pushes", () => server.pushes.filter((p) => p.status === 401).length >= 4, 5_000);
    const refusedLines = logged(lines, /^the server refused the agent token \(401\): .*; keeping \d+ results and retrying with backoff$/);
    assert.equal(refusedLines.length, 1, "one line for the streak, not one per retry");
    assert.equal(refusedLines[0]!.level, "error");

    server.tokens.add("agent-token-2");
    writeFileSync(`${tokenFile}.new`, "agent-token-2\n");
    renameSync(`${tokenFile}.new`, tokenFile);
    await waitFor("a push with the new token accepted", () => server.pushes.some((p) => p.status === 200 && p.auth === "Bearer agent-token-2"), 5_000);
    assert.ok(logged(lines, /read a new agent token from the token file/).length >= 1);
    await sleep(300);
    await stop(agent);
    assertDeliveredOnce(server);
    assert.equal(server.stored.length, server.hits.get("guarded"), "nothing measured during the 401 streak was lost");
    assert.ok(!JSON.stringify(lines).includes("agent-token-2"));
  });

  it("on 400 bad_results drops only the results named and sends the rest again at once", async () => {
    const server = await protocolServer((s) => s.httpProbe("known", 100), (s) => s.httpProbe("stranger", 100));
    server.unknownProbes.add("stranger");
    const { agent, lines } = await runAgent(server, {}, { pushEveryMs: 400 });
    await waitFor("two refused batches", () => server.pushes.filter((p) => p.status === 400).length >= 2, 5_000);
    server.unknownProbes.delete("stranger");
    await waitFor("results of the stranger accepted", () => server.storedOf("stranger").length >= 2, 5_000);
    await stop(agent);

    const refusals = server.pushes.filter((p) => p.status === 400);
    for (const refusal of refusals) {
      const retry = server.pushes[server.pushes.indexOf(refusal) + 1]!;
      const rest = refusal.body!.results.filter((r) => !refusal.rejected!.includes(r.id)).map((r) => r.id);
      assert.deepEqual(retry.body!.results.slice(0, rest.length).map((r) => r.id), rest, "the retry starts with the batch less the refused");
      assert.ok(!retry.body!.results.some((r) => refusal.rejected!.includes(r.id)), "a refused result is not sent again");
      assert.ok(retry.at - refusal.at < 200, `sent again ${retry.at - refusal.at} ms after the refusal (pushes are every 400 ms)`);
    }
    const refusedIds = refusals.flatMap((p) => p.rejected!);
    assert.ok(refusedIds.length >= 2);
    const warned = logged(lines, /the server refused a result; dropped/);
    assert.deepEqual(warned.map((l) => l.id).sort(), [...refusedIds].sort(), "each refused result logged once");
    assert.ok(warned.every((l) => l.level === "warn" && /no probe "stranger" runs from eu-west/.test(String(l.reason))));
    assertDeliveredOnce(server);
    assert.equal(server.storedOf("known").length, server.hits.get("known"), "no result of the known probe was lost");
    assert.equal(server.storedOf("stranger").length + refusedIds.length, server.hits.get("stranger"), "only the refused were dropped");
  });

  it("splits a push the server finds too large (413) and loses nothing", async () => {
    const server = await protocolServer((s) => s.httpProbe("bulky", 100));
    server.pushStatus = 503;
    const { agent } = await runAgent(server);
    await waitFor("a backlog", () => (server.hits.get("bulky") ?? 0) >= 12, 5_000);
    server.maxBodyBytes = 2_500;
    server.pushStatus = undefined;
    await waitFor("the backlog delivered", () => server.stored.length >= 12, 5_000);
    await stop(agent);
    assert.ok(server.pushes.some((p) => p.status === 413), "the server refused a push as too large");
    assert.ok(server.pushes.filter((p) => p.status === 200).every((p) => p.body!.results.length > 0));
    assertDeliveredOnce(server);
    assert.equal(server.stored.length, server.hits.get("bulky"));
    assert.equal(agent.stats.refused, 0);
  });

  it("runs the probes it can and names each it cannot, once per config version", async () => {
    const server = await protocolServer(
      (s) => s.httpProbe("good", 100),
      () => ({ id: "exotic", kind: "telepathy", interval_ms: 100, timeout_ms: 100, with: {} }),
      () => ({ id: "broken", kind: "http", interval_ms: 100, timeout_ms: 100, with: { url: 42, colour: "red" } }),
    );
    const { agent, lines } = await runAgent(server);
    await agent.ready;
    await waitFor("unchanged polls", () => server.configRequests.filter((r) => r.status === 304).length >= 3, 5_000);
    assert.deepEqual(agent.probes(), ["good"]);
    const exotic = logged(lines, /^probe not run: probe exotic/);
    const broken = logged(lines, /^probe not run: probe broken/);
    assert.equal(exotic.length, 1);
    assert.match(exotic[0]!.msg, /this agent has no probe kind "telepathy" \(it has .*http.*\)/);
    assert.equal(broken.length, 1);
    assert.match(broken[0]!.msg, /settings do not parse for kind http: with\.url: .*; with: Unrecognized key: "colour"/);

    server.pollMs = 151; // a new config version
    await waitFor("the new version", () => server.configRequests.filter((r) => r.status === 200).length >= 2, 5_000);
    assert.equal(logged(lines, /^probe not run: probe exotic/).length, 2, "told again for the new version");
    await waitFor("results of the good probe", () => server.storedOf("good").length >= 3, 5_000);
    assert.ok(server.stored.every((r) => r.probe === "good"));
  });

  it("retries the first config pull, saying why each time, until the server answers", async () => {
    const server = await protocolServer((s) => s.httpProbe("late", 100));
    server.tokens.clear();
    const { agent, lines } = await runAgent(server);
    await waitFor("three refused pulls", () => server.configRequests.length >= 3, 5_000);
    const why = logged(lines, /^cannot get the probe config yet: pulling the probe config: the server answered 401 \(unauthorized\): .*; retrying in [\d.]+ s$/);
    assert.ok(why.length >= 3, `${why.length} lines for ${server.configRequests.length} refused pulls`);
    server.tokens.add("agent-token-1");
    await agent.ready;
    await waitFor("results", () => server.stored.length >= 2, 5_000);
  });

  it("stops within its bound when the server takes requests and never answers", async () => {
    const server = await protocolServer((s) => s.httpProbe("stuck", 100));
    const { agent, lines } = await runAgent(server, {}, { lastPushMs: 1_000 });
    await waitFor("a first accepted push", () => server.stored.length > 0, 5_000);
    server.hang = true;
    await waitFor("results waiting", () => agent.buffer.size >= 3, 5_000);
    const stopping = Date.now();
    await stop(agent);
    const tookMs = Date.now() - stopping;
    assert.ok(tookMs < 1_500, `stopped in ${tookMs} ms with a last-push bound of 1000 ms`);
    const lost = logged(lines, /^stopping with results the server has not taken/);
    assert.equal(lost.length, 1);
    assert.ok(Number(lost[0]!.left) >= 3);
  });

  describe("proxy and CA", () => {
    let proxy: http.Server;
    let proxyUrl: string;
    const connects: string[] = [];
    const tunnels = new Set<net.Socket>();

    before(async () => {
      // A forward proxy that tunnels (CONNECT), as corporate proxies do.
      proxy = http.createServer((_req, res) => void res.writeHead(405).end());
      proxy.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
        connects.push(req.url ?? "");
        const [host, port] = (req.url ?? "").split(":");
        const upstream = net.connect(Number(port), host, () => {
          client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
          upstream.write(head);
          upstream.pipe(client);
          client.pipe(upstream);
        });
        for (const socket of [client, upstream]) {
          tunnels.add(socket);
          socket.on("error", () => undefined).on("close", () => tunnels.delete(socket));
        }
      });
      await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
      proxyUrl = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    });

    after(async () => {
      for (const socket of tunnels) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    });

    it("goes through HTTP_PROXY and says so at start", async () => {
      const server = await protocolServer((s) => s.httpProbe("proxied", 100));
      connects.length = 0;
      const { agent, lines } = await runAgent(server, { proxy: { httpProxy: proxyUrl } });
      await waitFor("results through the proxy", () => server.stored.length >= 3, 5_000);
      await stop(agent);
      assert.ok(connects.includes(`127.0.0.1:${server.port}`), `the proxy tunnelled to the server (${connects.join(", ")})`);
      assert.match(logged(lines, /^remote agent starting/)[0]!.msg, new RegExp(`proxy: HTTP_PROXY ${proxyUrl}/, CA: not used \\(the server URL is plain http\\)`));
    });

    it("bypasses the proxy for a NO_PROXY host and says why", async () => {
      const server = await protocolServer((s) => s.httpProbe("direct", 100));
      connects.length = 0;
      const { agent, lines } = await runAgent(server, { proxy: { httpProxy: proxyUrl, noProxy: "localhost,127.0.0.1" } });
      await waitFor("results", () => server.stored.length >= 3, 5_000);
      await stop(agent);
      assert.deepEqual(connects, []);
      const start = logged(lines, /^remote agent starting/)[0]!;
      assert.equal(start.proxy, `none (NO_PROXY entry "127.0.0.1" matches 127.0.0.1:${server.port})`);
    });

    it("trusts a --ca file for an https server, and refuses the server's self-signed certificate without it", async () => {
      const key = path.join(dir, "server-key.pem");
      const cert = path.join(dir, "server-cert.pem");
      execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
      const target = await protocolServer();
      const server = await new ProtocolServer({ key, cert }).start();
      servers.push(server);
      server.tokens.add("agent-token-1");
      server.probes = [{ ...target.httpProbe("behind-tls", 100) }];

      const untrusted = await runAgent(server);
      await waitFor("a refused pull", () => logged(untrusted.lines, /^cannot get the probe config yet/).length >= 1, 5_000);
      assert.match(logged(untrusted.lines, /^cannot get the probe config yet/)[0]!.msg, /could not reach https:\/\/127\.0\.0\.1:\d+: self[- ]signed certificate/);
      assert.equal(logged(untrusted.lines, /^remote agent starting/)[0]!.ca, "the system roots");
      await stop(untrusted.agent);

      const trusted = await runAgent(server, { ca: { file: cert, pem: readFileSync(cert, "utf8") } });
      await waitFor("results over https", () => server.stored.length >= 3, 5_000);
      await stop(trusted.agent);
      assert.equal(logged(trusted.lines, /^remote agent starting/)[0]!.ca, `--ca ${cert}, in addition to the system roots`);
      assert.ok(server.stored.every((r) => r.status === "ok"));
    });
  });
});

describe("pulseboard agent --server as a real process (slow: builds first)", () => {
  const children: ChildProcess[] = [];

  before(() => {
    execFileSync("npm", ["run", "build", "--silent"], { cwd: REPO_ROOT, stdio: "inherit" });
  });

  after(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const server of servers.splice(0)) void server.close();
  });

  function spawnAgent(args: string[], env: Record<string, string>): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
    const { REDIS_URL: _redis, PULSEBOARD_CONFIG: _config, PULSEBOARD_AGENT_TOKEN: _token, ...rest } = process.env;
    // In an empty folder: no pulseboard.yaml to find, no Redis to reach.
    const child = spawn(process.execPath, [path.join(REPO_ROOT, "bin/pulseboard.js"), ...args], { cwd: mkdtempSync(path.join(dir, "cwd-")), env: { ...rest, LOG_LEVEL: "info", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    return { child, out: () => out, exited };
  }

  it("pushes results with no Redis and no config file, and on SIGTERM makes a last push and exits", async () => {
    const server = await protocolServer((s) => s.httpProbe("from-afar", 100));
    const tokenFile = path.join(dir, "process-token");
    writeFileSync(tokenFile, "agent-token-1\n");
    const { child, out, exited } = spawnAgent(["agent", "--location", LOCATION, "--server", server.url, "--token-file", tokenFile, "--buffer", "1000"], {});
    await waitFor("results pushed by the agent process", () => server.stored.length >= 5, 20_000);
    const pushesBefore = server.pushes.length;
    await waitFor("the next push", () => server.pushes.length > pushesBefore, 3_000, 10);
    await sleep(500); // half a push interval: results are waiting in the buffer
    const signalledAt = Date.now();
    child.kill("SIGTERM");
    const code = await Promise.race([exited, sleep(8_000).then(() => "still running")]);
    assert.equal(code, 0, out());
    assert.ok(Date.now() - signalledAt < 6_000, `exited ${Date.now() - signalledAt} ms after SIGTERM`);
    const last = server.pushes.filter((p) => p.at >= signalledAt);
    assert.ok(last.length >= 1 && last.every((p) => p.status === 200) && last[0]!.body!.results.length > 0, "a last push after SIGTERM carried the buffered results");
    assertDeliveredOnce(server);
    assert.equal(server.stored.length, server.hits.get("from-afar"), "every run the process made was delivered");
    const start = out().split("\n").find((l) => l.includes("remote agent starting"));
    assert.ok(start, out());
    assert.match(start, /"role":"agent:eu-west"/);
    assert.match(start, /proxy: none, CA: not used/);
    assert.ok(!out().includes("agent-token-1"), "the token is never logged");
  });

  it("stops at start with status 2 and the flag named when the flags are wrong", async () => {
    const noToken = spawnAgent(["agent", "--location", LOCATION, "--server", "http://127.0.0.1:9/"], {});
    assert.equal(await noToken.exited, 2);
    assert.match(noToken.out(), /--token-file: give the file holding the agent token \(or set PULSEBOARD_AGENT_TOKEN\)/);
    const stray = spawnAgent(["web", "--buffer", "5"], {});
    assert.equal(await stray.exited, 2);
    assert.match(stray.out(), /--buffer: only a remote agent takes it/);
  });
});
