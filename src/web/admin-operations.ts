import { Router, type Request } from "express";
import { ValidationError } from "../core/index.ts";
import type { ChannelView, DeadLetter } from "../pipeline/index.ts";
import { authorOf } from "./auth.ts";
import {
  cancelMaintenance,
  editMaintenance,
  scheduleMaintenance,
  writePostmortem,
  type Author,
  type EditMaintenanceInput,
  type ScheduleMaintenanceInput,
  type StatusContext,
} from "../status/index.ts";

/** What the admin API and the console may ask of notification delivery (the pipeline's NotificationControl). */
export interface NotificationAdmin {
  deadLetters(limit?: number): Promise<DeadLetter[]>;
  deadLetter(id: string): Promise<DeadLetter | undefined>;
  /** Each configured channel: its kind, whether it is disabled, its last delivery. */
  channels(): Promise<ChannelView[]>;
  replay(id: string): Promise<{ replayed: string; channel: string }>;
  disabledChannels(): Promise<string[]>;
  enableChannel(channel: string): Promise<void>;
}

/**
 * Admin routes for maintenance windows, postmortems, notification delivery
 * (dead letters, replay, disabled channels) and flagged probe locations.
 */
export function adminOperationsRouter(options: { status: StatusContext; notifications: NotificationAdmin }): Router {
  const { status, notifications } = options;
  const router = Router();

  router.get("/maintenances", async (req, res) => {
    res.json({ maintenances: await status.store.recentMaintenances(limitOf(req, 50)) });
  });

  router.post("/maintenances", async (req, res) => {
    const { maintenance, created } = await scheduleMaintenance(status, { ...objectBody(req), source: "admin", author: authorOf(res) } as ScheduleMaintenanceInput);
    res.status(created ? 201 : 200).json({ maintenance });
  });

  router.patch("/maintenances/:id", async (req, res) => {
    res.json({ maintenance: await editMaintenance(status, { ...objectBody(req), id: req.params.id, author: authorOf(res) } as EditMaintenanceInput) });
  });

  router.post("/maintenances/:id/cancel", async (req, res) => {
    res.json({ maintenance: await cancelMaintenance(status, { ...objectBody(req), id: req.params.id, author: authorOf(res) } as { id: string; author: Author }) });
  });

  router.post("/incidents/:id/postmortem", async (req, res) => {
    res.json({ incident: await writePostmortem(status, { ...objectBody(req), id: req.params.id, author: authorOf(res) } as { id: string; body: string; author: Author }) });
  });

  router.get("/notifications/dead", async (req, res) => {
    res.json({ dead: await notifications.deadLetters(limitOf(req, 100)) });
  });

  router.post("/notifications/dead/:id/replay", async (req, res) => {
    res.json(await notifications.replay(req.params.id));
  });

  router.get("/notifications/channels", async (_req, res) => {
    res.json({ channels: await notifications.channels() });
  });

  router.get("/notifications/channels/disabled", async (_req, res) => {
    res.json({ disabled: await notifications.disabledChannels() });
  });

  router.post("/notifications/channels/:id/enable", async (req, res) => {
    await notifications.enableChannel(req.params.id);
    res.json({ channel: req.params.id, enabled: true });
  });

  return router;
}

function objectBody(req: Request): Record<string, unknown> {
  const body: unknown = req.body ?? {};
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ValidationError(["(body): expected a JSON object"]);
  return body as Record<string, unknown>;
}

function limitOf(req: Request, fallback: number): number {
  const limit = req.query.limit === undefined ? fallback : Number(req.query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) throw new ValidationError(["limit: expected a whole number from 1 to 1000"]);
  return limit;
}
