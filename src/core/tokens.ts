import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Checks bearer tokens in constant time: both sides are hashed first, so
 * neither the length nor the content of a known token leaks through timing.
 */
export function tokenMatcher(tokens: string[]): (offered: string | undefined) => boolean {
  const known = tokens.map(digest);
  return (offered) => {
    if (!offered || known.length === 0) return false;
    const candidate = digest(offered);
    let ok = false;
    for (const token of known) ok = timingSafeEqual(candidate, token) || ok;
    return ok;
  };
}

/** The token of an `Authorization: Bearer …` header, if that is what it holds. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1];
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
