export { createWebApp, type WebApp, type WebAppOptions } from "./app.ts";
export { SnapshotService, type Snapshot, type SnapshotOptions } from "./snapshot.ts";
export { StatuspageMapper } from "./statuspage.ts";
export { PageRenderer } from "./pages.ts";
export type { ProbeControl } from "./admin-probes.ts";
export type { NotificationAdmin } from "./admin-operations.ts";
export type { PlaybookAdmin } from "./admin-playbooks.ts";
export { subscriptionsRouter, type SubscriptionsRouterOptions } from "./subscriptions.ts";
export type { SubscriptionViewData, SubscriptionView } from "./subscription-pages.ts";
