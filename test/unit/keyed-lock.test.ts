import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KeyedLock } from "../../src/pipeline/index.ts";

/** A promise with its resolve, to hold work open until the test lets it finish. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("keyed lock", () => {
  it("runs work on one key one at a time, in the order it was asked for", async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    const first = gate();
    const runs = [
      lock.run(["probe:a"], async () => {
        order.push("1 start");
        await first.promise;
        order.push("1 end");
      }),
      lock.run(["probe:a"], async () => void order.push("2")),
      lock.run(["probe:a"], async () => void order.push("3")),
    ];
    await tick();
    assert.deepEqual(order, ["1 start"], "the second waits while the first holds the key");
    first.open();
    await Promise.all(runs);
    assert.deepEqual(order, ["1 start", "1 end", "2", "3"]);
    assert.equal(lock.size, 0, "keys are let go once nobody holds or waits for them");
  });

  it("runs work on other keys side by side", async () => {
    const lock = new KeyedLock();
    const held = gate();
    const slow = lock.run(["probe:a"], () => held.promise);
    let otherRan = false;
    await lock.run(["probe:b"], async () => void (otherRan = true));
    assert.equal(otherRan, true);
    held.open();
    await slow;
  });

  it("makes work on several keys wait for each, and never deadlocks on overlapping sets", async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    const a = gate();
    const b = gate();
    const runs = [
      lock.run(["probe:a", "component:x"], async () => {
        await a.promise;
        order.push("a");
      }),
      lock.run(["component:y", "probe:b"], async () => {
        await b.promise;
        order.push("b");
      }),
      // Claims the two sets' keys in the opposite order to each.
      lock.run(["component:y", "component:x"], async () => void order.push("both")),
    ];
    b.open();
    await tick();
    assert.deepEqual(order, ["b"], "still waits for component:x");
    a.open();
    await Promise.all(runs);
    assert.deepEqual(order, ["b", "a", "both"]);
  });

  it("lets the key go when the work throws", async () => {
    const lock = new KeyedLock();
    await assert.rejects(lock.run(["probe:a"], async () => Promise.reject(new Error("redis went away"))), /redis went away/);
    assert.equal(await lock.run(["probe:a"], async () => "next"), "next");
  });
});
