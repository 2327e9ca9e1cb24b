const UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|kb|mb|gb)$/i;

/**
 * Parses a size such as "64KiB", "1MiB", "500kB" or a whole number of bytes.
 * Returns undefined for anything else.
 */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const match = PATTERN.exec(value.trim());
  if (!match) return undefined;
  const bytes = Math.round(Number(match[1]) * UNITS[match[2]!.toLowerCase()]!);
  return bytes > 0 ? bytes : undefined;
}
