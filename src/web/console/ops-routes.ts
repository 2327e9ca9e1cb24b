import { Router } from "express";
import type { Config } from "../../config/index.ts";
import type { SubscriptionContext } from "../../subscriptions/index.ts";
import type { NotificationAdmin } from "../admin-operations.ts";
import type { AdminAuth } from "../auth.ts";
import { accessRoutes } from "./access-routes.ts";
import { notificationRoutes } from "./notification-routes.ts";
import type { ConsoleRenderer } from "./render.ts";
import { subscriberRoutes } from "./subscriber-routes.ts";

export interface OpsRoutesOptions {
  config: () => Config;
  auth: AdminAuth;
  notifications: NotificationAdmin;
  /** @defaultValue none: the subscribers page says subscriptions are not set up in this web process */
  subscriptions?: SubscriptionContext;
  render: ConsoleRenderer;
}

/**
 * The console's operations pages: notifications (channels, dead letters,
 * replay), subscribers (search, remove), tokens (create, revoke) and the
 * audit log.
 */
export function opsRoutes(options: OpsRoutesOptions): Router {
  const router = Router();
  router.use(notificationRoutes(options));
  router.use(subscriberRoutes(options));
  router.use(accessRoutes(options));
  return router;
}
