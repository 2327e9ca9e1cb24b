import { Router, type Request, type Response } from "express";
import { allows } from "../../auth/index.ts";
import { ConflictError, NotFoundError, ValidationError } from "../../core/index.ts";
import type { PlaybookAdmin } from "../admin-playbooks.ts";
import { scopeFor, type AdminAuth } from "../auth.ts";
import { consoleWrite, messagePage, sessionOf } from "./guard.ts";
import { holdRow, playbookCard, runGroups, runPage } from "./playbook-views.ts";
import type { ConsoleRenderer } from "./render.ts";

export interface PlaybookRoutesOptions {
  /** The admin API's playbook engine (the pipeline's PlaybookControl). @defaultValue none: the pages say so */
  playbooks?: PlaybookAdmin;
  auth: AdminAuth;
  render: ConsoleRenderer;
}

/** What `?done=` says after an action: fixed words. */
const DONE: Record<string, string> = {
  enabled: "Enabled: its trigger starts runs again.",
  disabled: "Disabled: its trigger starts no run until it is enabled again.",
  "dry-run": "Dry run queued: each step says what it would do; nothing is changed and no incident is written.",
  approved: "Approved: the run is queued and starts at once.",
  rejected: "Rejected: the run ends without doing anything.",
};
/** How many runs the list reads (the pending and running ones are among the newest). */
const RUNS_READ = 100;
/** How many finished runs and recent holds a page shows. */
const FINISHED_SHOWN = 30;
const HOLDS_SHOWN = 10;

/**
 * The console's playbooks: every playbook with what holds it back right
 * now, the runs waiting for a decision, under way and finished; one
 * playbook with its runs and holds; one run with every step, its timing
 * and output. Enable, disable, dry run, approve and reject are forms that
 * call the admin API's own functions (PlaybookAdmin) after its scope check
 * and audit log (consoleWrite), credited to the signed-in name.
 */
export function playbookRoutes(options: PlaybookRoutesOptions): Router {
  const { render } = options;
  const router = Router();
  const write = consoleWrite(options.auth, render);
  const canWrite = (res: Response) => allows(sessionOf(res).actor, scopeFor("POST", "/admin/api/playbooks"));
  const page = (req: Request, res: Response, httpStatus: number, view: string, title: string, data: Record<string, unknown>) =>
    res.status(httpStatus).type("html").send(
      render.page(view, {
        title,
        section: "playbooks",
        session: sessionOf(res),
        canWrite: canWrite(res),
        csrf: sessionOf(res).csrf,
        flash: typeof req.query.done === "string" ? DONE[req.query.done] : undefined,
        ...data,
      }),
    );
  const engine = (): PlaybookAdmin => {
    if (!options.playbooks) throw new NotFoundError("the playbook engine");
    return options.playbooks;
  };

  router.get("/playbooks", async (req, res) => {
    const [playbooks, runs, holds] = await Promise.all([engine().list(), engine().runs({ limit: RUNS_READ }), engine().holds({ limit: HOLDS_SHOWN })]);
    const groups = runGroups(runs);
    page(req, res, 200, "playbooks", "Playbooks", { playbooks: playbooks.map(playbookCard), ...groups, finished: groups.finished.slice(0, FINISHED_SHOWN), holds: holds.map(holdRow) });
  });

  // Before /playbooks/:id, which would take "runs" for a playbook's id.
  const runView = async (req: Request, res: Response, httpStatus: number, id: string, issues: string[] = []) => {
    const run = await engine().run(id);
    page(req, res, httpStatus, "playbook-run", run.name, { ...runPage(run), issues });
  };
  router.get("/playbooks/runs/:id", async (req, res) => runView(req, res, 200, req.params.id));

  const playbookView = async (req: Request, res: Response, httpStatus: number, id: string, issues: string[] = []) => {
    const [playbook, runs, holds] = await Promise.all([engine().playbook(id), engine().runs({ playbook: id, limit: RUNS_READ }), engine().holds({ playbook: id, limit: HOLDS_SHOWN })]);
    const groups = runGroups(runs);
    page(req, res, httpStatus, "playbook", playbook.name, { playbook: playbookCard(playbook), ...groups, finished: groups.finished.slice(0, FINISHED_SHOWN), holds: holds.map(holdRow), issues });
  };
  router.get("/playbooks/:id", async (req, res) => playbookView(req, res, 200, req.params.id));

  // Decisions on a run: a refusal (decided meanwhile, expired) is said on the run's page.
  const decide = (decision: "approve" | "reject") => async (req: Request<{ id: string }>, res: Response) => {
    if (!formIsEmpty(req, res, render)) return;
    const id = req.params.id;
    try {
      await engine()[decision](id, { by: sessionOf(res).actor.name, via: "console" });
      res.redirect(303, `/admin/playbooks/runs/${encodeURIComponent(id)}?done=${decision === "approve" ? "approved" : "rejected"}`);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      await runView(req, res, 409, id, err.issues.map((i) => i.replace(/^run \S+: /, "This run cannot be decided any more: ")));
    }
  };
  router.post("/playbooks/runs/:id/approve", ...write, decide("approve"));
  router.post("/playbooks/runs/:id/reject", ...write, decide("reject"));

  const toggle = (enabled: boolean) => async (req: Request<{ id: string }>, res: Response) => {
    if (!formIsEmpty(req, res, render)) return;
    await engine().setEnabled(req.params.id, enabled);
    res.redirect(303, `/admin/playbooks/${encodeURIComponent(req.params.id)}?done=${enabled ? "enabled" : "disabled"}`);
  };
  router.post("/playbooks/:id/enable", ...write, toggle(true));
  router.post("/playbooks/:id/disable", ...write, toggle(false));

  router.post("/playbooks/:id/dry-run", ...write, async (req: Request<{ id: string }>, res: Response) => {
    if (!formIsEmpty(req, res, render)) return;
    try {
      const run = await engine().dryRun(req.params.id, { by: sessionOf(res).actor.name, via: "console" });
      res.redirect(303, `/admin/playbooks/runs/${encodeURIComponent(run.id)}?done=dry-run`);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      await playbookView(req, res, 409, req.params.id, [err.message]);
    }
  });

  router.use((err: unknown, req: Request, res: Response, next: (err?: unknown) => void) => {
    if (!(err instanceof NotFoundError) || !req.path.startsWith("/playbooks")) return next(err);
    const missing = !options.playbooks ? "This web role has no playbook engine attached." : /^playbook run /.test(err.message) ? "There is no such playbook run: the link may be wrong, or the run is older than the 1,000 kept." : "There is no such playbook in pulseboard.yaml: the link may be wrong.";
    messagePage(render, res, 404, "Not found", [missing], { section: "playbooks", back: { href: "/admin/playbooks", label: "All playbooks" } });
  });

  return router;
}

/**
 * These forms carry nothing but their CSRF token: the console credits the
 * signed-in name and never a name the form sends. A form with anything else
 * is refused, naming what it had, and nothing is done.
 */
function formIsEmpty(req: Request, res: Response, render: ConsoleRenderer): boolean {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const extra = Object.keys(body).filter((k) => k !== "_csrf");
  if (extra.length === 0) return true;
  const named = extra.slice(0, 5).map((k) => JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k));
  messagePage(render, res, 400, "Form refused", [
    `Nothing was done: this form takes no fields, but it had ${named.join(", ")}${extra.length > 5 ? ` and ${extra.length - 5} more` : ""}.`,
    "The console credits whoever is signed in; reload the page and use its buttons.",
  ], { section: "playbooks", back: { href: "/admin/playbooks", label: "All playbooks" } });
  return false;
}
