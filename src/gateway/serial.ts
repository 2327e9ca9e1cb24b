/**
 * A serial names one message of one channel: `<epoch>:<offset>`. Clients treat
 * it as opaque. The epoch names the history the message belongs to (a new one
 * starts when the history is lost, or the cache mode changes); the offset
 * counts messages within the epoch, from 1.
 */
export interface Position {
  epoch: string;
  offset: number;
}

export function formatSerial(position: Position): string {
  return `${position.epoch}:${position.offset}`;
}

/** Parses a serial a client sent back; undefined when it is not one of ours. */
export function parseSerial(serial: string): Position | undefined {
  const match = /^([a-z0-9]{1,32}):(\d{1,15})$/.exec(serial);
  if (!match) return undefined;
  return { epoch: match[1]!, offset: Number(match[2]) };
}

/** True when `a` comes after `b` in the same epoch (or `b` is unknown). */
export function isAfter(a: Position, b: Position | undefined): boolean {
  return !b || a.epoch !== b.epoch || a.offset > b.offset;
}
