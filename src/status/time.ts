/** Time arithmetic shared by rollups and uptime: UTC days and 32-day blocks. */
export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;
/** Rollup and uptime hashes each cover this many days, so a 90-day read touches 3-4 keys. */
export const BLOCK_DAYS = 32;

export function epochDay(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

export function blockOf(day: number): number {
  return Math.floor(day / BLOCK_DAYS);
}

/** When a block's last day ends, in ms. */
export function blockEnd(block: number): number {
  return (block + 1) * BLOCK_DAYS * DAY_MS;
}

/** `YYYY-MM-DD` of a UTC day number. */
export function dayString(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}
