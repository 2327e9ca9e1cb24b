import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../helpers/config.ts";

/**
 * A fresh `npm install` leaves the committed package-lock.json as it is and
 * warns of nothing: every optional platform package npm would add is in the
 * lock already, and every dependency with an install script is settled in
 * package.json's `allowScripts` (esbuild: allowed, tsx needs its binary
 * checked; msgpackr-extract: denied, its prebuilt binary loads without it
 * and nothing is compiled at install).
 */

interface LockEntry {
  optionalDependencies?: Record<string, string>;
  hasInstallScript?: boolean;
}

const read = (file: string) => JSON.parse(readFileSync(path.join(REPO_ROOT, file), "utf8"));
const lock = read("package-lock.json") as { packages: Record<string, LockEntry> };
const pkg = read("package.json") as { allowScripts?: Record<string, boolean> };

/** The lock's entry that `name`, required from the package at `from`, resolves to (Node's lookup: nearest node_modules up). */
function resolves(from: string, name: string): boolean {
  for (let base = from; ; base = base.replace(/\/?node_modules\/(@[^/]+\/)?[^/]+$/, "")) {
    if (lock.packages[`${base ? `${base}/` : ""}node_modules/${name}`]) return true;
    if (!base) return false;
  }
}

describe("the install is settled in the repository", () => {
  it("locks every optional dependency npm would add (its platform packages)", () => {
    const missing = Object.entries(lock.packages).flatMap(([where, entry]) => Object.keys(entry.optionalDependencies ?? {}).filter((name) => !resolves(where, name)).map((name) => `${where || "(root)"} → ${name}`));
    assert.deepEqual(missing, []);
  });

  it("says in allowScripts whether each dependency with an install script may run it", () => {
    const withScripts = [...new Set(Object.entries(lock.packages).filter(([, entry]) => entry.hasInstallScript).map(([where]) => where.replace(/^.*node_modules\//, "")))];
    assert.ok(withScripts.length > 0, "the lock names the packages with install scripts");
    assert.deepEqual(withScripts.filter((name) => pkg.allowScripts?.[name] === undefined), []);
  });
});
