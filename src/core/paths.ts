import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(import.meta.url);

/**
 * True when Pulseboard runs from its TypeScript sources (through tsx, in
 * development and tests), false when it runs the compiled `dist/`.
 */
export const fromSource = HERE.endsWith(".ts");

/**
 * The directory holding package.json, views/ and public/: found by walking up
 * from this file, so it is the same from `src/` and from `dist/src/`.
 */
export const PACKAGE_ROOT = findRoot(path.dirname(HERE));

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json")) && existsSync(path.join(dir, "views"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find Pulseboard's package root above ${start}`);
  }
}
