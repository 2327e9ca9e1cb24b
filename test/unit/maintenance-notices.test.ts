import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { routeMaintenanceChannels } from "../../src/pipeline/index.ts";
import { maintenanceNoticeText } from "../../src/status/index.ts";
import { configFrom, problemsOf } from "../helpers/config.ts";

/** What maintenance notices say, and how pulseboard.yaml's `remind_before` and `notify` are read. */

const window = { scheduled_for: "2026-12-04T14:00:00.000Z", scheduled_until: "2026-12-04T15:00:00.000Z" };
const BASE = `
locations: [{ id: local }]
components: [{ id: chat, name: Chat }, { id: qa, name: "Q&A" }]
`;
const oneOff = (extra: string) => `${BASE}maintenance:
  - { id: upgrade, name: Upgrade, components: [chat], starts_at: "2026-12-04T14:00:00Z", ends_at: "2026-12-04T15:00:00Z"${extra} }
`;

describe("maintenance notices in plain words", () => {
  it("a reminder says how soon, when (UTC) and until when", () => {
    assert.equal(
      maintenanceNoticeText({ type: "maintenance.reminder", ...window, at: "2026-12-04T13:00:00.000Z" }, ["Chat"]),
      "Scheduled maintenance of Chat starts in 60 minutes (14:00 UTC) and lasts until 15:00 UTC.",
    );
    assert.equal(
      maintenanceNoticeText({ type: "maintenance.reminder", ...window, at: "2026-12-03T14:00:00.000Z" }, ["Chat", "Q&A", "Cache"]),
      "Scheduled maintenance of Chat, Q&A and Cache starts in 1 day (2026-12-04 14:00 UTC) and lasts until 15:00 UTC.",
    );
    assert.match(maintenanceNoticeText({ type: "maintenance.reminder", ...window, at: "2026-12-04T11:00:00.000Z" }, ["Chat"]), /starts in 3 hours \(14:00 UTC\)/);
    assert.match(maintenanceNoticeText({ type: "maintenance.reminder", ...window, at: "2026-12-04T13:59:58.000Z" }, ["Chat"]), /starts in less than a minute \(14:00 UTC\)/);
    assert.match(maintenanceNoticeText({ type: "maintenance.reminder", scheduled_for: window.scheduled_for, scheduled_until: "2026-12-05T02:00:00.000Z", at: "2026-12-04T13:00:00.000Z" }, ["Chat"]), /and lasts until 2026-12-05 02:00 UTC\.$/);
  });

  it("the start, the completion and a cancellation", () => {
    const at = "2026-12-04T14:00:01.000Z";
    assert.equal(maintenanceNoticeText({ type: "maintenance.started", ...window, at }, ["Chat", "Q&A"]), "Scheduled maintenance of Chat and Q&A has started and lasts until 15:00 UTC.");
    assert.equal(maintenanceNoticeText({ type: "maintenance.completed", ...window, at }, ["Chat"]), "Scheduled maintenance of Chat is complete.");
    assert.equal(
      maintenanceNoticeText({ type: "maintenance.cancelled", ...window, at: "2026-12-04T13:30:00.000Z" }, ["Chat"]),
      "Scheduled maintenance of Chat, planned for 14:00 UTC, has been cancelled.",
    );
  });
});

describe("pulseboard.yaml: a window's remind_before and notify", () => {
  it("reads a duration (default 1h), 0 for none, and notify (default true)", async () => {
    assert.deepEqual((await configFrom(oneOff(""))).maintenance.map((m) => [m.remind_before, m.notify]), [[3_600_000, true]]);
    assert.deepEqual((await configFrom(oneOff(", remind_before: 30m, notify: false"))).maintenance.map((m) => [m.remind_before, m.notify]), [[1_800_000, false]]);
    assert.equal((await configFrom(oneOff(", remind_before: 0"))).maintenance[0]!.remind_before, 0);
    assert.equal((await configFrom(oneOff(', remind_before: "0"'))).maintenance[0]!.remind_before, 0);
  });

  it("names a negative, a non-duration and a too long remind_before, and a notify that is not a boolean", async () => {
    assert.deepEqual(await problemsOf(oneOff(", remind_before: -5m")), ['maintenance[0].remind_before: must not be negative, got "-5m"; write 0 for no reminder']);
    assert.deepEqual(await problemsOf(oneOff(", remind_before: soon")), ['maintenance[0].remind_before: expected a duration like "1h" or "30m" (0 for no reminder), got "soon"']);
    assert.deepEqual(await problemsOf(oneOff(", remind_before: 60")), ['maintenance[0].remind_before: expected a duration like "1h" or "30m" (0 for no reminder), got 60']);
    assert.deepEqual(await problemsOf(oneOff(", remind_before: 8d")), ['maintenance[0].remind_before: must be at most 7d, got "8d"']);
    assert.deepEqual(await problemsOf(oneOff(", notify: yes")), ["maintenance[0].notify: expected true or false"]);
  });
});

describe("routing maintenance posts to on-call channels", () => {
  it("follows routes by component; a route filtered by impact never takes maintenance (it has none)", async () => {
    const config = await configFrom(`${BASE}notifications:
  channels:
    - { id: hooks, kind: webhook, url: "http://127.0.0.1:1/hooks" }
    - { id: pager, kind: pagerduty, routing_key: R0uTiNgKeYpUlSeBoArD0123456789ab }
    - { id: qa-team, kind: webhook, url: "http://127.0.0.1:1/qa" }
  routes:
    - { channels: [hooks] }
    - { impacts: [critical, major], channels: [pager] }
    - { components: [qa], channels: [qa-team] }
`);
    assert.deepEqual(routeMaintenanceChannels(config, { components: ["chat"] }), ["hooks"]);
    assert.deepEqual(routeMaintenanceChannels(config, { components: ["chat", "qa"] }), ["hooks", "qa-team"]);
  });
});
