import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay, routeChannels, suppressFlaps, type FlapState } from "../../src/pipeline/index.ts";
import type { ComponentStatus, Incident } from "../../src/status/index.ts";
import { configFrom } from "../helpers/config.ts";

const MIN = 60_000;

function feed(statuses: ComponentStatus[], everyMs: number, windowMs = 10 * MIN, limit = 4) {
  let state: FlapState | undefined;
  return statuses.map((raw, i) => {
    const verdict = suppressFlaps(state, raw, i * everyMs, windowMs, limit);
    state = verdict.state;
    return verdict;
  });
}

describe("flap suppression", () => {
  it("passes ordinary changes through", () => {
    assert.deepEqual(feed(["operational", "major_outage", "major_outage", "operational"], MIN).map((v) => v.status), ["operational", "major_outage", "major_outage", "operational"]);
  });

  it("holds a component that keeps changing at the worst state, and says so", () => {
    const verdicts = feed(["operational", "major_outage", "operational", "major_outage", "operational", "operational"], 30_000);
    assert.deepEqual(verdicts.map((v) => v.status), ["operational", "major_outage", "operational", "major_outage", "major_outage", "major_outage"]);
    assert.match(verdicts[4]!.note!, /^Flapping: its status changed 4 times in the last 10 min; held at major outage/);
  });

  it("releases it once it has been stable for a whole window", () => {
    const flapping: ComponentStatus[] = ["operational", "major_outage", "operational", "major_outage", "operational"];
    let state: FlapState | undefined;
    let now = 0;
    for (const raw of flapping) {
      state = suppressFlaps(state, raw, now, 10 * MIN, 4).state;
      now += 30_000;
    }
    assert.equal(suppressFlaps(state, "operational", now + 5 * MIN, 10 * MIN, 4).status, "major_outage", "still within the window");
    const released = suppressFlaps(state, "operational", now + 11 * MIN, 10 * MIN, 4);
    assert.equal(released.status, "operational");
    assert.equal(released.note, undefined);
  });
});

describe("notification routing and backoff", () => {
  const incident = (impact: Incident["impact"], components: string[]) => ({ impact, components: Object.fromEntries(components.map((c) => [c, "major_outage"])) }) as unknown as Incident;

  it("sends everything everywhere without routes, and filters by component and impact with them", async () => {
    const base = `
locations: [{ id: l }]
components: [{ id: chat, name: Chat }, { id: cache, name: Cache }]
notifications:
  channels:
    - { id: hooks, kind: webhook, url: "http://127.0.0.1:9/a" }
    - { id: pager, kind: webhook, url: "http://127.0.0.1:9/b" }
`;
    const open = await configFrom(base);
    assert.deepEqual(routeChannels(open, incident("minor", ["chat"])), ["hooks", "pager"]);
    const routed = await configFrom(`${base}  routes:
    - { channels: [hooks] }
    - { channels: [pager], impacts: [critical], components: [cache] }
`);
    assert.deepEqual(routeChannels(routed, incident("critical", ["chat"])), ["hooks"]);
    assert.deepEqual(routeChannels(routed, incident("major", ["cache"])), ["hooks"]);
    assert.deepEqual(routeChannels(routed, incident("critical", ["cache", "chat"])), ["hooks", "pager"]);
  });

  it("refuses routes to channels or components that do not exist", async () => {
    await assert.rejects(
      configFrom(`
locations: [{ id: l }]
components: [{ id: chat, name: Chat }]
notifications:
  channels: [{ id: hooks, kind: webhook, url: "http://127.0.0.1:9/a" }]
  routes: [{ channels: [pager], components: [ghost] }]
`),
      /notifications\.routes\[0\]\.channels\[0\]: no channel has the id "pager"[\s\S]*notifications\.routes\[0\]\.components\[0\]: no component has the id "ghost"/,
    );
  });

  it("backs off exponentially with jitter, capped", () => {
    assert.equal(backoffDelay(1, 1_000, 60_000, () => 0), 500);
    assert.equal(backoffDelay(1, 1_000, 60_000, () => 1), 1_000);
    assert.equal(backoffDelay(4, 1_000, 60_000, () => 1), 8_000);
    assert.equal(backoffDelay(20, 1_000, 60_000, () => 1), 60_000);
    assert.equal(backoffDelay(20, 1_000, 60_000, () => 0), 30_000);
  });
});
