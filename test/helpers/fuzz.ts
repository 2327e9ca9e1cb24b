/**
 * Seeded generators of bad input for the fuzz-style tests. Every test prints
 * its seed, and FUZZ_SEED=<n> replays a run exactly.
 */
export function fuzzSeed(): number {
  return Number(process.env.FUZZ_SEED) || Math.floor(Math.random() * 2 ** 31);
}

/** mulberry32: a small, fast, seedable PRNG; good enough to pick test inputs. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  int(max: number): number {
    return Math.floor(this.next() * max);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

const NASTY_STRINGS = [
  "",
  " ",
  "\u0000",
  "null",
  "undefined",
  "NaN",
  "-1",
  "1e309",
  "0x10",
  "<script>alert(1)</script>",
  "'; DROP TABLE incidents; --",
  "../../etc/passwd",
  "%00",
  "\u202e\u202d",
  "🙂".repeat(50),
  "a".repeat(70_000),
  "__proto__",
  "constructor",
  "{{#each this}}{{/each}}",
  "${HOME}",
  "http://169.254.169.254/latest/meta-data/",
  "2026-13-45T99:99:99Z",
];

const NASTY_KEYS = ["__proto__", "constructor", "prototype", "", " ", "id", "status", "components", "name", "body", "scopes", "a".repeat(300)];

/** Any JSON value, nested up to `depth`, leaning to what breaks parsers and validators. */
export function randomJson(rng: Rng, depth = 3): unknown {
  const kind = rng.int(depth > 0 ? 9 : 6);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, -0]);
    case 3:
    case 4:
      return rng.pick(NASTY_STRINGS);
    case 5:
      return String.fromCharCode(...Array.from({ length: rng.int(40) }, () => rng.int(0xd7ff)));
    case 6:
    case 7: {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(6); i > 0; i--) Object.defineProperty(out, rng.pick(NASTY_KEYS), { value: randomJson(rng, depth - 1), enumerable: true, writable: true, configurable: true });
      return out;
    }
    default:
      return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth - 1));
  }
}

/**
 * A valid-looking object spoiled in one or two places: a key dropped, a value
 * swapped for one of another type, a stray key added. Bad input that gets
 * past the first checks finds the bugs deeper in.
 */
export function spoil(rng: Rng, valid: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(valid);
  const keys = Object.keys(out);
  for (let n = 1 + rng.int(2); n > 0; n--) {
    const action = rng.int(3);
    const key = keys.length > 0 ? rng.pick(keys) : "x";
    if (action === 0) delete out[key];
    else if (action === 1) out[key] = randomJson(rng, 2);
    else Object.defineProperty(out, rng.pick(NASTY_KEYS), { value: randomJson(rng, 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Raw text that is not quite JSON (or not at all). */
export function randomText(rng: Rng): string {
  const json = JSON.stringify(randomJson(rng, 2)) ?? "null";
  switch (rng.int(5)) {
    case 0:
      return json.slice(0, rng.int(json.length + 1));
    case 1:
      return json + rng.pick(["}", "]", ",", "\u0000", "garbage"]);
    case 2:
      return rng.pick(NASTY_STRINGS);
    default:
      return json;
  }
}
