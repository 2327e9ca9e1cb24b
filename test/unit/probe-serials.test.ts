import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { continuityProblems, deliveryProblems } from "../../src/probe-runtime/index.ts";

describe("serial checks shared by the pubsub and resume probes", () => {
  it("accepts consecutive serials of one epoch delivered once, in order", () => {
    assert.deepEqual(continuityProblems(["e1:7", "e1:8", "e1:9"]), []);
    assert.deepEqual(deliveryProblems(["e1:7", "e1:8", "e1:9"], ["e1:7", "e1:8", "e1:9"]), []);
  });

  it("names a gap and a change of epoch in what the publisher was given", () => {
    assert.deepEqual(continuityProblems(["e1:7", "e1:9", "e2:1"]), [
      "serials are not consecutive: e1:7 was followed by e1:9",
      "the epoch changed from e1 to e2 between e1:9 and e2:1 (the channel's history was lost)",
    ]);
  });

  it("names each missing, repeated, foreign and out-of-order message", () => {
    assert.deepEqual(deliveryProblems(["e1:1", "e1:2", "e1:3", "e1:4"], ["e1:1", "e1:3", "e1:2", "e1:3", "e1:9"]), [
      "message 4 of 4 (serial e1:4) never arrived",
      "serial e1:3 arrived 2 times",
      "serial e1:9 arrived but was not published by this run",
      "out of order: e1:3 arrived before e1:2",
    ]);
  });
});
