import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * A token `start` uses when none is configured: read from PULSEBOARD_HOME/<name>,
 * or generated (32 random bytes) and stored there readable by its owner only.
 * `created` tells the caller to show it once.
 */
export function ensureToken(home: string, name: string): { token: string; file: string; created: boolean } {
  const file = path.join(home, name);
  if (existsSync(file)) {
    const token = readFileSync(file, "utf8").trim();
    if (token.length >= 16) return { token, file, created: false };
  }
  const token = randomBytes(32).toString("base64url");
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, file, created: true };
}
