import { randomBytes } from "node:crypto";

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
