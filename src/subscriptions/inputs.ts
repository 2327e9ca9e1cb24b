import { isIP } from "node:net";
import { z } from "zod";

/**
 * What the subscribe API accepts, checked here so every answer names what
 * was wrong. Endpoint checks are the obvious ones (scheme, host, cloud
 * metadata and link-local addresses); a fuller SSRF policy belongs in front
 * of every outbound request, not only here.
 */

const MAX_URL = 2_000;
const MAX_EMAIL = 254;
const MAX_COMPONENTS = 100;

/** Host names of cloud metadata services. */
const METADATA_HOSTS = new Set(["metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"]);
/** Metadata addresses outside link-local ranges (Alibaba Cloud, AWS over IPv6). */
const METADATA_ADDRESSES = new Set(["100.100.100.200", "fd00:ec2::254"]);

const endpointHint = "expected an http(s) URL like https://hooks.example.com/statuspage";

/** Why a webhook endpoint is refused, or undefined when it is acceptable. */
export function endpointProblem(value: string): string | undefined {
  if (value.length > MAX_URL) return `must be at most ${MAX_URL} characters`;
  if (/[\s\u0000-\u001f]/.test(value)) return `${endpointHint} (no spaces or control characters)`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return endpointHint;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `${endpointHint}: the scheme must be http or https, not ${url.protocol.replace(/:$/, "")}`;
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (!host) return `${endpointHint}: the host is missing`;
  if (url.hash) return "must not contain a #fragment (it is never sent to the receiver)";
  if (METADATA_HOSTS.has(host) || METADATA_ADDRESSES.has(host)) return "must not point at a cloud metadata service";
  if (isLinkLocal(host)) return "must not point at a link-local address (169.254.0.0/16, fe80::/10), where cloud metadata services live";
  if (isUnspecified(host)) return "must name a host, not the unspecified address";
  return undefined;
}

function isLinkLocal(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith("169.254.");
  if (isIP(host) === 6) {
    if (/^fe[89ab][0-9a-f]:/i.test(host)) return true;
    // IPv4-mapped IPv6 (::ffff:169.254.169.254, which URL parsing writes as ::ffff:a9fe:a9fe).
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(host);
    if (mapped) return parseInt(mapped[1]!, 16) === 0xa9fe;
    return /^::ffff:169\.254\./i.test(host);
  }
  return false;
}

function isUnspecified(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || /^0+(\.0+){0,3}$/.test(host);
}

/** A webhook endpoint, normalized the way URL parsing writes it. */
export const webhookEndpoint = z
  .string({ error: endpointHint })
  .trim()
  .superRefine((value, ctx) => {
    const problem = endpointProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .transform((value) => new URL(value).href);

const emailHint = 'expected an e-mail address like "ana@example.com"';

/** An e-mail address (no display name), its domain lower-cased. */
export const emailAddress = z
  .string({ error: emailHint })
  .trim()
  .max(MAX_EMAIL, { error: `must be at most ${MAX_EMAIL} characters` })
  .regex(/^[^\s@<>()[\]\\,;:"]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i, { error: emailHint })
  .transform((value) => {
    const at = value.lastIndexOf("@");
    return `${value.slice(0, at)}@${value.slice(at + 1).toLowerCase()}`;
  });

/**
 * Component ids: a list, or (from an HTML form or a query) one id or several
 * separated by commas. Empty means every component.
 */
export const componentList = z.preprocess(
  (value) => {
    if (value === undefined || value === null || value === "") return [];
    if (typeof value === "string") return value.split(",").map((s) => s.trim()).filter(Boolean);
    return value;
  },
  z
    .array(z.string({ error: "expected component ids" }).max(64), { error: 'expected a list of component ids, like ["chat", "qa"]' })
    .max(MAX_COMPONENTS, { error: `name at most ${MAX_COMPONENTS} components` })
    .transform((ids) => [...new Set(ids)]),
);

const typeHint = 'expected "webhook" or "email"';

/** The body of POST /subscriptions. */
export const subscribeInput = z.discriminatedUnion(
  "type",
  [
    z.strictObject({ type: z.literal("webhook"), endpoint: webhookEndpoint, components: componentList }),
    z.strictObject({ type: z.literal("email"), email: emailAddress, components: componentList }),
  ],
  { error: (issue) => (isObject(issue.input) && issue.input.type === undefined ? `required: ${typeHint}` : typeHint) },
);
export type SubscribeInput = z.input<typeof subscribeInput>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** A confirm or unsubscribe token, as links carry it (in `?token=` or a form's `token` field). */
export const linkToken = z.strictObject({
  token: z
    .string({ error: "required: the token from the link you were sent" })
    .regex(/^[a-z0-9]{16}\.[A-Za-z0-9_-]{43}$/, { error: "this is not a token from one of our links; copy the whole link you were sent" }),
});
