import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { ConfigError } from "../../src/core/index.ts";
import { configFrom, REPO_ROOT } from "../helpers/config.ts";
import { fuzzSeed, randomJson, Rng } from "../helpers/fuzz.ts";

/** Every path to a value inside a parsed document. */
function paths(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return [at, ...value.flatMap((v, i) => paths(v, [...at, i]))];
  if (value && typeof value === "object") return [at, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...at, k]))];
  return [at];
}

function setAt(doc: unknown, at: (string | number)[], value: unknown, remove: boolean): void {
  let node = doc as Record<string | number, unknown>;
  for (const key of at.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = at.at(-1)!;
  if (remove && Array.isArray(node)) node.splice(Number(last), 1);
  else if (remove) delete node[last];
  else node[last] = value;
}

describe("config loader under generated bad input", () => {
  it("answers 2,000 spoiled copies of the shipped pulseboard.yaml with a ConfigError naming the field, or a valid config; never anything else", async () => {
    const seed = fuzzSeed();
    const rng = new Rng(seed);
    const shipped = parse(readFileSync(path.join(REPO_ROOT, "pulseboard.yaml"), "utf8")) as unknown;
    const all = paths(shipped).filter((p) => p.length > 0);
    let refused = 0;
    let accepted = 0;
    for (let i = 0; i < 2_000; i++) {
      const doc = structuredClone(shipped);
      for (let n = 1 + rng.int(3); n > 0; n--) {
        const at = rng.pick(all);
        try {
          setAt(doc, at, randomJson(rng, 2), rng.chance(0.3));
        } catch {
          // the path went away with an earlier change in this round
        }
      }
      const text = rng.chance(0.05) ? stringify(doc).slice(0, rng.int(400)) : stringify(doc);
      try {
        await configFrom(text, { PUBLIC_URL: "http://localhost:3000" });
        accepted++;
      } catch (err) {
        if (!(err instanceof ConfigError)) assert.fail(`seed ${seed}, round ${i}: ${(err as Error).stack}\n--- config:\n${text.slice(0, 2_000)}`);
        assert.match(err.message, /invalid configuration|cannot parse|YAML/i, `seed ${seed}, round ${i}`);
        for (const problem of err.problems) assert.ok(problem.length > 0 && problem.length < 2_000, `seed ${seed}, round ${i}: a problem is said in a line: ${problem.slice(0, 200)}`);
        refused++;
      }
    }
    assert.ok(refused > 1_000, `most spoiled configs are refused (${refused} refused, ${accepted} accepted; seed ${seed})`);
  });
});
