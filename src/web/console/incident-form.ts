import { COMPONENT_STATUSES, type ComponentConfig } from "../../config/index.ts";
import type { ComponentStatus } from "../../status/index.ts";

/** The statuses the composer and the update form offer, in order. */
export const FORM_STATUSES = ["investigating", "identified", "monitoring", "resolved"] as const;
/** A component select's value for "not affected". */
export const NOT_AFFECTED = "none";

/** What a person typed and chose, as the form shows it again after a problem. */
export interface IncidentFormValues {
  title: string;
  status: string;
  message: string;
  notify: boolean;
  /** Per component id: a status, or NOT_AFFECTED. */
  components: Record<string, string>;
}

/** Which fields a form has (the composer, an update, a resolution). */
export interface IncidentFormShape {
  title: boolean;
  statuses: boolean;
  /** A resolution may leave its message out (the verb says "This incident has been resolved."). */
  messageRequired: boolean;
  /** Components to offer a select for; those in `affected` cannot go back to "not affected". */
  components: ComponentConfig[];
  affected?: Record<string, ComponentStatus>;
}

export interface ReadForm {
  values: IncidentFormValues;
  /** The form's own problems, each naming its field by its label; empty when it can go to the verb. */
  issues: string[];
  /** The form's idempotency key, so a form sent twice (a double click, a retry) is done once. */
  key?: string;
}

const FORM_KEY = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * Reads a posted incident form (urlencoded, flat). What only the form can
 * know (a field left empty, sent twice, a value that is none of the
 * choices) is said here, by the field's label; lengths and the rest are
 * the verb's to say (see labelIssues).
 */
export function readIncidentForm(body: Record<string, unknown>, shape: IncidentFormShape): ReadForm {
  const issues: string[] = [];
  const repeated = new Set<string>();
  const one = (field: string, label: string): string => {
    const value = body[field];
    if (value === undefined) return "";
    if (typeof value !== "string") {
      issues.push(`${label}: sent more than once; send it once`);
      repeated.add(field);
      return "";
    }
    return value;
  };
  const given = (field: string) => !repeated.has(field);
  const values: IncidentFormValues = {
    title: shape.title ? one("title", "Title") : "",
    status: shape.statuses ? one("status", "Status") : "",
    message: one("message", "Message"),
    notify: one("notify", "Notify subscribers") === "on",
    components: {},
  };
  if (body.notify !== undefined && body.notify !== "on" && typeof body.notify === "string") issues.push(`Notify subscribers: expected the checkbox ("on") or nothing, got ${quoted(body.notify)}`);
  if (shape.title && given("title") && values.title.trim() === "") issues.push("Title: give the incident a title");
  if (shape.statuses && given("status") && !(FORM_STATUSES as readonly string[]).includes(values.status)) issues.push(`Status: choose one of ${FORM_STATUSES.join(", ")}${values.status ? `, not ${quoted(values.status)}` : ""}`);
  if (shape.messageRequired && given("message") && values.message.trim() === "") issues.push("Message: say what is happening (customers read it)");
  for (const component of shape.components) {
    const affected = shape.affected?.[component.id];
    const value = one(`component.${component.id}`, component.name) || (affected ?? NOT_AFFECTED);
    values.components[component.id] = value;
    const allowed = [...(affected ? [] : [NOT_AFFECTED]), ...COMPONENT_STATUSES];
    if (given(`component.${component.id}`) && !allowed.includes(value)) {
      issues.push(`${component.name}: choose ${affected ? "its status" : '"not affected" or a status'} (${COMPONENT_STATUSES.join(", ")}), not ${quoted(value)}`);
    }
  }
  const key = one("key", "key");
  if (key && !FORM_KEY.test(key)) issues.push("The form's key is malformed: reload the page and send it again");
  return { values, issues, key: key && FORM_KEY.test(key) ? key : undefined };
}

/** The components a form's selects put in an incident (those not "not affected"). */
export function chosenComponents(values: IncidentFormValues): Record<string, ComponentStatus> {
  return Object.fromEntries(Object.entries(values.components).filter(([, status]) => status !== NOT_AFFECTED)) as Record<string, ComponentStatus>;
}

/**
 * A verb's problems (`name: Too big: …`) said with the form's labels
 * (`Title: Too big: …`), so the person sees which field to fix.
 */
export function labelIssues(issues: readonly string[], components: ComponentConfig[]): string[] {
  const labels: Record<string, string> = { name: "Title", body: "Message", status: "Status", notify: "Notify subscribers", components: "Components" };
  for (const c of components) labels[`components.${c.id}`] = c.name;
  return issues.map((issue) => {
    const colon = issue.indexOf(": ");
    const path = colon < 0 ? "" : issue.slice(0, colon);
    const label = labels[path];
    return label ? `${label}: ${issue.slice(colon + 2)}` : issue;
  });
}

/** A value as a problem quotes it: short, so a 1 MiB mistake is named in a line, not pasted back. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}
