import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startMosquitto, type MosquittoHarness } from "../helpers/brokers/mosquitto.ts";
import { startSocketIo, type SocketIoHarness } from "../helpers/brokers/socket-io.ts";
import { startService, type Service } from "../helpers/service.ts";
import { waitFor } from "../helpers/wait.ts";
import { openClient, untimed, within, type RealtimeClient, type RealtimeSettings } from "../../src/probe-runtime/index.ts";
import { probeRegistry, REPO_ROOT } from "../helpers/config.ts";

/**
 * The failure that matters most on a broker that is not ours, on the whole
 * service (`pulseboard start`): a two-node Socket.IO app whose nodes share
 * one Redis through @socket.io/redis-adapter. Freeze that Redis (SIGSTOP):
 * each node still echoes to its own clients, but nothing crosses between
 * them. The cross-node component must leave operational within 10 s while
 * the same-node echo's stays operational, the incident must name cross-node
 * delivery, and all must be back within 15 s of Redis resuming. Beside it, a
 * Mosquitto filled to its max_connections by held clients: the safeguard
 * probe's canary still echoes, fresh clients are turned away, and the
 * broker's own count says it is full. No gateway fleet of ours is started.
 */

const ADMIN_TOKEN = "e2e-foreign-admin-token-0123456789";
const MQTT_LIMIT = 8;

function config(app: SocketIoHarness, mqtt: MosquittoHarness): (port: number) => string {
  const [nodeA, nodeB] = app.nodes!;
  const appAuth = JSON.stringify(app.settings.auth);
  const mqttAuth = JSON.stringify(mqtt.settings.auth);
  return (port) => `
page: { name: Foreign broker e2e, url: "http://127.0.0.1:${port}" }
locations: [{ id: local, name: Here }]
components:
  - { id: chat-messages, name: Sending messages }
  - { id: chat-delivery, name: Message delivery between servers }
  - { id: devices, name: Device messaging }
probes:
  - id: chat-echo
    kind: websocket
    interval: 2s
    timeout: 1500ms
    recover_after: 1
    components: [chat-messages]
    with: { protocol: socket.io, url: "${nodeA}", auth: ${appAuth}, channel: probe.echo }
  - id: chat-cross-node
    kind: pubsub
    interval: 2s
    timeout: 1500ms
    recover_after: 1
    components: [chat-delivery]
    with: { protocol: socket.io, url: "${nodeA}", nodes: ["${nodeA}", "${nodeB}"], auth: ${appAuth}, channel: probe.cross }
  - id: devices-safeguard
    kind: safeguard
    interval: 2s
    timeout: 1500ms
    fail_after: 1
    recover_after: 1
    components: [devices]
    with: { protocol: mqtt, url: "${mqtt.settings.url}", auth: ${mqttAuth}, max_connections: ${MQTT_LIMIT}, channel: probe/canary, mqtt: { qos: 1 } }
notifications: { channels: [] }
`;
}

interface ComponentView {
  id: string;
  state?: { status: string };
}

/** Whether the service's three components have all been evaluated operational (the admin API: an unevaluated one has no state). */
async function threeOperational(service: Service): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${service.port}/admin/api/components`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).catch(() => undefined);
  if (!res?.ok) return false;
  const { components } = (await res.json()) as { components: ComponentView[] };
  return components.length === 3 && components.every((c) => c.state?.status === "operational");
}

describe("a broker that is not ours, on pulseboard start (slow)", { timeout: 240_000 }, () => {
  let app: SocketIoHarness;
  let mqtt: MosquittoHarness;
  let service: Service;
  const admin = async <T>(pathname: string): Promise<T> => {
    const res = await fetch(`http://127.0.0.1:${service.port}/admin/api${pathname}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200, `GET ${pathname}`);
    return (await res.json()) as T;
  };
  const statuses = async (): Promise<Record<string, string | undefined>> => {
    const { components } = await admin<{ components: ComponentView[] }>("/components");
    return Object.fromEntries(components.map((c) => [c.id, c.state?.status]));
  };

  before(async () => {
    app = await startSocketIo({ nodes: 2, token: "e2e-app-token-0123456789" });
    // Mosquitto enforces max_connections on its TCP listener only.
    mqtt = await startMosquitto({ transport: "tcp", maxConnections: MQTT_LIMIT });
    service = await startService({
      config: config(app, mqtt),
      adminToken: ADMIN_TOKEN,
      ready: threeOperational,
    });
  });
  after(async () => {
    await service?.stop();
    await mqtt?.stop();
    await app?.stop();
  });

  it("starts no gateway fleet, and says why", () => {
    assert.ok(service.output.some((line) => line.includes("not starting the gateway fleet")), service.output.slice(-20).join("\n"));
    assert.ok(!service.output.some((line) => /"child":"gateway"/.test(line) && /started/.test(line)), "no gateway child was started");
  });

  it("takes cross-node delivery out of operational within 10 s of the app's Redis freezing, keeps same-node echo operational, and is back within 15 s", async () => {
    const frozenAt = Date.now();
    process.kill(app.redis.pid, "SIGSTOP");
    let echoLeft: string | undefined;
    let detectedMs: number;
    try {
      await waitFor(
        "chat-delivery to leave operational",
        async () => {
          const now = await statuses();
          if (now["chat-messages"] !== "operational") echoLeft = now["chat-messages"];
          return now["chat-delivery"] !== "operational" ? now : undefined;
        },
        10_000,
        200,
      );
      detectedMs = Date.now() - frozenAt;
      // Same-node echo keeps working while Redis stays frozen a while longer.
      const watchUntil = Date.now() + 4_000;
      while (Date.now() < watchUntil) {
        const now = await statuses();
        if (now["chat-messages"] !== "operational") echoLeft = now["chat-messages"];
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      process.kill(app.redis.pid, "SIGCONT");
    }
    const resumedAt = Date.now();
    assert.equal(echoLeft, undefined, `same-node echo went ${echoLeft} while only cross-node delivery was broken`);

    const { incidents } = await admin<{ incidents: { id: string; components?: unknown; updates?: { body: string }[] }[] }>("/incidents");
    const open = incidents.find((i) => JSON.stringify(i).includes("chat-delivery"));
    assert.ok(open, `an incident for chat-delivery: ${JSON.stringify(incidents).slice(0, 500)}`);
    const detail = await admin<unknown>(`/incidents/${open.id}`);
    assert.match(JSON.stringify(detail), /cross-node delivery node-\d → node-\d failed/, "the on-call timeline names cross-node delivery");

    await waitFor("chat-delivery to be operational again", async () => (await statuses())["chat-delivery"] === "operational", 15_000, 200);
    const recoveredMs = Date.now() - resumedAt;
    console.log(`# paused-Redis case: detected in ${detectedMs!} ms, recovered ${recoveredMs} ms after Redis resumed`);
  });

  it("tells a full Mosquitto by its own count while the canary still echoes", async () => {
    const held = await fillBroker(mqtt);
    assert.ok(held.length >= MQTT_LIMIT - 1, `held ${held.length} clients beside the canary`);
    try {
      const started = Date.now();
      const now = await waitFor("devices to be degraded", async () => ((await statuses()).devices === "degraded_performance" ? true : undefined), 15_000, 200);
      assert.ok(now);
      const { results } = await admin<{ results: { status: string; error?: string }[] }>("/probes/devices-safeguard/results?limit=5");
      const latest = results.find((r) => r.status === "degraded");
      assert.ok(latest, JSON.stringify(results).slice(0, 600));
      assert.match(latest.error!, /node-0 is full: \d+ of 8 connections \(\$SYS\/broker\/clients\/connected\); it refuses new clients while existing clients still work \(the canary echoed in [\d.]+ ms\)/);
      console.log(`# Mosquitto full: degraded ${Date.now() - started} ms after the last client was held; the probe said: ${latest.error}`);
    } finally {
      for (const client of held) client.close();
    }
    await waitFor("devices to be operational again", async () => (await statuses()).devices === "operational", 15_000, 200);
  });
});

describe("examples/socketio.yaml, as a new user runs it (slow)", { timeout: 180_000 }, () => {
  let app: SocketIoHarness;
  let service: Service;

  before(async () => {
    // The example's app checks no token, as the example config sends none.
    app = await startSocketIo({ nodes: 2, token: "" });
    const [nodeA, nodeB] = app.nodes!;
    service = await startService({
      config: () => readFileSync(path.join(REPO_ROOT, "examples/socketio.yaml"), "utf8"),
      adminToken: ADMIN_TOKEN,
      env: { CHAT_URL: nodeA!, CHAT_NODE_A: nodeA!, CHAT_NODE_B: nodeB! },
      ready: threeOperational,
    });
  });
  after(async () => {
    await service?.stop();
    await app?.stop();
  });

  it("brings every component of the example up on the example app, with no gateway fleet of ours", async () => {
    assert.ok(service.output.some((line) => line.includes("not starting the gateway fleet")), service.output.slice(-20).join("\n"));
    const page = await fetch(`http://127.0.0.1:${service.port}/api/v2/summary.json`);
    const summary = (await page.json()) as { components: { name: string; status: string }[] };
    assert.deepEqual(
      summary.components.map((c) => [c.name, c.status]),
      [
        ["Connecting to chat", "operational"],
        ["Sending messages", "operational"],
        ["Message delivery between servers", "operational"],
      ],
    );
  });
});

/**
 * Connects real MQTT clients until Mosquitto turns one away (it closes the
 * socket before CONNACK at max_connections): the broker is then full with
 * the probe's canary among its clients.
 */
async function fillBroker(mqtt: MosquittoHarness): Promise<RealtimeClient[]> {
  const kind = (await probeRegistry()).get("websocket")!;
  const settings = kind.configSchema.parse({ ...mqtt.settings, channel: null, mqtt: { qos: 1 } }) as RealtimeSettings;
  const stop = new AbortController();
  const held: RealtimeClient[] = [];
  for (let i = 0; i < 50; i++) {
    const opening = openClient(settings, { url: String(mqtt.settings.url) }, { signal: stop.signal, phase: untimed });
    opening.catch(() => {});
    const client = await within(opening.catch(() => undefined), 2_000);
    if (!client) break;
    held.push(client);
  }
  return held;
}
