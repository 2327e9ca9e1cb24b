import { COMPONENT_STATUSES, type ComponentConfig } from "../../config/index.ts";
import type { ComponentStatus, IncidentTemplate } from "../../status/index.ts";
import { COMPONENT_STATUS_LABELS } from "../labels.ts";
import { NOT_AFFECTED } from "./incident-form.ts";

/** What a person typed into a template's form, shown again after a problem. */
export interface TemplateFormValues {
  name: string;
  title: string;
  body: string;
  /** Per component id: a status, or NOT_AFFECTED. */
  components: Record<string, string>;
  /** When the template being edited was saved, as the form was opened with it: a save made since is not overwritten unseen. */
  readAt?: string;
}

/** The form's field labels, as problems name them (the verb says `body: …`, the page `Message: …`). */
const LABELS: Record<string, string> = { name: "Name", title: "Title", body: "Message", components: "Components" };

/**
 * Reads a posted template form (urlencoded, flat). What only the form can
 * know (a field sent twice, a choice that is none of the choices) is said
 * here by its label; emptiness, lengths and placeholders are the verb's.
 */
export function readTemplateForm(body: Record<string, unknown>, components: ComponentConfig[]): { values: TemplateFormValues; issues: string[] } {
  const issues: string[] = [];
  const one = (field: string, label: string): string => {
    const value = body[field];
    if (value === undefined) return "";
    if (typeof value === "string") return value;
    issues.push(`${label}: sent more than once; send it once`);
    return "";
  };
  const readAt = one("read_at", "The form's version");
  const values: TemplateFormValues = { name: one("name", "Name"), title: one("title", "Title"), body: one("body", "Message"), components: {}, ...(readAt ? { readAt } : {}) };
  for (const c of components) {
    const value = one(`component.${c.id}`, c.name) || NOT_AFFECTED;
    values.components[c.id] = value;
    if (value !== NOT_AFFECTED && !(COMPONENT_STATUSES as readonly string[]).includes(value)) issues.push(`${c.name}: choose "not affected" or a status (${COMPONENT_STATUSES.join(", ")}), not ${JSON.stringify(value.slice(0, 40))}`);
  }
  return { values, issues };
}

/** The components a form's selects put in a template (those not "not affected"). */
export function templateComponents(values: TemplateFormValues): Record<string, ComponentStatus> {
  return Object.fromEntries(Object.entries(values.components).filter(([, s]) => s !== NOT_AFFECTED)) as Record<string, ComponentStatus>;
}

/** A stored template as its form starts. */
export function templateValues(template?: IncidentTemplate): TemplateFormValues {
  return { name: template?.name ?? "", title: template?.title ?? "", body: template?.body ?? "", components: { ...template?.components }, ...(template ? { readAt: template.updated_at } : {}) };
}

/** The verb's problems with the form's labels (`body: Too big` → `Message: Too big`, `components.chat: …` → `Chat: …`). */
export function labelTemplateIssues(issues: readonly string[], components: ComponentConfig[]): string[] {
  const labels: Record<string, string> = { ...LABELS };
  for (const c of components) labels[`components.${c.id}`] = c.name;
  return issues.map((issue) => {
    const colon = issue.indexOf(": ");
    const label = colon < 0 ? undefined : labels[issue.slice(0, colon)];
    return label ? `${label}: ${issue.slice(colon + 2)}` : issue;
  });
}

/** The form as its view prints it: fields and each component's choices with the chosen one marked. */
export function templateFormView(action: string, values: TemplateFormValues, components: ComponentConfig[], issues: string[] = []) {
  return {
    action,
    issues,
    readAt: values.readAt,
    name: values.name,
    title: values.title,
    body: values.body,
    components: components.map((c) => {
      const chosen = values.components[c.id] ?? NOT_AFFECTED;
      const choices = [{ value: NOT_AFFECTED, label: "not affected" }, ...COMPONENT_STATUSES.map((s) => ({ value: s as string, label: COMPONENT_STATUS_LABELS[s] }))];
      return { id: c.id, name: c.name, options: choices.map((o) => ({ ...o, selected: o.value === chosen })) };
    }),
  };
}
