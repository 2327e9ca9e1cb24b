import { z } from "zod";
import { checkEgressHost, EgressRefused } from "../../core/index.ts";
import { optionalDuration, took } from "./common.ts";
import { defineStep } from "./types.ts";

const configSchema = z.strictObject({
  /** The endpoint to call (may carry a secret: it is never logged or shown whole). */
  url: z.string().regex(/^https?:\/\/\S+$/, { error: "expected an HTTP URL like https://ops.example.com/hooks/recover" }),
  /** @defaultValue POST */
  method: z.enum(["POST", "PUT"], { error: 'expected "POST" or "PUT"' }).default("POST"),
  headers: z.record(z.string(), z.string().regex(/^[^\r\n]*$/, { error: "a header value cannot contain line breaks" })).default({}),
  /** @defaultValue 10s */
  timeout: optionalDuration(10_000),
});

/**
 * Calls the user's own endpoint with the run as JSON. Every call carries an
 * `idempotency-key` header that stays the same when a resumed step calls
 * again, so the receiver can act once. A 2xx answer passes.
 */
export default defineStep({
  action: "webhook",
  description: "call your own HTTP endpoint",
  configSchema,
  resume: "repeat",
  timeoutMs: (s) => s.timeout,
  describe: (s) => `call ${s.method} ${hostOf(s.url)}`,
  redact: (written) => ({
    ...written,
    url: typeof written.url === "string" ? hostOf(written.url) : written.url,
    headers: written.headers && typeof written.headers === "object" ? Object.fromEntries(Object.keys(written.headers).map((name) => [name, "[redacted]"])) : written.headers,
  }),
  async run(s, ctx) {
    const where = `${s.method} ${hostOf(s.url)}`;
    if (ctx.dryRun) return { ok: true, summary: `Would call ${where}. Nothing was changed (dry run).` };
    const incident = await ctx.incident();
    const body = {
      type: "playbook.step",
      id: ctx.key,
      playbook: ctx.run.playbook,
      run: ctx.run.id,
      kind: ctx.run.kind,
      trigger: ctx.run.trigger,
      incident: incident ? { id: incident.id, name: incident.name, status: incident.status } : null,
    };
    const started = Date.now();
    try {
      await checkEgressHost(new URL(s.url));
    } catch (err) {
      if (err instanceof EgressRefused) return { ok: false, summary: `Did not call ${where}: ${err.message}.` };
      throw err;
    }
    const res = await fetch(s.url, {
      method: s.method,
      headers: { ...s.headers, "content-type": "application/json", "idempotency-key": ctx.key, "user-agent": "Pulseboard-Playbooks" },
      body: JSON.stringify(body),
      signal: ctx.signal,
      redirect: "manual",
    });
    const text = (await readAtMost(res, 4_096)).slice(0, 500);
    const details = { status: res.status, took_ms: Date.now() - started, answer: text };
    if (res.ok) return { ok: true, summary: `Called ${where}: ${res.status} in ${took(Date.now() - started)}.`, details };
    return { ok: false, summary: `Called ${where}: it answered ${res.status}${text ? ` (${text.slice(0, 120).replace(/\s+/g, " ")})` : ""}.`, details };
  },
});

/** The start of an answer's body; the rest is never downloaded. */
async function readAtMost(res: Response, bytes: number): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let read = 0;
  while (read < bytes) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    read += value.length;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).subarray(0, bytes).toString("utf8");
}

function hostOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : "/…"}`;
  } catch {
    return "(unparseable URL)";
  }
}
