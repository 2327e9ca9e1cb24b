import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { configFrom, problemsOf, REPO_ROOT } from "../helpers/config.ts";

const MINIMAL = `
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
`;

describe("incidents: publish and review_timeout in pulseboard.yaml", () => {
  it("publishes automatic incidents at once unless told otherwise; a draft waits 10 minutes by default", async () => {
    assert.deepEqual((await configFrom(MINIMAL)).incidents, { publish: "auto", reviewTimeout: 600_000 });
    assert.deepEqual((await configFrom(`${MINIMAL}incidents: { publish: review }\n`)).incidents, { publish: "review", reviewTimeout: 600_000 });
    assert.deepEqual((await configFrom(`${MINIMAL}incidents: { publish: review, review_timeout: 2s }\n`)).incidents, { publish: "review", reviewTimeout: 2_000 });
  });

  it("names an unknown mode with the ones allowed, and the near one", async () => {
    assert.deepEqual(await problemsOf(`${MINIMAL}incidents: { publish: reviw }\n`), ['incidents.publish: unknown mode "reviw" (did you mean "review"?); expected "auto" or "review"']);
    assert.deepEqual(await problemsOf(`${MINIMAL}incidents: { publish: manual }\n`), ['incidents.publish: unknown mode "manual"; expected "auto" or "review"']);
    assert.deepEqual(await problemsOf(`${MINIMAL}incidents: { publish: true }\n`), ['incidents.publish: unknown mode true; expected "auto" or "review"']);
  });

  it("names a bad review_timeout: not a duration, zero, or beyond a day", async () => {
    assert.deepEqual(await problemsOf(`${MINIMAL}incidents: { publish: review, review_timeout: soon }\n`), ['incidents.review_timeout: expected a duration like "10m", got "soon"']);
    assert.deepEqual(await problemsOf(`${MINIMAL}incidents: { review_timeout: 600 }\n`), ['incidents.review_timeout: expected a duration like "10m", got 600']);
    assert.deepEqual(await problemsOf(`${MINIMAL}incidents: { review_timeout: 0s }\n`), ['incidents.review_timeout: must be longer than zero, got "0s"']);
    assert.deepEqual(await problemsOf(`${MINIMAL}incidents: { review_timeout: 2d }\n`), ["incidents.review_timeout: must be from 1s to 24h"]);
    assert.deepEqual(await problemsOf(`${MINIMAL}incidents: { review_timeout: 500ms }\n`), ["incidents.review_timeout: must be from 1s to 24h"]);
  });

  it("refuses a misspelt key, naming the one meant", async () => {
    assert.deepEqual(await problemsOf(`${MINIMAL}incidents: { publsh: review }\n`), ['incidents: Unrecognized key: "publsh" (did you mean "publish"?)']);
  });

  it("`pulseboard config check` says how automatic incidents are published, and refuses a bad mode with status 2", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-incidents-config-"));
    try {
      const check = (yaml: string) => {
        const file = path.join(dir, "pulseboard.yaml");
        writeFileSync(file, yaml);
        return spawnSync(process.execPath, [path.join(REPO_ROOT, "bin/pulseboard.js"), "config", "check", file], { encoding: "utf8" });
      };
      const review = check(`${MINIMAL}incidents: { publish: review, review_timeout: 90s }\n`);
      assert.equal(review.status, 0, review.stderr);
      assert.match(review.stdout, /^ {2}incidents: publish review \(automatic incidents open as drafts for a person; an unreviewed one publishes itself after 90s\)$/m);
      const auto = check(MINIMAL);
      assert.equal(auto.status, 0, auto.stderr);
      assert.match(auto.stdout, /^ {2}incidents: publish auto \(automatic incidents are public as they open\)$/m);
      const bad = check(`${MINIMAL}incidents: { publish: later }\n`);
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /incidents\.publish: unknown mode "later"; expected "auto" or "review"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
