export { createWebApp, type WebAppOptions } from "./app.ts";
export { SnapshotService, type Snapshot, type SnapshotOptions } from "./snapshot.ts";
export { StatuspageMapper } from "./statuspage.ts";
export { PageRenderer } from "./pages.ts";
export type { ProbeControl } from "./admin-probes.ts";
export type { NotificationAdmin } from "./admin-operations.ts";
