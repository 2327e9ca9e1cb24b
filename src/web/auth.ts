import type { NextFunction, Request, Response } from "express";
import { bearerToken, tokenMatcher } from "../core/index.ts";

/**
 * Guards the admin API with bearer tokens compared in constant time.
 * Without a valid token the answer is 401 and nothing else.
 */
export function requireBearer(tokens: string[]) {
  const matches = tokenMatcher(tokens);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (matches(bearerToken(req.get("authorization")))) return next();
    res.status(401).set("WWW-Authenticate", 'Bearer realm="pulseboard-admin"').json({ code: "unauthorized", message: "a valid bearer token is required" });
  };
}
