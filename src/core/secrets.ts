/** Names of settings whose values are secrets (passwords, tokens, keys, auth headers, cookies, signatures). */
const SECRET_NAME = /pass(word)?|secret|token|api[-_]?key|(^|[-_])key$|private|auth|credential|cookie|signature|^sig$/i;

/** Replaces every occurrence of a secret (raw or URL-encoded) with "[redacted]"; secrets under 4 characters are left alone. */
export function scrub(text: string, secrets: string[]): string {
  let out = text;
  const forms = secrets.flatMap((s) => [s, encodeURIComponent(s)]).filter((s) => s.length >= 4);
  // Longest first, so a secret containing another is replaced whole.
  for (const secret of [...new Set(forms)].sort((a, b) => b.length - a.length)) out = out.split(secret).join("[redacted]");
  return out;
}

/**
 * The secrets in a settings object, to scrub from what is shown of it: the
 * values under secret-sounding names (`password`, `token`, `Authorization`,
 * `api_key`, …, at any depth, header maps included), in every URL the
 * password and the query values that are named like secrets or long enough
 * to be tokens (16 characters and more), and in a command's arguments the
 * values of secret options (`--token=X`, `--password X`, `API_KEY=X`).
 */
export function secretsIn(settings: unknown, name = ""): string[] {
  if (typeof settings === "string") {
    if (SECRET_NAME.test(name)) return [settings];
    const assigned = /^-{0,2}([A-Za-z][\w.-]*)=(.+)$/.exec(settings);
    if (assigned && SECRET_NAME.test(assigned[1]!)) return [assigned[2]!];
    return settings.includes("://") ? urlParts(settings) : [];
  }
  if (Array.isArray(settings)) {
    return settings.flatMap((item, i) => {
      const option = typeof settings[i - 1] === "string" ? /^-{1,2}([A-Za-z][\w.-]*)$/.exec(settings[i - 1] as string) : null;
      return option && SECRET_NAME.test(option[1]!) && typeof item === "string" ? [item] : secretsIn(item, name);
    });
  }
  if (settings && typeof settings === "object") return Object.entries(settings).flatMap(([key, value]) => secretsIn(value, key));
  return [];
}

function urlParts(text: string): string[] {
  try {
    const url = new URL(text);
    const query = [...url.searchParams].filter(([key, value]) => SECRET_NAME.test(key) || value.length >= 16).map(([, value]) => value);
    return [decodeURIComponent(url.password), url.password, ...query].filter(Boolean);
  } catch {
    return [];
  }
}

/** `value` with every secret scrubbed from its strings, keeping its shape (for probe details and the like). */
export function scrubDeep<T>(value: T, secrets: string[]): T {
  if (secrets.length === 0) return value;
  if (typeof value === "string") return scrub(value, secrets) as T;
  if (Array.isArray(value)) return value.map((item) => scrubDeep(item, secrets)) as T;
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubDeep(v, secrets)])) as T;
  return value;
}
