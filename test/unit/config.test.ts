import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/core/index.ts";
import { ConfigWatcher, formatDuration, loadConfig, parseDuration } from "../../src/config/index.ts";
import { configFrom, probeRegistry, problemsOf, REPO_ROOT } from "../helpers/config.ts";
import { captureLog } from "../helpers/receivers.ts";

const MINIMAL = `
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
probes:
  - id: chat-echo
    kind: websocket
    components: [chat]
`;


describe("configuration", () => {
  it("accepts the shipped pulseboard.yaml, with a Realtime gateway component", async () => {
    const config = await configFrom(readFileSync(path.join(REPO_ROOT, "pulseboard.yaml"), "utf8"));
    assert.ok(config.components.some((c) => c.name === "Realtime gateway"));
    assert.ok(config.probes.some((p) => p.kind === "websocket") && config.probes.some((p) => p.kind === "redis"));
    for (const probe of config.probes) assert.ok(probe.components.length > 0, `${probe.id} feeds no component`);
  });

  it("applies defaults that depend on other fields", async () => {
    const config = await configFrom(MINIMAL);
    const [probe] = config.probes;
    assert.equal(probe!.interval, 10_000);
    assert.equal(probe!.timeout, 5_000);
    assert.deepEqual(probe!.locations, ["local"]);
    assert.equal(probe!.quorum, 1);
    assert.equal(config.web.port, 3000);
    assert.equal(config.gateway.port, 4000);
    assert.equal(config.gateway.url, "ws://127.0.0.1:4000/ws");
    assert.equal(config.gateway.nodePortBase, 4001);
    assert.equal(config.home, path.join(REPO_ROOT, ".pulseboard"));
    assert.equal(config.redis.target, undefined);
  });

  it("names the exact path and problem of a bad duration", async () => {
    const problems = await problemsOf(`${MINIMAL}\n  - id: b\n    kind: redis\n  - id: c\n    kind: redis\n    interval: ten\n`);
    assert.deepEqual(problems, ['probes[2].interval: expected a duration like "10s", got "ten"']);
  });

  it("reads secrets from <NAME>_FILE, and names the variable when its file cannot be read", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-secrets-"));
    writeFileSync(path.join(dir, "admin-token"), "from-a-file-0123456789abcdef\n");
    writeFileSync(path.join(dir, "redis-url"), "redis://127.0.0.1:6390\n");
    const config = await configFrom(MINIMAL, { ADMIN_TOKEN_FILE: path.join(dir, "admin-token"), REDIS_URL_FILE: path.join(dir, "redis-url") });
    assert.equal(config.admin.token, "from-a-file-0123456789abcdef");
    assert.equal(config.redis.target, "redis://127.0.0.1:6390");
    const both = await configFrom(MINIMAL, { ADMIN_TOKEN: "the-variable-wins-0123456789", ADMIN_TOKEN_FILE: path.join(dir, "admin-token") });
    assert.equal(both.admin.token, "the-variable-wins-0123456789");
    await assert.rejects(configFrom(MINIMAL, { GATEWAY_ADMIN_TOKEN_FILE: path.join(dir, "missing") }), (err: ConfigError) => {
      assert.deepEqual(err.problems, [`GATEWAY_ADMIN_TOKEN_FILE: cannot read ${path.join(dir, "missing")} (ENOENT)`]);
      return true;
    });
  });

  it("says a zero duration must be longer than zero, not that it is no duration", async () => {
    const problems = await problemsOf(`${MINIMAL}\n  - id: b\n    kind: redis\n    timeout: 0s\n`);
    assert.deepEqual(problems, ['probes[1].timeout: must be longer than zero, got "0s"']);
  });

  it("reports every cross-reference problem at once", async () => {
    const problems = await problemsOf(`
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
probes:
  - id: a
    kind: websocket
    components: [nope]
    locations: [mars]
    with: { url: "http://example.test", extra: 1 }
  - id: a
    kind: carrier-pigeon
  - id: c
    kind: redis
    interval: 5s
    timeout: 20s
    quorum: 2
`);
    const kindProblem = problems.find((p) => p.startsWith("probes[1].kind"));
    assert.match(kindProblem ?? "", /^probes\[1\]\.kind: unknown probe kind "carrier-pigeon" \(known: [a-z, -]*redis[a-z, -]*websocket[a-z, -]*\)$/);
    assert.deepEqual(problems.filter((p) => p !== kindProblem).sort(), [
      'probes[0].components[0]: no component has the id "nope"',
      'probes[0].locations[0]: no location has the id "mars"',
      "probes[0].with.url: pulseboard is reached at ws://, wss:// URLs, not http://",
      'probes[0].with: Unrecognized key: "extra"',
      'probes[1].id: "a" is already used by probes[0]',
      "probes[2].quorum: 2 locations must agree, but the probe runs from only 1",
      "probes[2].timeout: must not exceed the interval (5s), or a run would still be going when the next starts",
    ].sort());
  });

  it("refuses unknown keys, so a typo does not silently fall back to a default", async () => {
    const problems = await problemsOf(MINIMAL.replace("kind: websocket", "kind: websocket\n    intervall: 5s"));
    assert.deepEqual(problems, ['probes[0]: Unrecognized key: "intervall" (did you mean "interval"?)']);
  });

  it("lets the environment override the file and validates the override", async () => {
    const config = await configFrom(MINIMAL, {
      PORT: "8080",
      GATEWAY_PORT: "5000",
      REDIS_URL: "redis://127.0.0.1:7000",
      CACHE_REDIS_URL: "redis://127.0.0.1:7001",
      PULSEBOARD_HOME: "/var/lib/pulseboard",
      ADMIN_TOKEN: "a-long-enough-admin-token",
    });
    assert.equal(config.web.port, 8080);
    assert.equal(config.gateway.port, 5000);
    assert.equal(config.gateway.url, "ws://127.0.0.1:5000/ws");
    assert.equal(config.redis.target, "redis://127.0.0.1:7000");
    assert.equal(config.cache.target, "redis://127.0.0.1:7001");
    assert.equal(config.home, "/var/lib/pulseboard");
    assert.equal(config.admin.token, "a-long-enough-admin-token");
    assert.deepEqual(await problemsOf(MINIMAL, { PORT: "http" }), ["PORT: expected a port number from 1 to 65535"]);
    assert.deepEqual(await problemsOf(MINIMAL, { REDIS_URL: "localhost:6379" }), ["REDIS_URL: expected a Redis URL like redis://host:6379"]);
    assert.deepEqual(await problemsOf(MINIMAL, { ADMIN_TOKEN: "short" }), ["ADMIN_TOKEN: must be at least 16 characters"]);
  });

  it("treats an empty environment variable as unset", async () => {
    const config = await configFrom(MINIMAL, { PORT: "", REDIS_URL: "" });
    assert.equal(config.web.port, 3000);
    assert.equal(config.redis.target, undefined);
  });

  it("interpolates ${VAR} and ${VAR:-default} and names an unset variable", async () => {
    const yaml = `page: { name: "\${PAGE_NAME}", url: "\${PUBLIC_URL:-http://status.example.test}" }\n${MINIMAL}`;
    const config = await configFrom(yaml, { PAGE_NAME: "Acme" });
    assert.equal(config.page.name, "Acme");
    assert.equal(config.page.url, "http://status.example.test");
    const problems = await problemsOf(yaml);
    assert.ok(problems.some((p) => p.startsWith("page.name: environment variable PAGE_NAME is not set")), problems.join("\n"));
  });

  it("reports YAML syntax errors with their line", async () => {
    const problems = await problemsOf("locations: [\n  - id: x\n");
    assert.match(problems[0]!, /^line \d+, column \d+: /);
  });

  it("parses and formats durations", () => {
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("10s"), 10_000);
    assert.equal(parseDuration("1.5m"), 90_000);
    assert.equal(parseDuration("2h"), 7_200_000);
    assert.equal(parseDuration("10"), undefined);
    assert.equal(parseDuration(10), undefined);
    assert.equal(parseDuration("0s"), undefined);
    assert.equal(formatDuration(90_000), "90s");
    assert.equal(formatDuration(120_000), "2m");
  });

  it("exits with status 2 and the field's path from `pulseboard config check`", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-config-"));
    const file = path.join(dir, "bad.yaml");
    writeFileSync(file, `${MINIMAL}\n  - id: b\n    kind: redis\n  - id: c\n    kind: redis\n    interval: ten\n`);
    const run = spawnSync(process.execPath, [path.join(REPO_ROOT, "bin/pulseboard.js"), "config", "check", file], { encoding: "utf8" });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /probes\[2\]\.interval: expected a duration like "10s"/);
    const good = spawnSync(process.execPath, [path.join(REPO_ROOT, "bin/pulseboard.js"), "config", "check", path.join(REPO_ROOT, "pulseboard.yaml")], { encoding: "utf8" });
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /valid/);
  });
});

describe("configuration reload", () => {
  it("applies a new config, and names the sections that take effect only after a restart (the fleet driver's among them)", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-reload-"));
    const file = path.join(dir, "pulseboard.yaml");
    const probeKinds = await probeRegistry();
    writeFileSync(file, `${MINIMAL}fleet: { driver: local }\n`);
    const captured = captureLog();
    const watcher = new ConfigWatcher(loadConfig({ file, env: {}, probeKinds }), { env: {}, probeKinds }, captured.log);
    const heard: string[] = [];
    watcher.onChange((next) => heard.push(next.components[0]!.name));
    writeFileSync(file, `${MINIMAL.replace("name: Chat", "name: Chat rooms")}fleet: { driver: command, settings: { restart: "systemctl restart gw" } }\n`);
    try {
      assert.equal(watcher.reload(), true);
      assert.deepEqual(heard, ["Chat rooms"], "the new config is applied");
      const warned = captured.text().split("\n").filter(Boolean).map((line) => JSON.parse(line) as { msg: string; sections?: string[] }).find((l) => l.sections);
      assert.deepEqual(warned?.sections, ["fleet"]);
      assert.equal(warned?.msg, "fleet settings changed: they take effect after a restart of the roles that use them");
    } finally {
      watcher.stop();
    }
  });
});
