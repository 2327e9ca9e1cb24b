import { rootCertificates, type ConnectionOptions } from "node:tls";
import { z } from "zod";
import { parseDuration, shown, tlsSetting } from "../config/index.ts";

export { tlsSetting };

/**
 * Building blocks for channel kinds' settings, so every kind spells URLs and
 * timeouts the same way in pulseboard.yaml.
 */

/** An http:// or https:// URL (receivers in tests listen on plain http). */
export const httpUrlSetting = z
  .string({ error: "expected a URL like https://hooks.example.com/pulseboard" })
  .regex(/^https?:\/\/[^\s/?#]+[^\s]*$/, { error: "expected an http(s) URL like https://hooks.example.com/pulseboard" });

/**
 * How long one delivery attempt may take, written like "10s"; parses to
 * milliseconds. The attempt also ends at the caller's deadline (ctx.signal),
 * whichever comes first.
 */
export function timeoutSetting(defaultMs: number) {
  return z
    .string({ error: 'expected a duration like "10s"' })
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return defaultMs;
      const ms = parseDuration(value);
      if (ms === undefined || ms > 120_000) {
        ctx.addIssue({ code: "custom", message: `expected a duration from "1ms" to "2m", like "10s", got ${shown(value)}` });
        return z.NEVER;
      }
      return ms;
    });
}

/** Node's TLS options for a channel's `tls:`: the system's CAs plus its own (giving `ca` alone would drop the system's). */
export function tlsOptions(settings: z.output<typeof tlsSetting>): ConnectionOptions {
  return { ...(settings.ca ? { ca: [...rootCertificates, settings.ca] } : {}), rejectUnauthorized: !settings.insecure };
}
