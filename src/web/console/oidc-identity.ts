import { CONSOLE_SCOPES, type ConsoleScope, type OidcConfig } from "../../config/index.ts";
import type { AdminScope } from "../../auth/index.ts";

// config may not import auth, so it keeps its own list of the scopes a group may get: it must be the admin API's list, no more, no less.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const scopesAgree: Same<ConsoleScope, AdminScope> = true;
void scopesAgree;

/** How long a name from the provider may be on a timeline and in the audit log. */
const NAME_MAX = 64;
/** How many of a refused person's groups the refusal page names. */
const GROUPS_SHOWN = 20;

/** Who the provider says signed in, and what the console lets them do. */
export interface OidcPerson {
  /** Credited on timelines and in the audit log. */
  name: string;
  /** The provider's subject id (for logs). */
  subject: string;
  /** The groups the claim listed. */
  groups: string[];
  /** Every scope of every mapped group they are in; empty: refused. */
  scopes: ConsoleScope[];
}

/**
 * Reads a person from the claims (ID token and userinfo merged): their name
 * from `name_claim` (else name, then email, then sub), their groups from
 * `claim` (a list, one string, or nothing), and the scopes those groups are
 * mapped to, in the admin API's order.
 */
export function personFrom(claims: Record<string, unknown>, oidc: Pick<OidcConfig, "claim" | "nameClaim" | "scopes">): OidcPerson {
  const subject = typeof claims.sub === "string" ? claims.sub : "";
  const candidates = [oidc.nameClaim ? claims[oidc.nameClaim] : undefined, claims.name, claims.email, subject];
  const name = candidates.map(cleanName).find((n) => n !== "") ?? "unknown person";
  const raw = claims[oidc.claim];
  const groups = (Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [raw]).filter((g): g is string => typeof g === "string" && g !== "");
  const granted = new Set<ConsoleScope>();
  for (const group of groups) {
    // Own keys only: a group called "constructor" or "__proto__" is a group like any other.
    if (!Object.hasOwn(oidc.scopes, group)) continue;
    for (const scope of oidc.scopes[group]!) granted.add(scope);
  }
  return { name, subject, groups, scopes: CONSOLE_SCOPES.filter((s) => granted.has(s)) };
}

/** A refused person's groups as the page names them: a few, each cut short. */
export function groupsShown(groups: readonly string[]): string {
  const shown = groups.slice(0, GROUPS_SHOWN).map((g) => (g.length > 60 ? `${g.slice(0, 60)}…` : g));
  return shown.join(", ") + (groups.length > GROUPS_SHOWN ? ` and ${groups.length - GROUPS_SHOWN} more` : "");
}

/** A name as the console shows and credits it: one line of printable text, not too long. */
function cleanName(value: unknown): string {
  if (typeof value !== "string") return "";
  // Control characters (newlines included) would forge lines in plain-text views of the audit log.
  const one = value.replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, " ").replace(/\s+/g, " ").trim();
  return one.length > NAME_MAX ? `${one.slice(0, NAME_MAX - 1)}…` : one;
}
