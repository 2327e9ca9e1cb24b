export { allows, allowsNarrow, NARROW_SCOPE_WORDS, SCOPES, SCOPE_WORDS, TokenInputError, TokenStore, type Actor, type AdminScope, type NarrowScope, type Scope, type TokenRecord } from "./tokens.ts";
export { AuditLog, type AuditEntry } from "./audit.ts";
export { tokensMain, TOKENS_USAGE } from "./cli.ts";
