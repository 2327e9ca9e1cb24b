import { randomBytes } from "node:crypto";
import { COMPONENT_STATUSES, type ComponentConfig } from "../../config/index.ts";
import { isUnresolved, onCallText, publicIncident, type ComponentStatus, type Incident } from "../../status/index.ts";
import { COMPONENT_STATUS_LABELS, INCIDENT_STATUS_LABELS } from "../labels.ts";
import { FORM_STATUSES, NOT_AFFECTED, type IncidentFormValues } from "./incident-form.ts";

/**
 * View models of the console's incident pages: plain data the views print
 * (every text through `{{…}}`, which escapes it).
 */

/** An incident as a list row: its components by name. */
export function incidentRow(incident: Incident, components: ComponentConfig[]) {
  return { ...incident, components: componentsOf(incident, components) };
}

/**
 * Drafts awaiting review first (incidents.publish: review), then the open
 * public incidents (newest first), then the resolved ones, drafts that
 * resolved before anyone published them among them.
 */
export function incidentLists(unresolved: Incident[], recent: Incident[], components: ComponentConfig[]) {
  const open = new Set(unresolved.map((i) => i.id));
  return {
    drafts: recent.filter((i) => i.draft && isUnresolved(i)).map((i) => incidentRow(i, components)),
    open: unresolved.map((i) => incidentRow(i, components)),
    past: recent.filter((i) => !open.has(i.id) && !isUnresolved(i)).map((i) => incidentRow(i, components)),
  };
}

/** A draft still awaiting review: what its Publish form shows; undefined for any other incident. */
export function publishView(incident: Incident) {
  if (!incident.draft || !isUnresolved(incident)) return undefined;
  return { action: `/admin/incidents/${incident.id}/publish`, publishAt: incident.publish_at, key: randomBytes(12).toString("base64url") };
}

/** One incident with both timelines, newest entry first. */
export function incidentPage(incident: Incident, components: ComponentConfig[]) {
  const quiet = (u: { notify?: boolean }) => u.notify === false;
  return {
    incident: incidentRow(incident, components),
    publish: publishView(incident),
    publicUpdates: [...publicIncident(incident).updates].reverse().map((u) => ({ ...u, quiet: quiet(u) })),
    onCallUpdates: [...incident.updates].reverse().map((u) => ({ ...u, text: onCallText(u), quiet: quiet(u) })),
  };
}

export type FormKind = "compose" | "update" | "resolve";

const FORM_TEXT: Record<FormKind, { heading: string; button: string; messageHelp: string }> = {
  compose: { heading: "Compose", button: "Publish", messageHelp: "Shown on the status page and sent to subscribers (unless you untick Notify subscribers). Plain text." },
  update: { heading: "Post an update", button: "Post update", messageHelp: "A new public entry on the timeline. Plain text." },
  resolve: { heading: "Resolve", button: "Resolve", messageHelp: 'Leave it empty to say "This incident has been resolved." Every affected component goes back to operational.' },
};

/** What a fresh form starts with. */
export function blankValues(incident?: Incident): IncidentFormValues {
  return { title: "", status: incident ? nextStatus(incident) : "investigating", message: "", notify: true, components: { ...incident?.components } };
}

/** A form as its view prints it: fields, choices with the chosen one marked, and a fresh idempotency key. */
export function formView(kind: FormKind, action: string, values: IncidentFormValues, components: ComponentConfig[], options: { issues?: string[]; affected?: Record<string, ComponentStatus>; key?: string } = {}) {
  const text = FORM_TEXT[kind];
  return {
    ...text,
    action,
    prefix: kind,
    key: options.key ?? randomBytes(16).toString("base64url"),
    issues: options.issues ?? [],
    withTitle: kind === "compose",
    title: values.title,
    message: values.message,
    messageRequired: kind !== "resolve",
    notify: values.notify,
    statuses: kind === "resolve" ? undefined : FORM_STATUSES.map((s) => ({ value: s, label: INCIDENT_STATUS_LABELS[s], selected: s === values.status })),
    components:
      kind === "resolve"
        ? []
        : components.map((c) => {
            const chosen = values.components[c.id] ?? NOT_AFFECTED;
            const choices = [...(options.affected?.[c.id] ? [] : [{ value: NOT_AFFECTED, label: "not affected" }]), ...COMPONENT_STATUSES.map((s) => ({ value: s as string, label: COMPONENT_STATUS_LABELS[s] }))];
            return { id: c.id, name: c.name, options: choices.map((o) => ({ ...o, selected: o.value === chosen })) };
          }),
  };
}

function componentsOf(incident: Incident, components: ComponentConfig[]) {
  return Object.entries(incident.components).map(([id, status]) => ({ id, name: components.find((c) => c.id === id)?.name ?? id, status }));
}

/** The update form's status to start from: the incident's own, or `investigating` after a resolution. */
function nextStatus(incident: Incident): string {
  return (FORM_STATUSES as readonly string[]).includes(incident.status) && incident.status !== "resolved" ? incident.status : "investigating";
}
