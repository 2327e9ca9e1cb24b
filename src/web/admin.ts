import express, { Router, type Request } from "express";
import type { Config } from "../config/index.ts";
import { NotFoundError, ValidationError } from "../core/index.ts";
import { publishDraft } from "../pipeline/index.ts";
import {
  appendUpdate,
  isUnresolved,
  openIncident,
  resolveIncident,
  type AppendUpdateInput,
  type Incident,
  type OpenIncidentInput,
  type ResolveIncidentInput,
  type StatusContext,
} from "../status/index.ts";
import { adminFleetRouter } from "./admin-fleet.ts";
import { NO_FLEET, type FleetAccess } from "./fleet-orders.ts";
import { adminOperationsRouter, type NotificationAdmin } from "./admin-operations.ts";
import { adminProbesRouter, type ProbeControl } from "./admin-probes.ts";
import { adminPlaybooksRouter, type PlaybookAdmin } from "./admin-playbooks.ts";
import { adminAuthRouter } from "./admin-tokens.ts";
import { adminTemplatesRouter } from "./admin-templates.ts";
import { authorOf, type AdminAuth } from "./auth.ts";
import { locationSummaries } from "./probe-reads.ts";

export interface AdminOptions {
  /** The running config (it changes when pulseboard.yaml is reloaded). */
  config: () => Config;
  status: StatusContext;
  /** Who may do what: bearer tokens with scopes, and the audit log. */
  auth: AdminAuth;
  probes: ProbeControl;
  notifications: NotificationAdmin;
  /** The gateway fleet, through the configured fleet driver. @defaultValue none (/fleet answers 503 saying so) */
  fleet?: () => FleetAccess;
  /** Playbooks, their runs and approvals. @defaultValue none (no /playbooks routes) */
  playbooks?: PlaybookAdmin;
}

/**
 * The admin API under /admin/api: routes validate, call a verb, and answer.
 * Bodies are handed to the verbs as they came; each verb parses its own input.
 */
export function adminRouter(options: AdminOptions): Router {
  const { status } = options;
  const router = Router();
  // Before the bearer check: its approve links carry their own signed token (the rest of it checks the bearer).
  if (options.playbooks) router.use(adminPlaybooksRouter({ playbooks: options.playbooks, auth: options.auth }));
  router.use(options.auth.guard());
  router.use(express.json({ limit: "64kb" }));
  router.use(adminProbesRouter({ config: options.config, status, probes: options.probes }));
  router.use(adminFleetRouter({ fleet: options.fleet ?? NO_FLEET }));
  router.use(adminOperationsRouter({ status, notifications: options.notifications }));
  router.use(adminAuthRouter(options.auth));
  router.use(adminTemplatesRouter({ status }));

  // Each location with its agents, last push, results per minute and reporting state (remote ones), and
  // the locations flagged because every probe there fails at once.
  router.get("/locations", async (_req, res) => {
    const { locations, flags } = await locationSummaries(options.config(), status);
    res.json({ locations, flagged: Object.fromEntries(flags) });
  });

  router.get("/components", async (_req, res) => {
    const config = options.config();
    const states = await status.store.components();
    const components = await Promise.all(
      config.components.map(async (component) => {
        const probes = config.probes.filter((p) => p.components.includes(component.id));
        return {
          id: component.id,
          name: component.name,
          state: states.get(component.id) ?? null,
          probes: await Promise.all(probes.map(async (p) => ({ ...(await probeView(p.id, p.locations)), enabled: p.enabled }))),
        };
      }),
    );
    res.json({ components });
  });

  router.get("/components/:id/history", async (req, res) => {
    const id = req.params.id;
    if (!options.config().components.some((c) => c.id === id)) throw new NotFoundError(`component ${id}`);
    res.json({ history: await status.store.componentHistory(id, limitOf(req)) });
  });

  router.get("/incidents", async (req, res) => {
    res.json({ incidents: (await status.store.recentIncidentsAndDrafts(limitOf(req))).map(reviewView) });
  });

  router.get("/incidents/:id", async (req, res) => {
    const incident = await status.store.incident(req.params.id);
    if (!incident) throw new NotFoundError(`incident ${req.params.id}`);
    res.json({ incident: reviewView(incident) });
  });

  // A draft (incidents.publish: review) goes public: the same scope, audit and credit as any incident write.
  router.post("/incidents/:id/publish", async (req, res) => {
    const { body, key } = publishBody(bodyOf(req));
    const { incident } = await publishDraft(options.config(), status, { id: req.params.id, author: authorOf(res), automatically: false, body, key });
    res.json({ incident: reviewView(incident) });
  });

  router.post("/incidents", async (req, res) => {
    const input = { ...bodyOf(req), automatic: false, author: authorOf(res) } as OpenIncidentInput;
    const { incident, created } = await openIncident(status, input);
    res.status(created ? 201 : 200).json({ incident });
  });

  router.post("/incidents/:id/updates", async (req, res) => {
    const { incident } = await appendUpdate(status, { ...bodyOf(req), id: req.params.id, author: authorOf(res) } as AppendUpdateInput);
    res.json({ incident });
  });

  router.post("/incidents/:id/resolve", async (req, res) => {
    const { incident } = await resolveIncident(status, { ...bodyOf(req), id: req.params.id, author: authorOf(res) } as ResolveIncidentInput);
    res.json({ incident });
  });

  async function probeView(probe: string, locations: string[]) {
    const [states, results] = await Promise.all([status.store.probeStates(probe), status.store.lastResults(probe, locations)]);
    return {
      id: probe,
      locations: locations.map((location) => ({ location, state: states.get(location) ?? null, last_result: results.get(location) ?? null })),
    };
  }

  return router;
}

/**
 * The request's JSON object, with its idempotency key: `key` in the body, or
 * the `Idempotency-Key` header, so a client that lost an answer (the web
 * process died, the network dropped) can send again and the action is done
 * once.
 */
function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  const header = req.get("idempotency-key");
  if (body !== undefined && (typeof body !== "object" || body === null || Array.isArray(body))) {
    throw new ValidationError(["(body): expected a JSON object"]);
  }
  const object = (body ?? {}) as Record<string, unknown>;
  if (header === undefined || object.key !== undefined) return object;
  if (header.length < 1 || header.length > 200) throw new ValidationError(["Idempotency-Key (header): expected 1 to 200 characters"]);
  return { ...object, key: `api:${header}` };
}

/** An incident as on-call reads it: whether it is a draft, and when an unreviewed one publishes itself (null: it never will). */
function reviewView(incident: Incident): Incident & { draft: boolean; publish_at: string | null } {
  const draft = incident.draft === true;
  return { ...incident, draft, publish_at: draft && isUnresolved(incident) ? (incident.publish_at ?? null) : null };
}

/** What a publish request may say: the first public entry's words (else the automatic wording), and its idempotency key. */
function publishBody(body: Record<string, unknown>): { body?: string; key?: string } {
  const { body: text, key, ...rest } = body;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new ValidationError(unknown.map((k) => `${k}: not a field of a publish request (it takes "body", what customers read first)`));
  if (text !== undefined && typeof text !== "string") throw new ValidationError(["body: expected the text customers read first"]);
  return { ...(text !== undefined ? { body: text } : {}), ...(typeof key === "string" ? { key } : {}) };
}

function limitOf(req: Request): number {
  const raw = req.query.limit;
  if (raw === undefined) return 50;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new ValidationError(["limit: expected a whole number from 1 to 500"]);
  return limit;
}
