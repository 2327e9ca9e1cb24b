import { readFileSync } from "node:fs";
import { z } from "zod";

/** A CA certificate: PEM text, or the path of a PEM file (read once, at config load). */
const caSetting = z.string().min(1).transform((value, ctx) => {
  if (value.includes("-----BEGIN")) return value;
  try {
    return readFileSync(value, "utf8");
  } catch (err) {
    ctx.addIssue({ code: "custom", message: `cannot read the CA file ${JSON.stringify(value)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    return z.NEVER;
  }
});

/**
 * Which server certificates a client trusts (`tls:` of probes and of
 * channels): a private CA or a self-signed certificate besides the system's.
 */
export const tlsSetting = z.strictObject({
  /** Trust this CA (PEM text or file) besides the system's. */
  ca: caSetting.optional(),
  /** Accept any certificate: for a test server only, never production. @defaultValue false */
  insecure: z.boolean().default(false),
});
