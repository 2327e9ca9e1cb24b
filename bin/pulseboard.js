#!/usr/bin/env node
// Runs the compiled service from dist/ when it is up to date with the
// sources (`npm run build`); otherwise the TypeScript sources through tsx,
// so a developer never runs stale code.
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const compiled = path.join(root, "dist/src/main.js");

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : entry.name.endsWith(".ts") ? statSync(full).mtimeMs : 0);
  }
  return latest;
}

const fresh = existsSync(compiled) && statSync(compiled).mtimeMs >= Math.max(newest(path.join(root, "src")), newest(path.join(root, "probes")));
if (fresh) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(path.join(root, "src/main.ts")).href);
}
