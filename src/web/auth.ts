import { createHash, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response } from "express";

/**
 * Guards the admin API with bearer tokens compared in constant time (both
 * sides hashed first, so neither length nor content leaks through timing).
 * Without a valid token the answer is 401 and nothing else.
 */
export function requireBearer(tokens: string[]) {
  const digests = tokens.map(digest);
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.get("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match && digests.length > 0) {
      const offered = digest(match[1]!);
      let ok = false;
      for (const known of digests) ok = timingSafeEqual(offered, known) || ok;
      if (ok) return next();
    }
    res.status(401).set("WWW-Authenticate", 'Bearer realm="pulseboard-admin"').json({ code: "unauthorized", message: "a valid bearer token is required" });
  };
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
