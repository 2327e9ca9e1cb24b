import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { probeRegistry } from "../helpers/config.ts";
import { BIN } from "../helpers/service.ts";

describe("realtime probe settings at config time", () => {
  const parse = async (kind: string, settings: Record<string, unknown>) => (await probeRegistry()).get(kind)!.configSchema.safeParse(settings);

  it("asks for a persistent session when the resume kind speaks MQTT with a clean one", async () => {
    const clean = await parse("resume", { protocol: "mqtt", url: "mqtt://127.0.0.1:1883" });
    assert.equal(clean.success, false);
    assert.deepEqual(clean.error!.issues.map((i) => [i.path.join("."), i.message]), [
      ["mqtt", "the resume kind needs a persistent session on MQTT, or the broker keeps nothing for the client to come back to: set mqtt: { clean: false, qos: 1 }"],
    ]);
    assert.equal((await parse("resume", { protocol: "mqtt", url: "mqtt://127.0.0.1:1883", mqtt: { clean: false, qos: 1 } })).success, true);
  });

  it("names another protocol's block, a missing URL and our gateway's admin API on another broker", async () => {
    const issues = async (kind: string, settings: Record<string, unknown>) => ((await parse(kind, settings)).error?.issues ?? []).map((i) => `${i.path.join(".")}: ${i.message}`);
    assert.deepEqual(await issues("websocket", { protocol: "nats", url: "nats://127.0.0.1:4222", mqtt: { qos: 0 } }), [
      'mqtt: settings for mqtt, but this probe speaks nats: rename the block to "nats" or set protocol: mqtt',
    ]);
    assert.deepEqual(await issues("websocket", { protocol: "socket.io" }), ["url: required for protocol socket.io: the broker's URL, like ws://broker.example.com"]);
    assert.deepEqual(await issues("pubsub", { protocol: "nats", url: "nats://127.0.0.1:4222", admin: { url: "http://127.0.0.1:4100" } }), [
      "admin: the gateway admin API is our gateway's; a nats broker has none: remove admin, and list its nodes under nodes",
    ]);
  });

  it("keeps the adapter out of what is shown, scanned for secrets or serialised", async () => {
    const parsed = await parse("websocket", { protocol: "mqtt", url: "mqtt://127.0.0.1:1883", auth: { username: "u", password: "p-secret" } });
    assert.equal(parsed.success, true);
    const settings = parsed.data as Record<string, unknown> & { adapter: { protocol: string } };
    assert.equal(settings.adapter.protocol, "mqtt");
    assert.ok(!Object.keys(settings).includes("adapter"));
    assert.doesNotThrow(() => JSON.stringify(settings));
  });
});

describe("a misspelt protocol at start", () => {
  it("is a config error naming the valid protocols, exit 2, for config check and start alike", () => {
    const home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-protocol-"));
    try {
      const file = path.join(home, "pulseboard.yaml");
      writeFileSync(
        file,
        [
          "locations: [{ id: local }]",
          "components: [{ id: devices, name: Devices }]",
          "probes:",
          "  - { id: devices-echo, kind: websocket, interval: 10s, components: [devices], with: { protocol: mqqt, url: 'mqtt://127.0.0.1:1883' } }",
        ].join("\n"),
      );
      for (const args of [["config", "check", file], ["start"]]) {
        const run = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, PULSEBOARD_CONFIG: file, PULSEBOARD_HOME: home, PORT: "1" }, encoding: "utf8", timeout: 60_000 });
        assert.equal(run.status, 2, `${args.join(" ")}: ${run.stderr}`);
        assert.match(run.stderr, /probes\[0\]\.with\.protocol: unknown protocol "mqqt" \(valid: pulseboard, websocket, socket\.io, mqtt, nats\)/);
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
