import type { ComponentConfig } from "../../config/index.ts";
import { DEFAULT_REMIND_BEFORE_MINUTES, MAX_REMIND_BEFORE_MINUTES, type Maintenance } from "../../status/index.ts";

/** What a person typed and chose in the maintenance form, as it is shown again after a problem. */
export interface MaintenanceFormValues {
  name: string;
  components: string[];
  /** As typed (the form's datetime-local value, read as UTC). */
  starts: string;
  ends: string;
  message: string;
  /** Minutes before the start that subscribers are reminded, as typed ("0": no reminder). */
  remind: string;
  /** Whether the start and the completion are announced (the box ticked). */
  notify: boolean;
}

/** What a new window's form starts with: a reminder an hour before, start and completion announced. */
export const NEW_MAINTENANCE_VALUES: MaintenanceFormValues = { name: "", components: [], starts: "", ends: "", message: "", remind: String(DEFAULT_REMIND_BEFORE_MINUTES), notify: true };

/** What the maintenance verbs take from the form, once it has no problems of its own. */
export interface MaintenanceFormInput {
  name: string;
  components: string[];
  scheduled_for: string;
  scheduled_until: string;
  body: string;
  remind_before_minutes: number;
  notify: boolean;
}

export interface ReadMaintenanceForm {
  values: MaintenanceFormValues;
  /** The form's own problems, each naming its field by its label. */
  issues: string[];
  input?: MaintenanceFormInput;
  /** The form's idempotency key, so a create sent twice schedules one window. */
  key?: string;
}

/** The form's labels, used in every problem it names. */
export const MAINTENANCE_LABELS = {
  name: "Name",
  components: "Components",
  scheduled_for: "Starts (UTC)",
  scheduled_until: "Ends (UTC)",
  body: "Message",
  remind_before_minutes: "Remind subscribers (minutes before)",
  notify: "Announce the start and the completion",
} as const;

/** The form's field names, where they differ from the verbs' (`message` for `body`, …). */
const FIELD_NAMES: Partial<Record<keyof typeof MAINTENANCE_LABELS, string>> = { body: "message", scheduled_for: "starts", scheduled_until: "ends" };

const FORM_KEY = /^[A-Za-z0-9_-]{16,64}$/;
// A datetime-local value (2026-12-04T02:00, seconds optional) is UTC; an explicit offset is honoured.
const TIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * Reads a posted maintenance form (urlencoded: `components` repeated, one
 * per ticked box; `notify` as "off" from a hidden field, then "on" when its
 * box is ticked, so an unticked box still says off). What only the
 * form can know (a field left empty or sent twice, a time or a number of
 * minutes that is not one, an unknown component, an end already past) is
 * said here; lengths are the verb's to say (see labelMaintenanceIssues).
 */
export function readMaintenanceForm(body: Record<string, unknown>, components: ComponentConfig[], now = Date.now()): ReadMaintenanceForm {
  const issues: string[] = [];
  const one = (field: keyof typeof MAINTENANCE_LABELS | "key"): string | undefined => {
    const value = body[field === "key" ? field : (FIELD_NAMES[field] ?? field)];
    if (value === undefined) return "";
    if (typeof value === "string") return value;
    issues.push(`${field === "key" ? "The form's key" : MAINTENANCE_LABELS[field]}: sent more than once; send it once`);
    return undefined;
  };
  const name = one("name");
  const starts = one("scheduled_for");
  const ends = one("scheduled_until");
  // Browsers send a textarea's line breaks as CRLF; what is stored keeps plain \n.
  const message = one("body")?.replace(/\r\n?/g, "\n");
  // Absent (a client that does not know them): the defaults, as the API has them.
  const remind = body.remind_before_minutes === undefined ? String(DEFAULT_REMIND_BEFORE_MINUTES) : one("remind_before_minutes");
  const notify = notifyOf(body.notify, issues);
  const raw = body.components;
  const chosen = raw === undefined ? [] : Array.isArray(raw) ? raw.filter((c): c is string => typeof c === "string") : typeof raw === "string" ? [raw] : [];
  const values: MaintenanceFormValues = { name: name ?? "", components: chosen, starts: starts ?? "", ends: ends ?? "", message: message ?? "", remind: remind ?? "", notify: notify ?? true };

  if (name !== undefined && name.trim() === "") issues.push("Name: give the window a name");
  const known = new Set(components.map((c) => c.id));
  const unknown = chosen.filter((c) => !known.has(c));
  if (unknown.length > 0) issues.push(`Components: ${quoted(unknown[0]!)} is not a configured component`);
  else if (chosen.length === 0) issues.push("Components: tick at least one component the window affects");
  const from = starts === undefined ? undefined : timeOf(starts, "scheduled_for", issues);
  const until = ends === undefined ? undefined : timeOf(ends, "scheduled_until", issues);
  if (from !== undefined && until !== undefined) {
    if (until <= from) issues.push("Ends (UTC): must be after Starts (UTC)");
    else if (until <= now) issues.push("Ends (UTC): is already past; a window must end in the future");
  }
  if (message !== undefined && message.trim() === "") issues.push("Message: say what will happen and what customers may notice");
  const minutes = remind === undefined ? undefined : minutesOf(remind, issues);
  const key = one("key");
  if (key && !FORM_KEY.test(key)) issues.push("The form's key is malformed: reload the page and send it again");

  const input =
    issues.length === 0 && from !== undefined && until !== undefined && minutes !== undefined && notify !== undefined
      ? {
          name: values.name,
          components: chosen,
          scheduled_for: new Date(from).toISOString(),
          scheduled_until: new Date(until).toISOString(),
          body: values.message,
          remind_before_minutes: minutes,
          notify: values.notify,
        }
      : undefined;
  return { values, issues, input, key: key && FORM_KEY.test(key) ? key : undefined };
}

/** A window's fields as its edit form starts with them (the newest message, times as datetime-local values). */
export function valuesOf(maintenance: Maintenance): MaintenanceFormValues {
  return {
    name: maintenance.name,
    components: maintenance.components,
    starts: maintenance.scheduled_for.slice(0, 16),
    ends: maintenance.scheduled_until.slice(0, 16),
    message: maintenance.updates.at(-1)?.body ?? "",
    remind: String(maintenance.remind_before_minutes ?? DEFAULT_REMIND_BEFORE_MINUTES),
    notify: maintenance.notify !== false,
  };
}

/** A verb's problems (`scheduled_for: …`) said with the form's labels (`Starts (UTC): …`). */
export function labelMaintenanceIssues(issues: readonly string[]): string[] {
  return issues.map((issue) => {
    const colon = issue.indexOf(": ");
    const path = (colon < 0 ? "" : issue.slice(0, colon)).split(".")[0] as keyof typeof MAINTENANCE_LABELS;
    const label = MAINTENANCE_LABELS[path];
    return label ? `${label}: ${issue.slice(colon + 2)}` : issue;
  });
}

/** The "Announce" box: `off` (the hidden field alone), `on` (ticked: the hidden field, then the box), absent for the default. */
function notifyOf(value: unknown, issues: string[]): boolean | undefined {
  if (value === undefined) return true;
  const last = Array.isArray(value) ? value.at(-1) : value;
  if (last === "on") return true;
  if (last === "off") return false;
  issues.push(`${MAINTENANCE_LABELS.notify}: expected the box ticked or not; reload the page and send it again`);
  return undefined;
}

/** The reminder's lead as typed: a number of minutes from 0 (no reminder) to 7 days. */
function minutesOf(value: string, issues: string[]): number | undefined {
  const label = MAINTENANCE_LABELS.remind_before_minutes;
  const range = `a number from 0 (no reminder) to ${MAX_REMIND_BEFORE_MINUTES} (7 days)`;
  const trimmed = value.trim();
  if (trimmed === "") {
    issues.push(`${label}: enter ${range}`);
    return undefined;
  }
  const minutes = /^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isFinite(minutes)) issues.push(`${label}: ${quoted(trimmed)} is not a number of minutes; enter ${range}`);
  else if (minutes < 0) issues.push(`${label}: must not be negative; enter ${range}`);
  else if (minutes > MAX_REMIND_BEFORE_MINUTES) issues.push(`${label}: at most ${MAX_REMIND_BEFORE_MINUTES} (7 days); enter ${range}`);
  else return minutes;
  return undefined;
}

function timeOf(value: string, field: "scheduled_for" | "scheduled_until", issues: string[]): number | undefined {
  const label = MAINTENANCE_LABELS[field];
  const trimmed = value.trim();
  if (trimmed === "") {
    issues.push(`${label}: enter a date and time in UTC, like 2026-12-04 02:00`);
    return undefined;
  }
  const match = TIME.exec(trimmed);
  const at = match ? Date.parse(`${match[1]}T${match[2]}${match[3] ?? ""}${match[5] ?? "Z"}`) : NaN;
  if (!Number.isFinite(at)) {
    issues.push(`${label}: ${quoted(trimmed)} is not a date and time; enter one in UTC, like 2026-12-04 02:00`);
    return undefined;
  }
  return at;
}

/** A value as a problem quotes it: short, so a 1 MiB mistake is named in a line, not pasted back. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}
