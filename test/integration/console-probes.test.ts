import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { freePort } from "../../src/core/index.ts";
import { ConsoleClient, csrfOf, decodeEntities, issuesOf } from "../helpers/console.ts";
import { startTestNode, type TestNode } from "../helpers/gateway.ts";
import { startProbePipeline } from "../helpers/pipeline.ts";
import { uniquePrefix } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

/**
 * The console's probes and locations pages against a real stack: a
 * redis-server, the probe pipeline on BullMQ (an agent for `local`, the
 * evaluator), a real gateway node the probe connects to, and the web app
 * over real HTTP, driven like a browser without JavaScript.
 */

const TOKEN = "console-probes-bootstrap-token-0123456789";
const MIB = "l".repeat(1024 * 1024);
const SCRIPT = "<script>alert(1)</script>";

interface ApiProbe {
  id: string;
  paused: boolean;
  locations: { location: string; state: string | null; last_result: { id: string; status: string; error?: string; latency_ms: number } | null }[];
}

/** The `<li class="probe-row">` of one probe on the list page. */
function probeRowOf(html: string, name: string): string {
  const rows = html.split('<li class="probe-row">').slice(1);
  const row = rows.find((r) => r.includes(`>${name}</a>`));
  assert.ok(row, `the list has a row for ${name}`);
  return row.split("</li>")[0]!;
}

/** The table row of one location in a probe's "latest result per location" table. */
function locationRowOf(html: string, location: string): string {
  const row = html.split("<tr>").find((r) => r.startsWith(`<th scope="row" data-label="Location">${location}</th>`));
  assert.ok(row, `a row for ${location}`);
  return row.split("</tr>")[0]!;
}

describe("console probes and locations (real redis-server, BullMQ agent and evaluator, gateway node, real HTTP)", { timeout: 120_000 }, () => {
  let gateway: TestNode;
  let rig: WebRig;
  let blocking: Redis;
  let stopPipeline: () => Promise<void>;
  let server: http.Server;
  let base: string;
  let admin: ConsoleClient;
  let reader: ConsoleClient;

  const api = async (method: string, pathname: string, body?: unknown) => {
    const res = await fetch(`${base}/admin/api${pathname}`, { method, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const apiProbe = async (id: string): Promise<ApiProbe> => ((await api("GET", "/probes")).body.probes as ApiProbe[]).find((p) => p.id === id)!;
  const results = async (id: string) => (await api("GET", `/probes/${id}/results?location=local&limit=1000`)).body.results as { id: string; started_at: string }[];

  before(async () => {
    gateway = await startTestNode({});
    const closed = await freePort();
    rig = await startWebRig(`
redis: { prefix: ${uniquePrefix("console-probes")} }
page: { name: Probes, url: "http://127.0.0.1:1" }
locations: [{ id: local }, { id: eu, name: Frankfurt, remote: true }]
components: [{ id: realtime-gateway, name: Realtime gateway }, { id: chat, name: Chat }]
probes:
  - { id: connect, name: Gateway connect, kind: websocket, interval: 1s, timeout: 900ms, components: [realtime-gateway], locations: [local, eu], with: { url: "${gateway.url}", channel: null } }
  - { id: broken, name: Closed port, kind: websocket, interval: 1s, timeout: 900ms, components: [chat], locations: [local], with: { url: "ws://127.0.0.1:${closed}/ws", channel: null } }
`, { tokens: [TOKEN] });
    blocking = new Redis(rig.redis.url, { maxRetriesPerRequest: null });
    stopPipeline = await startProbePipeline({ config: rig.config, status: rig.status, commands: rig.connection, blocking });
    server = http.createServer(rig.app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    admin = new ConsoleClient(base);
    await admin.signIn(TOKEN);
    const viewer = await api("POST", "/tokens", { name: "viewer", scopes: ["read"] });
    assert.equal(viewer.status, 201);
    reader = new ConsoleClient(base);
    await reader.signIn(viewer.body.token);
    await waitFor("a result of both probes at local", async () => {
      const [connect, broken] = await Promise.all([apiProbe("connect"), apiProbe("broken")]);
      return connect.locations[0]!.last_result && broken.locations[0]!.last_result;
    }, 15_000, 100);
  });

  after(async () => {
    server?.close();
    await stopPipeline?.();
    blocking?.disconnect();
    await rig?.stop();
    await gateway?.node.stop();
  });

  it("the probes list shows each probe's latest result per location, and each location's state", async () => {
    const page = await admin.get("/admin/probes");
    assert.equal(page.status, 200);
    const connect = probeRowOf(page.text, "Gateway connect");
    assert.match(connect, /websocket · every 1 s · feeds Realtime gateway/);
    assert.match(locationRowOf(connect, "local"), /<td data-label="Latest result">OK<\/td><td data-label="Latency">\d+(\.\d)? ms<\/td>/);
    assert.match(locationRowOf(connect, "Frankfurt"), /No state yet[\s\S]*No result yet/, "the remote location has not pushed anything");
    const broken = probeRowOf(page.text, "Closed port");
    const failed = (await apiProbe("broken")).locations[0]!.last_result!;
    assert.equal(failed.status, "failed");
    const shown = /<td data-label="Latest result">Failed<span class="result-error">([^<]*)<\/span>/.exec(locationRowOf(broken, "local"))?.[1];
    assert.ok(shown, "the failure is shown with its error");
    assert.match(decodeEntities(shown), /ECONNREFUSED|refused/i);
    const locations = page.text.split('<ul class="location-chips">')[1]!.split("</ul>")[0]!;
    assert.match(locations, /status-operational"><span class="status-dot" aria-hidden="true"><\/span>local<\/span> <span class="muted">Local agent<\/span>/);
    assert.match(locations, /status-unknown"><span class="status-dot" aria-hidden="true"><\/span>Frankfurt<\/span> <span class="muted">Never seen<\/span>/);

    const detail = await admin.get("/admin/locations");
    assert.equal(detail.status, 200);
    assert.match(detail.text, /Frankfurt<\/span><\/h2><p class="help">Never seen: No agent has pushed for it yet\./);
    assert.match(detail.text, /<dt>Silent after<\/dt><dd>3 s without a push<\/dd>/, "three of its shortest probe interval");
    const located = (await api("GET", "/locations")).body.locations as { id: string; state: string }[];
    assert.deepEqual(located.map((l) => [l.id, l.state]), [["local", "local"], ["eu", "never seen"]], "the admin API says the same");
  });

  it("an incident's page shows what the probes of its components see from each location, for on-call only", async () => {
    const opened = await api("POST", "/incidents", { name: "Chat cannot connect", body: "New connections fail.", components: { chat: "major_outage" } });
    assert.equal(opened.status, 201);
    const page = await admin.get(`/admin/incidents/${opened.body.incident.id}`);
    assert.equal(page.status, 200);
    const probes = page.text.split('<h2 id="probes-heading">What the probes see</h2>')[1]?.split("</section>")[0];
    assert.ok(probes, "the section is there");
    assert.match(probes, /<a href="\/admin\/probes\/broken">Closed port<\/a>/, "the probe feeding chat");
    assert.doesNotMatch(probes, /Gateway connect/, "not a probe of another component");
    const shown = /<td data-label="Latest result">Failed<span class="result-error">([^<]*)<\/span>/.exec(locationRowOf(probes, "local"))?.[1];
    assert.ok(shown, "its latest failure, with the error");
    assert.match(decodeEntities(shown), /ECONNREFUSED|refused/i);
    assert.doesNotMatch(page.text, /runs-heading/, "no playbook section where no playbook is configured");
    const publicPage = await fetch(`${base}/incidents/${opened.body.incident.id}`).then((r) => r.text());
    assert.doesNotMatch(publicPage, /Closed port|ECONNREFUSED|refused/i, "customers see none of it");
    await api("POST", `/incidents/${opened.body.incident.id}/resolve`, {});
  });

  it("a probe's page shows its latest result per location, an SVG response-time chart with points, and recent results", async () => {
    await waitFor("a few runs of connect", async () => (await results("connect")).length >= 3, 10_000, 100);
    const page = await admin.get("/admin/probes/connect");
    assert.equal(page.status, 200);
    assert.match(locationRowOf(page.text, "local"), /status-operational[^>]*><span class="status-dot" aria-hidden="true"><\/span>Up<\/span><\/td><td data-label="Latest result">OK/);
    assert.match(locationRowOf(page.text, "Frankfurt"), /No result yet/);
    const charts = [...page.text.matchAll(/<figure class="panel chart-card"><figcaption class="chart-stats">(Last [^·]+) · median <strong>([^<]+)<\/strong>[^<]*<strong>[^<]+<\/strong> · failed [^·]+ · (\d+) runs<\/figcaption>([\s\S]*?)<\/figure>/g)];
    assert.deepEqual(charts.map((c) => c[1]!.trim()), ["Last 24 hours", "Last 7 days"]);
    for (const [, heading, median, runs, chart] of charts) {
      assert.ok(Number(runs) >= 3, `${heading}: counts the runs (${runs})`);
      assert.match(median!, /^\d+(\.\d)? ms$/, `${heading}: a median`);
      const svg = /<svg class="chart-plot"[^>]*>([\s\S]*?)<\/svg>/.exec(chart!)?.[1];
      assert.ok(svg, `${heading}: an SVG plot`);
      const plotted = [...svg.matchAll(/class="chart-(?:p50|dot)" (?:points|d)="([^"]+)"/g)].map((m) => m[1]!);
      assert.ok(plotted.length > 0, `${heading}: the p50 is plotted`);
      assert.ok(plotted.every((p) => /\d/.test(p)), `${heading}: with coordinates`);
      assert.ok(!chart!.includes("No data yet"), `${heading}: not the empty chart`);
    }
    const recent = page.text.split('<h2 id="recent-heading">Recent results</h2>')[1]!;
    assert.ok((recent.match(/<td data-label="Location">local<\/td>/g) ?? []).length >= 3, "recent results are listed");
  });

  it("pause, run now and resume from the console change what the admin API reports, and are in the audit log", async () => {
    assert.equal((await apiProbe("connect")).paused, false);
    const form = await admin.formOf("/admin/probes/connect");
    assert.match(form.html, /<form class="panel form" method="post" action="\/admin\/probes\/connect\/pause"/);
    const paused = await admin.post("/admin/probes/connect/pause", { _csrf: form._csrf });
    assert.equal(paused.status, 303, paused.text);
    assert.equal(paused.location, "/admin/probes/connect?done=paused");
    assert.equal((await apiProbe("connect")).paused, true, "the API reports it paused");
    const shown = await admin.get("/admin/probes/connect?done=paused");
    assert.match(shown.text, /<p class="flash" role="status">Paused: no scheduled runs until it is resumed\.<\/p>/);
    assert.match(shown.text, /action="\/admin\/probes\/connect\/resume"[\s\S]*?<button type="submit">Resume<\/button>/);
    assert.match(probeRowOf((await admin.get("/admin/probes")).text, "Gateway connect"), /<span class="tag">Paused<\/span>/);

    // A run the scheduler had already queued may still start within one interval (later on a busy machine: three are
    // waited for, seen to fail once with one); after that, only a run-now runs.
    const quiet = Date.now() + 3_000;
    await waitFor("three intervals after the pause", () => Date.now() > quiet, 5_000, 50);
    const ran = await admin.post("/admin/probes/connect/run", { _csrf: form._csrf, location: "local" });
    assert.equal(ran.status, 200, issuesOf(ran.text).join("; "));
    assert.match(ran.text, /<h2 id="ran-heading">Ran now from local<\/h2><p><span class="status status-operational"><span class="status-dot" aria-hidden="true"><\/span>OK<\/span> in \d+(\.\d)? ms/);
    const ranId = /data-result="([^"]+)"/.exec(ran.text)?.[1];
    assert.ok(ranId, "the page names the run's result");
    await waitFor("the run-now result as the API's last result", async () => (await apiProbe("connect")).locations[0]!.last_result?.id === ranId, 5_000, 50);
    const since = (await results("connect")).filter((r) => Date.parse(r.started_at) > quiet).map((r) => r.id);
    assert.deepEqual(since, [ranId], "the only run since the pause is the run-now");

    const resumed = await admin.post("/admin/probes/connect/resume", { _csrf: form._csrf });
    assert.equal(resumed.status, 303);
    assert.equal(resumed.location, "/admin/probes/connect?done=resumed");
    assert.equal((await apiProbe("connect")).paused, false, "the API reports it running again");
    await waitFor("a scheduled run after resuming", async () => (await results("connect"))[0]?.id !== ranId, 5_000, 100);

    const audit = (await api("GET", "/audit?limit=50")).body.entries as { actor: string; method: string; path: string; status: number | null }[];
    for (const action of ["pause", "run", "resume"]) {
      const entry = audit.find((e) => e.path === `/admin/probes/connect/${action}`);
      assert.ok(entry, `${action} is in the audit log`);
      assert.equal(entry.method, "POST");
      assert.equal(entry.actor, "admin");
      assert.equal(entry.status, action === "run" ? 200 : 303);
    }
  });

  it("a read token sees every probe control disabled; its forged POST is 403, as is a POST without the CSRF token", async () => {
    const page = await reader.get("/admin/probes/connect");
    assert.equal(page.status, 200);
    assert.match(page.text, /Your token can read but not change probes or the fleet \(it needs the <code>fleet<\/code> scope\)/);
    const fieldsets = page.text.match(/<fieldset class="controls"[^>]*>/g) ?? [];
    assert.equal(fieldsets.length, 2, "pause and run-now");
    assert.ok(fieldsets.every((f) => f.includes(" disabled")), fieldsets.join(" "));
    const forged = await reader.post("/admin/probes/connect/pause", { _csrf: csrfOf(page.text) });
    assert.equal(forged.status, 403);
    assert.match(forged.text, /lacks the &quot;fleet&quot; scope that POST \/admin\/api\/probes\/connect\/pause needs/);
    const run = await reader.post("/admin/probes/connect/run", { _csrf: csrfOf(page.text), location: "local" });
    assert.equal(run.status, 403);
    const noCsrf = await admin.post("/admin/probes/connect/pause", {});
    assert.equal(noCsrf.status, 403);
    assert.match(noCsrf.text, /CSRF token is missing/);
    assert.equal((await apiProbe("connect")).paused, false, "nothing was paused");
  });

  it("run now with a missing, repeated, hostile, 1 MiB or remote location names Location and runs nothing; an unknown probe is 404", async () => {
    const { _csrf } = await admin.formOf("/admin/probes/broken");
    const paused = await admin.post("/admin/probes/broken/pause", { _csrf });
    assert.equal(paused.status, 303);
    // A run the scheduler had already queued may still start within one interval (later on a busy machine: three are
    // waited for, seen to fail once with one); after that, only a run-now runs.
    const quiet = Date.now() + 3_000;
    await waitFor("three intervals after the pause", () => Date.now() > quiet, 5_000, 50);
    const cases: [Record<string, string | string[]>, string, number][] = [
      [{}, "Location: choose where to run it from", 400],
      [{ location: "" }, "Location: choose where to run it from", 400],
      [{ location: ["local", "local"] }, "Location: sent more than once; send it once", 400],
      [{ location: SCRIPT }, 'Location: broken does not run from "<script>alert(1)</script>" (it runs from local)', 400],
      [{ location: MIB }, `Location: broken does not run from "${"l".repeat(40)}…" (it runs from local)`, 400],
    ];
    for (const [fields, issue, status] of cases) {
      const answer = await admin.post("/admin/probes/broken/run", { _csrf, ...fields });
      assert.equal(answer.status, status, issue);
      assert.deepEqual(issuesOf(answer.text), [issue]);
      assert.ok(!answer.text.includes("<script>alert"), "nothing rendered unescaped");
      assert.ok(answer.text.length < 100_000, `a 1 MiB value is not sent back (${answer.text.length} bytes)`);
    }
    const remote = await admin.post("/admin/probes/connect/run", { _csrf, location: "eu" });
    assert.equal(remote.status, 400);
    assert.deepEqual(issuesOf(remote.text), ["Location: eu is remote: its agent runs connect on its own clock and pushes the result; the next one comes within 1 s"]);
    assert.match(remote.text, /<select id="run-location" name="location"[^>]*><option value="local" selected>local<\/option><\/select>/, "only the local location is offered");

    const missing = await admin.get("/admin/probes/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert.equal(missing.status, 404);
    assert.match(missing.text, /There is no such probe/);
    assert.ok(!missing.text.includes("<script>alert"));
    assert.equal((await admin.post("/admin/probes/ghost/pause", { _csrf })).status, 404);

    // A good run now: the first result since the refusals is its own, so none of them ran.
    const good = await admin.post("/admin/probes/broken/run", { _csrf, location: "local" });
    assert.equal(good.status, 200);
    assert.match(good.text, /Ran now from local[\s\S]*?Failed<\/span>/);
    const ranId = /data-result="([^"]+)"/.exec(good.text)![1]!;
    await waitFor("the run-now result", async () => (await apiProbe("broken")).locations[0]!.last_result?.id === ranId, 5_000, 50);
    const since = ((await api("GET", "/probes/broken/results?location=local&limit=1000")).body.results as { id: string; started_at: string }[]).filter((r) => Date.parse(r.started_at) > quiet);
    assert.deepEqual(since.map((r) => r.id), [ranId], "the only run since the refusals is the good one");
    await admin.post("/admin/probes/broken/resume", { _csrf });
  });
});
