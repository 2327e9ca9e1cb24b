import { Router } from "express";
import { TokenInputError } from "../auth/index.ts";
import { NotFoundError, ValidationError } from "../core/index.ts";
import type { AdminAuth } from "./auth.ts";

/**
 * /admin/api/tokens and /admin/api/audit (the `admin` scope): scoped tokens,
 * created (the answer is the only place a token's secret appears), listed
 * and revoked; and the audit log of admin actions.
 */
export function adminAuthRouter(auth: AdminAuth): Router {
  const router = Router();
  router.get("/tokens", async (_req, res) => {
    res.json({ tokens: await auth.tokens.list() });
  });
  router.post("/tokens", async (req, res) => {
    const body = (req.body ?? {}) as { name?: unknown; scopes?: unknown };
    if (typeof body.name !== "string") throw new ValidationError(["name: expected a string, like \"alice\" or \"deploy-bot\""]);
    if (!Array.isArray(body.scopes) || !body.scopes.every((s) => typeof s === "string")) throw new ValidationError(['scopes: expected a list like ["read", "incidents"]']);
    try {
      const { token, record } = await auth.tokens.create(body.name, body.scopes as string[]);
      res.status(201).set("cache-control", "no-store").json({ token, ...record });
    } catch (err) {
      if (err instanceof TokenInputError) throw new ValidationError([err.message]);
      throw err;
    }
  });
  router.delete("/tokens/:id", async (req, res) => {
    const record = await auth.tokens.revoke(req.params.id);
    if (!record) throw new NotFoundError(`token ${req.params.id}`);
    res.json({ token: record });
  });
  router.get("/audit", async (req, res) => {
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) throw new ValidationError(["limit: expected a whole number from 1 to 1000"]);
    res.json({ entries: (await auth.audit?.recent(limit)) ?? [] });
  });
  return router;
}
