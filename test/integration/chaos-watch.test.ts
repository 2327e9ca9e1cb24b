import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { STEADY_MS, StatusWatcher } from "../../src/chaos/watch.ts";
import { sleep } from "../../src/core/index.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The chaos watcher against a real HTTP page whose component status the test
 * sets: a moment of green between two red reads is not a recovery, a green
 * that holds for STEADY_MS is, dated from when it began.
 */
describe("the chaos run's status watcher", () => {
  let status = "operational";
  let server: http.Server;
  let url: string;

  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url !== "/api/v2/components.json") return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ components: [{ name: "Realtime gateway", status }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => server.close());

  it("counts a recovery only once the page stays operational, from the start of that stretch", async () => {
    const watcher = new StatusWatcher(url);
    await watcher.start();
    try {
      watcher.reset();
      status = "major_outage";
      await waitFor("the outage seen", async () => watcher.detectedAt !== undefined, 5_000, 50);
      status = "operational";
      await waitFor("the blip seen", async () => watcher.allOperational, 5_000, 50);
      await sleep(STEADY_MS / 3);
      assert.equal(watcher.recovered, false, "a green shorter than STEADY_MS is not a recovery");
      status = "major_outage";
      await waitFor("the relapse seen", async () => !watcher.allOperational, 5_000, 50);
      await sleep(STEADY_MS);
      assert.equal(watcher.recovered, false, "still red");
      const greenFrom = Date.now();
      status = "operational";
      await waitFor("the steady recovery", async () => watcher.recovered, STEADY_MS * 4, 50);
      const recoveredAt = watcher.recoveredAt!;
      assert.ok(recoveredAt >= greenFrom && recoveredAt < greenFrom + STEADY_MS, `dated from the first green read (${recoveredAt - greenFrom} ms after the switch)`);
      assert.deepEqual(
        watcher.changes.map((c) => c.to),
        ["major_outage", "operational", "major_outage", "operational"],
      );
    } finally {
      watcher.stop();
    }
  });
});
