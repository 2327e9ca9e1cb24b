import { Router, type Request, type Response } from "express";
import { TokenInputError, type AuditEntry } from "../../auth/index.ts";
import { NotFoundError } from "../../core/index.ts";
import type { AdminAuth } from "../auth.ts";
import { consoleWrite, messagePage, sessionOf } from "./guard.ts";
import { doneNote, formOf, scopedRead, sendPage, single } from "./ops-page.ts";
import type { ConsoleRenderer } from "./render.ts";
import { blankTokenForm, readTokenForm, scopesOf, tokenFormView, tokenIssues, tokenRows, type TokenFormValues } from "./token-form.ts";

export interface AccessRoutesOptions {
  auth: AdminAuth;
  render: ConsoleRenderer;
}

const DONE = { revoked: "Token revoked: it no longer works, and the console sessions signed in with it are signed out." };
/** The audit page's lengths, as links. */
const AUDIT_LIMITS = [100, 500, 1_000];

/**
 * The console's tokens and audit log (the `admin` scope, as on the API:
 * a token without it gets 403 here as there). A new token is shown once,
 * on the answer to the form that made it, and never again; revoking one
 * asks first. Both call the token store the admin API calls, after its
 * scope check and audit log.
 */
export function accessRoutes(options: AccessRoutesOptions): Router {
  const { auth, render } = options;
  const router = Router();
  const read = scopedRead(render, "access");
  const write = consoleWrite(auth, render);
  const back = { href: "/admin/tokens", label: "Back to tokens" };

  const tokensPage = async (req: Request, res: Response, status: number, values: TokenFormValues, issues: string[] = []) => {
    const rows = tokenRows(await auth.tokens.list(), sessionOf(res).actor.id);
    sendPage(render, res, { status, view: "tokens", title: "Tokens", section: "access", data: { tab: "tokens", canWrite: true, flash: doneNote(req, DONE), ...rows, form: tokenFormView(values, issues) } });
  };

  router.get("/tokens", read, (req, res) => tokensPage(req, res, 200, blankTokenForm()));

  router.post("/tokens", ...write, async (req, res) => {
    const { values, issues } = readTokenForm(formOf(req));
    if (issues.length > 0) return tokensPage(req, res, 400, values, issues);
    let created;
    try {
      created = await auth.tokens.create(values.name, scopesOf(values));
    } catch (err) {
      if (!(err instanceof TokenInputError)) throw err;
      return tokensPage(req, res, 400, values, tokenIssues(err.message, values));
    }
    // The only answer that ever holds the secret: not a redirect to a page that could show it again.
    const { token, record } = created;
    sendPage(render, res, { status: 201, view: "token-created", title: "Token created", section: "access", data: { tab: "tokens", token, record: { ...record, scopes: record.scopes.join(", ") } } });
  });

  router.get("/tokens/:id/revoke", read, async (req: Request<{ id: string }>, res) => {
    const token = (await auth.tokens.list()).find((t) => t.id === req.params.id);
    if (!token) throw new NotFoundError("token");
    const own = token.id === sessionOf(res).actor.id;
    sendPage(render, res, {
      view: "ops-confirm",
      title: "Revoke a token",
      section: "access",
      data: {
        canWrite: token.revoked_at === undefined,
        needs: "admin",
        facts: [
          { label: "Name", value: token.name },
          { label: "Scopes", value: token.scopes.join(", ") },
          { label: "Created", at: token.created_at },
          token.last_used_at ? { label: "Last used", at: token.last_used_at } : { label: "Last used", value: "never" },
        ],
        warnings: token.revoked_at
          ? ["This token is revoked already."]
          : [
              "Whatever uses it (scripts, agents, console sessions signed in with it) is refused from its next request. It cannot be undone: make a new token instead.",
              ...(own ? ["It is the token you are signed in with: you will be signed out."] : []),
            ],
        action: `/admin/tokens/${encodeURIComponent(token.id)}/revoke`,
        button: "Revoke token",
        cancel: back,
      },
    });
  });

  router.post("/tokens/:id/revoke", ...write, async (req: Request<{ id: string }>, res) => {
    if (!(await auth.tokens.revoke(req.params.id))) throw new NotFoundError("token");
    res.redirect(303, "/admin/tokens?done=revoked");
  });

  router.get("/audit", read, async (req, res) => {
    const raw = single(req.query.limit);
    const limit = raw === undefined ? AUDIT_LIMITS[0]! : typeof raw === "string" && /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
    if (!(limit >= 1 && limit <= 1_000)) {
      return messagePage(render, res, 400, "Not shown", ["limit: expected a whole number from 1 to 1000 (how many of the newest actions to show)."], { section: "access", back: { href: "/admin/audit", label: "The newest actions" } });
    }
    const entries = (await auth.audit?.recent(limit)) ?? [];
    sendPage(render, res, {
      view: "audit",
      title: "Audit log",
      section: "access",
      data: { tab: "audit", entries: entries.map(auditRow), limits: AUDIT_LIMITS.map((n) => ({ n, current: n === limit })), recorded: auth.audit !== undefined },
    });
  });

  router.use(["/tokens", "/audit"], (err: unknown, _req: Request, res: Response, next: (err?: unknown) => void) => {
    if (!(err instanceof NotFoundError)) return next(err);
    messagePage(render, res, 404, "Not found", ["There is no such token: the link may be wrong. Nothing was changed."], { section: "access", back });
  });

  return router;
}

/** An audit entry as a row: where the action came from and how it ended, in words. */
function auditRow(entry: AuditEntry) {
  const via = entry.path.startsWith("/admin/api/") ? "API" : "console";
  const outcome = entry.status === null ? "no answer recorded (still running, or the web process stopped)" : entry.status < 400 ? "done" : entry.status < 500 ? "refused" : "failed";
  return { ...entry, via, outcome, failed: entry.status !== null && entry.status >= 400 };
}
