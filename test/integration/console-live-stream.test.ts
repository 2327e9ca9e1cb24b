import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { ConsoleClient } from "../helpers/console.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The console's own live stream (/admin/live) on real parts: the web app over
 * real HTTP, the store's change events through a real redis-server's
 * pub/sub. On-call hears of what customers never see (an on-call-only
 * entry), only a signed-in session may listen, and listening does not keep
 * a session alive.
 */

const BOOTSTRAP = "console-live-stream-bootstrap-token-0123456789";
const CONFIG = `
page: { name: Console, url: "http://127.0.0.1:1" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
admin: { session_idle: 2m }
`;

/** An open /admin/live stream: the event names it received so far. */
class Stream {
  readonly events: string[] = [];
  private readonly controller = new AbortController();

  private constructor(readonly status: number) {}

  static async open(base: string, cookie: string): Promise<Stream> {
    const stream = new Stream(0);
    const res = await fetch(`${base}/admin/live`, { headers: { cookie, accept: "text/event-stream" }, signal: stream.controller.signal });
    Object.assign(stream, { status: res.status });
    if (res.status !== 200) {
      await res.text();
      return stream;
    }
    void (async () => {
      const decoder = new TextDecoder();
      let buffered = "";
      try {
        for await (const chunk of res.body!) {
          buffered += decoder.decode(chunk as Uint8Array, { stream: true });
          let end;
          while ((end = buffered.indexOf("\n\n")) >= 0) {
            const frame = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            const name = /^event: (.+)$/m.exec(frame)?.[1];
            if (name) stream.events.push(name);
          }
        }
      } catch {
        // closed by the test
      }
    })();
    return stream;
  }

  close(): void {
    this.controller.abort();
  }
}

describe("the console's live stream (real redis-server pub/sub, real HTTP)", { timeout: 60_000 }, () => {
  let rig: WebRig;
  let server: http.Server;
  let base: string;
  const streams: Stream[] = [];

  const api = async (method: string, pathname: string, body?: unknown) => {
    const res = await fetch(`${base}/admin/api${pathname}`, { method, headers: { authorization: `Bearer ${BOOTSTRAP}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    assert.ok(res.ok, `${method} ${pathname}: ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as { incident?: { id: string }; id?: string; token?: string };
  };
  const cookieOf = (client: ConsoleClient) => [...client.jar].map(([k, v]) => `${k}=${v}`).join("; ");
  const sessionKey = async () => (await rig.connection.keys(`${rig.config.redis.prefix}:console:session:*`))[0]!;
  const open = async (cookie: string) => {
    const stream = await Stream.open(base, cookie);
    streams.push(stream);
    return stream;
  };

  before(async () => {
    rig = await startWebRig(CONFIG, { tokens: [BOOTSTRAP], announcements: true });
    server = http.createServer(rig.app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    for (const stream of streams) stream.close();
    server?.closeAllConnections();
    server?.close();
    await rig?.stop();
  });

  it("refuses a request without a session (401, not a redirect an EventSource would follow)", async () => {
    const res = await fetch(`${base}/admin/live`, { redirect: "manual" });
    assert.equal(res.status, 401);
    assert.match(await res.text(), /sign in to the console/);
  });

  it("tells a signed-in console of an incident and of an on-call-only entry customers never see, and not of a component's status", async (t) => {
    const client = new ConsoleClient(base);
    await client.signIn(BOOTSTRAP);
    const stream = await open(cookieOf(client));
    assert.equal(stream.status, 200);

    const opened = Date.now();
    const { incident } = await api("POST", "/incidents", { name: "Chat slow", body: "Messages are late.", components: { chat: "degraded_performance" } });
    await waitFor("an update for the new incident", () => stream.events.includes("update"), 5_000, 20);
    t.diagnostic(`update ${Date.now() - opened} ms after the incident opened`);

    const before = stream.events.length;
    await rig.snapshot.refresh();
    const snapshotBefore = rig.snapshot.current()?.summaryDigest;
    await api("POST", `/incidents/${incident!.id}/updates`, { body: "Consumer lag on partition 3; restarting it.", internal: true });
    await waitFor("an update for the on-call-only entry", () => stream.events.length > before, 5_000, 20);
    await rig.snapshot.refresh();
    assert.equal(rig.snapshot.current()?.summaryDigest, snapshotBefore, "customers saw no change (the public /live stream sent nothing)");

    // A component's status announcement alone (every probe state change makes one) is not the console's business.
    const quiet = stream.events.length;
    await rig.connection.publish(rig.status.store.keys.events, JSON.stringify({ type: "component", id: "chat", at: new Date().toISOString() }));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(stream.events.length, quiet, "nothing for a component announcement");
  });

  it("listening does not move the session's idle expiry on; a revoked token's console cannot listen again", async () => {
    const { token, id } = await api("POST", "/tokens", { name: "listener", scopes: ["read"] });
    await rig.connection.del(...(await rig.connection.keys(`${rig.config.redis.prefix}:console:session:*`)));
    const client = new ConsoleClient(base);
    await client.signIn(token!);
    const key = await sessionKey();
    const left = await rig.connection.pttl(key);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stream = await open(cookieOf(client));
    assert.equal(stream.status, 200);
    const after = await rig.connection.pttl(key);
    assert.ok(after <= left - 250, `the stream did not extend the session (${left} ms left before, ${after} ms after)`);

    await api("DELETE", `/tokens/${id}`);
    const again = await open(cookieOf(client));
    assert.equal(again.status, 401, "a revoked token's session is refused");
    // The stream saw the revocation first; the page still says why the session ended (not "expired").
    const page = await client.get("/admin/incidents");
    assert.equal(page.location, "/admin/login?m=revoked");
  });

  it("the live script's background refresh after a revocation keeps the cookie, so the next page load still says why", async () => {
    const { token, id } = await api("POST", "/tokens", { name: "refresher", scopes: ["read"] });
    const client = new ConsoleClient(base);
    await client.signIn(token!);
    await api("DELETE", `/tokens/${id}`);
    // What public/console-live.js sends when its stream says the session ended.
    const refresh = await client.get("/admin/incidents", { "x-console-live": "refresh" });
    assert.equal(refresh.status, 303);
    assert.equal(refresh.location, "/admin/login?m=revoked");
    assert.deepEqual(refresh.setCookies, [], "the background refresh left the cookie");
    const reload = await client.get("/admin/incidents");
    assert.equal(reload.location, "/admin/login?m=revoked", "the person's reload says the token was revoked");
    assert.ok(reload.setCookies.some((c) => /^pb_console=;/.test(c)), `the page load drops the cookie (${reload.setCookies.join(" | ")})`);
    assert.equal((await client.get("/admin/incidents")).location, "/admin/login", "and then it is gone");
  });
});
