import express, { Router, type Request, type Response } from "express";
import { PulseboardError, ValidationError } from "../core/index.ts";
import { escapeHtml } from "../notify/index.ts";
import type { Decision, PlaybookView } from "../pipeline/index.ts";
import type { HeldRun, PlaybookRun } from "../playbooks/index.ts";
import { authorOf, type AdminAuth } from "./auth.ts";

/** A run as the approve page needs it (the pipeline's PlaybookRun has more). */
export interface ApprovableRun {
  id: string;
  name: string;
  state: string;
  trigger: { description: string };
  steps: { label: string }[];
  approval?: { expires_at: string };
}

/** What the admin API may ask of the playbook engine (the pipeline's PlaybookControl). */
export interface PlaybookAdmin {
  list(): Promise<PlaybookView[]>;
  playbook(id: string): Promise<PlaybookView>;
  runs(options: { playbook?: string; limit?: number }): Promise<PlaybookRun[]>;
  /** Runs a guard held back (which playbook, which guard, until when, for which incident), most recent first. */
  holds(options: { playbook?: string; since?: string; limit?: number }): Promise<HeldRun[]>;
  run(id: string): Promise<PlaybookRun>;
  /** Checks a playbook written as in pulseboard.yaml against the running config (ValidationError naming each field). */
  validate(entry: unknown): Promise<unknown>;
  /** Switches a playbook on or off without a restart. */
  setEnabled(id: string, enabled: boolean): Promise<PlaybookView>;
  /** Starts a dry run now (ConflictError while one of the same playbook is under way). */
  dryRun(id: string, decision: Decision): Promise<PlaybookRun>;
  approve(id: string, decision: Decision): Promise<PlaybookRun>;
  reject(id: string, decision: Decision): Promise<PlaybookRun>;
  /** The run an approve link names (refused when the link is forged or expired). */
  linked(token: string): Promise<{ run: ApprovableRun }>;
  /** Approves or rejects through an approve link, once. */
  decideByLink(token: string, approve: boolean): Promise<unknown>;
}

/**
 * /admin/api/playbooks: the playbooks with their state, their runs (the audit
 * records), the runs their guards held back (/holds?since=ISO), enable/disable, a dry run now, approve/reject, validate (a playbook written as in
 * pulseboard.yaml, checked before it goes there), all behind the admin token; and
 * /admin/api/playbooks/approve/<token>, the approve link posted to on-call,
 * whose signed single-use token is its own authorization. Opening the link
 * shows the proposed run; only its form's POST decides (a link preview that
 * fetches it approves nothing).
 */
export function adminPlaybooksRouter(options: { playbooks: PlaybookAdmin; auth: AdminAuth }): Router {
  const { playbooks } = options;
  const router = Router();

  router.get("/playbooks/approve/:token", async (req, res) => {
    try {
      const { run } = await playbooks.linked(req.params.token);
      if (run.state !== "awaiting_approval") return void page(res, 200, `Run ${run.id} is ${words(run.state)}`, [`${run.name}: nothing to decide any more.`]);
      page(res, 200, `Approve ${run.name}?`, [`Trigger: ${run.trigger.description}.`, `It would ${run.steps.map((s) => s.label).join(", then ")}.`, `This link works once and expires at ${run.approval?.expires_at ?? "?"}.`], true);
    } catch (err) {
      linkError(res, err);
    }
  });

  router.post("/playbooks/approve/:token", express.urlencoded({ extended: false, limit: "4kb" }), express.json({ limit: "4kb" }), async (req, res) => {
    const form = req.is("application/x-www-form-urlencoded") !== false;
    try {
      const decision = (req.body as { decision?: unknown } | undefined)?.decision;
      if (decision !== "approve" && decision !== "reject") throw new ValidationError(['decision: expected "approve" or "reject"']);
      const run = await playbooks.decideByLink(req.params.token, decision === "approve");
      if (!form) return void res.json({ run });
      page(res, 200, decision === "approve" ? "Approved" : "Rejected", [decision === "approve" ? "The run is queued and starts at once." : "The run ends without doing anything."]);
    } catch (err) {
      if (!form) throw err;
      linkError(res, err);
    }
  });

  const guarded = Router();
  guarded.use(options.auth.guard());
  guarded.use(express.json({ limit: "16kb" }));
  guarded.get("/", async (_req, res) => {
    res.json({ playbooks: await playbooks.list() });
  });
  guarded.get("/runs", async (req, res) => {
    const playbook = req.query.playbook === undefined ? undefined : String(req.query.playbook);
    res.json({ runs: await playbooks.runs({ playbook, limit: limitOf(req) }) });
  });
  guarded.get("/holds", async (req, res) => {
    const playbook = req.query.playbook === undefined ? undefined : String(req.query.playbook);
    const since = req.query.since === undefined ? undefined : String(req.query.since);
    res.json({ holds: await playbooks.holds({ playbook, since, limit: limitOf(req) }) });
  });
  guarded.get("/runs/:id", async (req, res) => {
    res.json({ run: await playbooks.run(req.params.id) });
  });
  guarded.post("/runs/:id/approve", async (req, res) => {
    res.json({ run: await playbooks.approve(req.params.id, { by: byOf(req, authorOf(res).name), via: "api" }) });
  });
  guarded.post("/runs/:id/reject", async (req, res) => {
    res.json({ run: await playbooks.reject(req.params.id, { by: byOf(req, authorOf(res).name), via: "api" }) });
  });
  guarded.post("/validate", async (req, res) => {
    res.json(await playbooks.validate(req.body));
  });
  guarded.get("/:id", async (req, res) => {
    res.json({ playbook: await playbooks.playbook(req.params.id) });
  });
  guarded.post("/:id/enable", async (req, res) => {
    res.json({ playbook: await playbooks.setEnabled(req.params.id, true) });
  });
  guarded.post("/:id/disable", async (req, res) => {
    res.json({ playbook: await playbooks.setEnabled(req.params.id, false) });
  });
  guarded.post("/:id/dry-run", async (req, res) => {
    res.status(202).json({ run: await playbooks.dryRun(req.params.id, { by: byOf(req, authorOf(res).name), via: "api" }) });
  });
  router.use("/playbooks", guarded);
  return router;
}

/** Who decides (or asks for a dry run): the body's `by`, else the name of the token that asked. */
function byOf(req: Request, tokenName: string): string {
  const by = (req.body as { by?: unknown } | undefined)?.by;
  if (by === undefined) return tokenName;
  if (typeof by !== "string" || by.trim().length === 0 || by.length > 100) throw new ValidationError(["by: expected who decides, in at most 100 characters"]);
  return by.trim();
}

function limitOf(req: Request): number {
  const limit = req.query.limit === undefined ? 50 : Number(req.query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) throw new ValidationError(["limit: expected a whole number from 1 to 1000"]);
  return limit;
}

function words(state: string): string {
  return state.replace(/_/g, " ");
}

/** The approve link's page: small, self-contained, every value escaped. */
function page(res: Response, status: number, title: string, lines: string[], form = false): void {
  const e = escapeHtml;
  const buttons = form
    ? `<form method="post"><input type="hidden" name="decision" value="approve"><button type="submit">Approve</button></form>` +
      `<form method="post"><input type="hidden" name="decision" value="reject"><button type="submit">Reject</button></form>`
    : "";
  res
    .status(status)
    .set("cache-control", "no-store")
    .set("referrer-policy", "no-referrer")
    .type("html")
    .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${e(title)}</title><meta name="robots" content="noindex"></head><body><h1>${e(title)}</h1>${lines.map((l) => `<p>${e(l)}</p>`).join("")}${buttons}</body></html>`);
}

function linkError(res: Response, err: unknown): void {
  if (err instanceof ValidationError) return page(res, 400, "This link cannot be used", err.issues.map((i) => i.replace(/^token: /, "")));
  if (err instanceof PulseboardError && err.code === "not_found") return page(res, 404, "No such run", [err.message]);
  throw err;
}
