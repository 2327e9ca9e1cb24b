import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LocalBroker } from "../../src/gateway/local-broker.ts";
import { SeenOffsets } from "../../src/gateway/seen-offsets.ts";

const HISTORY = { size: 100, ttlMs: 60_000, metaTtlMs: 600_000 };

describe("a cache message taken in once, whichever path brings it first (SeenOffsets, LocalBroker.take)", () => {
  it("knows a second copy, in any order, and keeps a floor below which all is taken", () => {
    const seen = new SeenOffsets(10);
    assert.equal(seen.add(10), false, "at or below the floor: already taken");
    assert.equal(seen.add(13), true);
    assert.equal(seen.add(12), true);
    assert.equal(seen.add(13), false, "the copy from the other path");
    assert.equal(seen.floor, 10, "11 has not come yet");
    assert.equal(seen.add(11), true);
    assert.equal(seen.floor, 13, "11-13 all taken: the floor moves up and nothing is held above it");
    assert.equal(seen.add(12), false);
  });

  it("holds at most a bounded number of offsets above a gap, then gives the gap up", () => {
    const seen = new SeenOffsets(0, 4);
    for (const offset of [2, 3, 4, 5]) assert.equal(seen.add(offset), true);
    assert.equal(seen.floor, 0, "1 may still come");
    assert.equal(seen.add(6), true);
    assert.equal(seen.floor, 6, "five held above the gap: 1 is given up, 2-6 count as taken");
    assert.equal(seen.add(1), false);
  });

  it("gives a message of the cache one node-local serial, however many copies arrive", () => {
    const local = new LocalBroker(HISTORY);
    const first = local.take("room", '{"n":1}', 1, { epoch: "cache1", offset: 7 });
    assert.ok(first);
    assert.equal(local.take("room", '{"n":1}', 1, { epoch: "cache1", offset: 7 }), undefined, "the relay's copy of cache1:7");
    const mine = local.take("room", '{"n":2}', 2);
    assert.equal(mine?.offset, first.offset + 1, "a message published into node-local history is never refused");
    assert.match(mine!.text, /"data":\{"n":2\},"ts":2\}$/);

    local.takenUpTo("room", { epoch: "cache1", offset: 20 });
    assert.equal(local.take("room", "1", 3, { epoch: "cache1", offset: 19 }), undefined, "handed out from the cache already");
    assert.ok(local.take("room", "1", 3, { epoch: "cache2", offset: 1 }), "another epoch of the cache is counted apart");
    assert.deepEqual(local.cacheProgress("room"), { epoch: "cache2", offset: 1 });
    void local.close();
  });
});
