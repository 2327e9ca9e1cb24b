import { randomBytes } from "node:crypto";
import type { ComponentConfig } from "../../config/index.ts";
import { reminderLeadMs, type Maintenance } from "../../status/index.ts";
import type { MaintenanceFormValues } from "./maintenance-form.ts";

/** How a window's state reads in the console. */
const STATE: Record<Maintenance["status"], string> = { scheduled: "Scheduled", in_progress: "In progress", verifying: "Verifying", completed: "Completed" };

/** One window as the list shows it: its components by name, its newest message, whether it ended early. */
export function maintenanceRow(maintenance: Maintenance, components: ComponentConfig[]) {
  const names = new Map(components.map((c) => [c.id, c.name]));
  const last = maintenance.updates.at(-1);
  const cancelled = maintenance.status === "completed" && maintenance.completed_at !== null && Date.parse(maintenance.completed_at) < Date.parse(maintenance.scheduled_until);
  return {
    ...maintenance,
    state: cancelled ? "Cancelled" : STATE[maintenance.status],
    componentNames: maintenance.components.map((id) => names.get(id) ?? id).join(", "),
    message: last?.body ?? "",
    fromConfig: maintenance.source === "config",
    reminderText: reminderText(reminderLeadMs(maintenance)),
    notifyText: maintenance.notify === false ? "Start and completion not announced" : "Start and completion announced",
  };
}

/** The reminder in words: "60 minutes before the start", "none". */
function reminderText(leadMs: number): string {
  if (leadMs <= 0) return "None";
  const minutes = leadMs / 60_000;
  const amount = Number.isInteger(minutes) ? `${minutes} minute${minutes === 1 ? "" : "s"}` : `${Math.round(leadMs / 1000)} seconds`;
  return `${amount} before the start`;
}

/** The list: windows in progress, then scheduled (soonest first), then completed (newest first). */
export function maintenanceLists(open: Maintenance[], recent: Maintenance[], components: ComponentConfig[]) {
  const row = (m: Maintenance) => maintenanceRow(m, components);
  return {
    inProgress: open.filter((m) => m.status === "in_progress" || m.status === "verifying").map(row),
    scheduled: open.filter((m) => m.status === "scheduled").map(row),
    completed: recent.filter((m) => m.status === "completed").sort((a, b) => (b.completed_at ?? "").localeCompare(a.completed_at ?? "")).map(row),
  };
}

/** The create or edit form as its view prints it: fields, a box per component, a fresh idempotency key. */
export function maintenanceFormView(kind: "create" | "edit", action: string, values: MaintenanceFormValues, components: ComponentConfig[], options: { issues?: string[]; key?: string } = {}) {
  return {
    kind,
    action,
    heading: kind === "create" ? "New window" : "Edit this window",
    button: kind === "create" ? "Schedule" : "Save changes",
    messageHelp:
      kind === "create"
        ? "Shown on the status page from now on, and while the window runs. Plain text."
        : "Change it to post it as a new entry on the window's timeline; the earlier ones stay. Plain text.",
    values,
    components: components.map((c) => ({ id: c.id, name: c.name, checked: values.components.includes(c.id) })),
    issues: options.issues ?? [],
    key: options.key ?? randomBytes(16).toString("base64url"),
  };
}
