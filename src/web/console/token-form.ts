import { SCOPES, SCOPE_WORDS, type TokenRecord } from "../../auth/index.ts";
import { quoted } from "./ops-page.ts";

/** What a person typed and ticked in the new-token form, as it is shown again after a problem. */
export interface TokenFormValues {
  name: string;
  scopes: string[];
  /** One agent or heartbeat scope (`agent:eu-west`, `heartbeat:backup`), typed. */
  other: string;
}

/** The longest "Other scope" the form reads (`agent:` or `heartbeat:` and an id of at most 63). */
const OTHER_MAX = 80;

/**
 * Reads a posted new-token form. What only the form can know (a field sent
 * twice, a box that is not one of the scopes) is said here by the field's
 * label; the rest (names, scope rules) is the token store's to say, and
 * tokenIssues puts its words under the form's labels.
 */
export function readTokenForm(body: Record<string, unknown>): { values: TokenFormValues; issues: string[] } {
  const issues: string[] = [];
  const repeated = new Set<string>();
  const text = (field: string, label: string): string => {
    const value = body[field];
    if (value === undefined || typeof value === "string") return value ?? "";
    issues.push(`${label}: sent more than once; send it once`);
    repeated.add(field);
    return "";
  };
  const ticked = body.scope === undefined ? [] : Array.isArray(body.scope) ? body.scope : [body.scope];
  const scopes = ticked.filter((s): s is string => typeof s === "string" && (SCOPES as readonly string[]).includes(s));
  const strange = ticked.filter((s) => !scopes.includes(s as string));
  if (strange.length > 0) issues.push(`Scopes: tick among ${SCOPES.join(", ")}, not ${strange.map((s) => quoted(String(s))).join(", ")}`);
  const values: TokenFormValues = { name: text("name", "Name"), scopes, other: text("other", "Other scope").trim() };
  if (!repeated.has("name") && values.name.trim() === "") issues.push("Name: say who or what uses the token (alice, deploy-bot)");
  if (values.other.length > OTHER_MAX) issues.push(`Other scope: at most ${OTHER_MAX} characters, like agent:eu-west or heartbeat:backup`);
  else if (scopes.length === 0 && values.other === "" && strange.length === 0) issues.push(`Scopes: tick at least one (${SCOPES.join(", ")})`);
  return { values, issues };
}

/** The scopes a read form asks the token store for. */
export function scopesOf(values: TokenFormValues): string[] {
  return values.other ? [...values.scopes, values.other] : values.scopes;
}

/** The token store's refusal (`name: …`, `scopes: …`) under the form's labels ("Other scope" when it is about what was typed there). */
export function tokenIssues(message: string, values: TokenFormValues): string[] {
  if (message.startsWith("name: ")) return [`Name: ${message.slice(6)}`];
  if (!message.startsWith("scopes: ")) return [message];
  const aboutOther = values.other !== "" && message.includes(values.other) && !values.scopes.some((s) => message.includes(JSON.stringify(s)));
  return [`${aboutOther ? "Other scope" : "Scopes"}: ${message.slice(8)}`];
}

/** The form as its view prints it: each scope with its words, ticked as it was. */
export function tokenFormView(values: TokenFormValues, issues: string[] = []) {
  return {
    issues,
    name: values.name,
    other: values.other,
    scopes: SCOPES.map((scope) => ({ value: scope, words: SCOPE_WORDS[scope], checked: values.scopes.includes(scope) })),
  };
}

/** What a fresh form starts with: a `read` token. */
export function blankTokenForm(): TokenFormValues {
  return { name: "", scopes: ["read"], other: "" };
}

/** Tokens as rows: the working ones first (newest first), then the revoked ones. */
export function tokenRows(tokens: TokenRecord[], ownTokenId: string) {
  const row = (t: TokenRecord) => ({ ...t, scopes: t.scopes.join(", "), revoked: t.revoked_at !== undefined, own: t.id === ownTokenId });
  const newest = [...tokens].sort((a, b) => b.created_at.localeCompare(a.created_at));
  return { active: newest.filter((t) => !t.revoked_at).map(row), revoked: newest.filter((t) => t.revoked_at).map(row) };
}
