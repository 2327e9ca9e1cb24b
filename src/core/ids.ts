import { createHash, randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/**
 * A random lowercase id like Statuspage's (`p31zjtct2jer`): short enough for
 * URLs, 12 characters of base 36 (~62 bits).
 */
export function newId(length = 12): string {
  const bytes = randomBytes(length);
  let id = "";
  for (const byte of bytes) id += ALPHABET[byte % 36];
  return id;
}

/**
 * A 12-character base-36 id derived from `seed`: the same seed always gives
 * the same id (so a retried write finds what the first attempt created).
 */
export function stableId(seed: string): string {
  const digest = createHash("sha256").update(seed).digest("hex").slice(0, 16);
  return BigInt(`0x${digest}`).toString(36).padStart(12, "0").slice(-12);
}
