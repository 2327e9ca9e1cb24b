import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ProbeResult } from "../../src/probe-runtime/index.ts";
import { ResultBuffer } from "../../src/remote-agent/index.ts";

function result(n: number): ProbeResult {
  const at = new Date(1_800_000_000_000 + n * 1_000).toISOString();
  return { id: `eu.p.${n}`, probe: "p", kind: "http", location: "eu", status: "ok", latency_ms: 1, phases: {}, started_at: at, finished_at: at };
}

const ids = (buffer: ResultBuffer): string[] => buffer.snapshot().map((r) => r.id);

describe("remote agent result buffer", () => {
  it("keeps the newest results when full and counts the dropped ones", () => {
    const buffer = new ResultBuffer(3);
    for (let n = 1; n <= 5; n++) buffer.add(result(n));
    assert.deepEqual(ids(buffer), ["eu.p.3", "eu.p.4", "eu.p.5"]);
    assert.equal(buffer.dropped, 2);
  });

  it("takes the oldest first, within a count and a byte budget, and removes only what was accepted", () => {
    const buffer = new ResultBuffer(100);
    for (let n = 1; n <= 10; n++) buffer.add(result(n));
    const batch = buffer.take(4, Number.MAX_SAFE_INTEGER);
    assert.deepEqual(batch.map((b) => b.result.id), ["eu.p.1", "eu.p.2", "eu.p.3", "eu.p.4"]);
    const oneSize = batch[0]!.bytes;
    assert.equal(buffer.take(10, oneSize * 2 + 1).length, 2, "the byte budget cuts the batch");
    assert.equal(buffer.take(10, 1).length, 1, "a batch holds one result even over the budget");
    assert.equal(buffer.size, 10, "taking leaves the results in the buffer until they are accepted");
    buffer.accepted(batch, 0);
    assert.deepEqual(ids(buffer), ["eu.p.5", "eu.p.6", "eu.p.7", "eu.p.8", "eu.p.9", "eu.p.10"]);
  });

  it("restarts the drop count after an accepted push, keeping drops that came during it", () => {
    const buffer = new ResultBuffer(4);
    for (let n = 1; n <= 6; n++) buffer.add(result(n)); // 1 and 2 dropped
    const reported = buffer.dropped;
    const batch = buffer.take(2, Number.MAX_SAFE_INTEGER); // 3, 4 in flight
    buffer.add(result(7)); // drops 3, which is in flight
    buffer.add(result(8)); // drops 4, in flight too
    buffer.add(result(9)); // drops 5, not in flight: really lost
    assert.equal(buffer.dropped, 5);
    buffer.accepted(batch, reported);
    assert.equal(buffer.dropped, 1, "3 and 4 reached the server; only 5 is lost since the push");
    assert.deepEqual(ids(buffer), ["eu.p.6", "eu.p.7", "eu.p.8", "eu.p.9"]);
  });

  it("discards named results from the middle", () => {
    const buffer = new ResultBuffer(10);
    for (let n = 1; n <= 5; n++) buffer.add(result(n));
    const batch = buffer.take(5, Number.MAX_SAFE_INTEGER);
    buffer.discard([batch[1]!, batch[3]!]);
    assert.deepEqual(ids(buffer), ["eu.p.1", "eu.p.3", "eu.p.5"]);
    assert.equal(buffer.dropped, 0, "refused results are not counted as dropped");
  });

  it("stays in order through many drops and removals", () => {
    const buffer = new ResultBuffer(1_000);
    let next = 1;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 300; i++) buffer.add(result(next++));
      buffer.accepted(buffer.take(100, Number.MAX_SAFE_INTEGER), buffer.dropped);
    }
    const left = buffer.snapshot().map((r) => Number(r.id.split(".")[2]));
    assert.equal(left.length, 1_000 - 100);
    assert.deepEqual(left, [...left].sort((a, b) => a - b));
    assert.equal(left.at(-1), next - 1);
  });

  it("refuses a capacity below one", () => {
    assert.throws(() => new ResultBuffer(0), /buffer capacity must be a whole number ≥ 1, got 0/);
  });
});
