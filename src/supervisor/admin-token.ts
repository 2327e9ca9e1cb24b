import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * The admin token `start` uses when none is configured: read from
 * PULSEBOARD_HOME/admin-token, or generated (32 random bytes) and stored there
 * readable by its owner only. `created` tells the caller to show it once.
 */
export function ensureAdminToken(home: string): { token: string; file: string; created: boolean } {
  const file = path.join(home, "admin-token");
  if (existsSync(file)) {
    const token = readFileSync(file, "utf8").trim();
    if (token.length >= 16) return { token, file, created: false };
  }
  const token = randomBytes(32).toString("base64url");
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, file, created: true };
}
