import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { closest } from "../../src/config/closest.ts";
import { problemsOf, REPO_ROOT } from "../helpers/config.ts";


/** A mistake in the page, three in probes (a key, a key inside `with:`, a component), one in a playbook, one in notifications. */
const MISTAKES = `
page:
  name: Acme
  brand_colour: "#112233"
locations: [{ id: local }]
components:
  - { id: chat, name: Chat }
  - { id: qa, name: Q&A }
probes:
  - id: chat-echo
    kind: websocket
    intervall: 5s
    components: [chatt]
  - id: chat-fanout
    kind: pubsub
    components: [chat]
    with: { chanel: room-1 }
notifications:
  channels:
    - { id: oncall, kind: webhook, url: "https://hooks.example.test/x" }
  routes:
    - { channels: [oncal] }
playbooks:
  - id: restart
    trigger: { probe: chat-echoo }
    steps: [{ action: restart-gateway }]
`;

const EVERY_MISTAKE = [
  'page: Unrecognized key: "brand_colour" (did you mean "brand_color"?)',
  'probes[0]: Unrecognized key: "intervall" (did you mean "interval"?)',
  'probes[0].components[0]: no component has the id "chatt" (did you mean "chat"?)',
  'probes[1].with: Unrecognized key: "chanel" (did you mean "channel"?)',
  'playbooks[0].trigger.probe: no probe has the id "chat-echoo" (did you mean "chat-echo"?)',
  'notifications.routes[0].channels[0]: no channel has the id "oncal" (did you mean "oncall"?)',
];

describe("config check reports every problem at once", () => {
  it("finds the one name a misspelling is clearly closest to, and no guess otherwise", () => {
    assert.equal(closest("intervall", ["interval", "timeout", "components"]), "interval");
    assert.equal(closest("chatt", ["chat", "qa", "cache"]), "chat");
    assert.equal(closest("chnanel", ["channel", "messages"]), "channel", "a swap of two neighbours is one edit");
    assert.equal(closest("Chat", ["chat", "qa"]), "chat", "case is ignored");
    assert.equal(closest("nope", ["chat", "qa"]), undefined, "too far from everything");
    assert.equal(closest("cat", ["bat", "hat"]), undefined, "two are as close");
    assert.equal(closest("q", ["qa"]), undefined, "too short to guess");
    assert.equal(closest("intrvl", ["interval"]), "interval", "two edits in a name of six or more");
    assert.equal(closest("chaat", ["chat-echo"]), undefined, "more than one edit in a name of five");
  });

  it("lists schema and cross-reference problems of page, probes, playbooks and notifications together, each with its suggestion", async () => {
    assert.deepEqual((await problemsOf(MISTAKES)).sort(), [...EVERY_MISTAKE].sort());
  });

  it("leaves out an entry that cannot be parsed without shifting the others' indices or blaming references to it", async () => {
    const problems = await problemsOf(`
locations: [{ id: local }]
components:
  - { id: chat }
  - { id: qa, name: Q&A }
probes:
  - { id: a, kind: websocket, components: [chat, qaa] }
  - { id: Bad_Id, kind: websocket }
  - { id: a, kind: redis, components: [nope] }
`);
    assert.deepEqual(problems.sort(), [
      "components[0].name: Invalid input: expected string, received undefined",
      'probes[0].components[1]: no component has the id "qaa" (did you mean "qa"?)',
      'probes[1].id: expected an id of lowercase letters, digits and dashes, like "realtime-gateway"',
      'probes[2].components[0]: no component has the id "nope"',
      'probes[2].id: "a" is already used by probes[0]',
    ].sort());
  });

  it("does not judge a default the file never set: a bad interval hides no reference, and no timeout check against the default", async () => {
    const problems = await problemsOf(`
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
probes:
  - { id: a, kind: websocket, interval: ten, timeout: 20s, components: [chatt] }
`);
    assert.deepEqual(problems.sort(), [
      'probes[0].components[0]: no component has the id "chatt" (did you mean "chat"?)',
      'probes[0].interval: expected a duration like "10s", got "ten"',
    ]);
  });

  it("a wrong environment variable does not hide the file's problems", async () => {
    const problems = await problemsOf(MISTAKES, { PORT: "http" });
    assert.deepEqual(problems.sort(), ["PORT: expected a port number from 1 to 65535", ...EVERY_MISTAKE].sort());
  });

  it("pulseboard config check FILE prints every problem and exits 2", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-config-check-"));
    try {
      const file = path.join(dir, "mistakes.yaml");
      writeFileSync(file, MISTAKES);
      const run = spawnSync(process.execPath, [path.join(REPO_ROOT, "bin/pulseboard.js"), "config", "check", file], { encoding: "utf8", env: { ...process.env, PORT: "" } });
      assert.equal(run.status, 2, run.stderr);
      assert.equal(run.stdout, "");
      const lines = run.stderr.split("\n").map((line) => line.trim());
      for (const problem of EVERY_MISTAKE) assert.ok(lines.includes(problem), `missing "${problem}" in:\n${run.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
