export * from "./model.ts";
export { StatusStore, IncidentConflict, type ProbeLocationState, type ChangeEvent, type OutboxEntry, type ComponentOutboxEntry, type LocationFlag } from "./store.ts";
export { Keys } from "./keys.ts";
export { publicIncident, onCallText } from "./public-view.ts";
export { listOf, publicText, type AffectedNow, type WordingConfig } from "./wording.ts";
export { readSummary, type StatusSummary, type ComponentView, type Indicator } from "./summary.ts";
export type { StatusContext } from "./verbs/context.ts";
export { openIncident, openIncidentInput, type OpenIncidentInput } from "./verbs/open-incident.ts";
export { appendUpdate, appendUpdateInput, type AppendUpdateInput } from "./verbs/append-update.ts";
export { resolveIncident, resolveIncidentInput, type ResolveIncidentInput } from "./verbs/resolve-incident.ts";
export { publishIncident, publishIncidentInput, type PublishIncidentInput } from "./verbs/publish-incident.ts";
export { setComponentStatus, type SetComponentStatusInput } from "./verbs/set-component-status.ts";
export { refreshEffective } from "./verbs/refresh-effective.ts";
export type { LatencyPoint } from "./rollups.ts";
export { overallUptime, type UptimeDay } from "./uptime.ts";
export { LATENCY_BOUNDS_MS, percentile, bucketOf } from "./histogram.ts";
export {
  scheduleMaintenance,
  scheduleMaintenanceInput,
  advanceMaintenances,
  cancelMaintenance,
  cancelMaintenanceInput,
  type ScheduleMaintenanceInput,
} from "./verbs/maintenance.ts";
export { editMaintenance, editMaintenanceInput, type EditMaintenanceInput } from "./verbs/edit-maintenance.ts";
export { remindMaintenances } from "./verbs/remind-maintenances.ts";
export { MAINTENANCE_NOTICE_TYPES, maintenanceAsOf, maintenanceNoticeText, type MaintenanceNoticeType, type MaintenanceOutboxEntry } from "./maintenance-notices.ts";
export { writePostmortem, writePostmortemInput } from "./verbs/write-postmortem.ts";
export { StatuspageMapper } from "./statuspage.ts";
export type * from "./statuspage-types.ts";
export { TEMPLATE_PLACEHOLDERS, listTemplates, readTemplate, saveTemplate, deleteTemplate, fillTemplate, saveTemplateInput, type SaveTemplateInput, type IncidentTemplate } from "./incident-templates.ts";
