/**
 * Checks on message serials (`<epoch>:<offset>`, docs/protocol.md) that the
 * pub/sub and resume probes share. Probes know what they published (the acks)
 * and compare it with what arrived; each problem is one sentence.
 */

/** A serial split into its parts; undefined when it is not `<epoch>:<offset>`. */
export function splitSerial(serial: string): { epoch: string; offset: number } | undefined {
  const match = /^([^:]+):(\d+)$/.exec(serial);
  return match ? { epoch: match[1]!, offset: Number(match[2]) } : undefined;
}

/**
 * Serials that one publisher got in a row on its own channel must be one
 * epoch with consecutive offsets; a gap means the gateway skipped or lost a
 * position, a new epoch means it lost the channel's history.
 */
export function continuityProblems(serials: string[]): string[] {
  const problems: string[] = [];
  for (let i = 1; i < serials.length; i++) {
    const before = splitSerial(serials[i - 1]!);
    const now = splitSerial(serials[i]!);
    if (!before || !now) {
      problems.push(`serial ${JSON.stringify(before ? serials[i] : serials[i - 1])} is not <epoch>:<offset>`);
    } else if (now.epoch !== before.epoch) {
      problems.push(`the epoch changed from ${before.epoch} to ${now.epoch} between ${serials[i - 1]} and ${serials[i]} (the channel's history was lost)`);
    } else if (now.offset !== before.offset + 1) {
      problems.push(`serials are not consecutive: ${serials[i - 1]} was followed by ${serials[i]}`);
    }
  }
  return problems;
}

/**
 * Compares what arrived with what should have, both in order: names every
 * message that is missing, repeated, out of order, or not one of ours. Ids
 * are serials (our gateway) or `#seq` (a broker without positions, where
 * the run numbers its own messages).
 */
export function deliveryProblems(expected: string[], received: string[]): string[] {
  const problems: string[] = [];
  const wanted = new Set(expected);
  const seen = new Map<string, number>();
  for (const id of received) seen.set(id, (seen.get(id) ?? 0) + 1);
  expected.forEach((id, i) => {
    if (!seen.has(id)) problems.push(`message ${i + 1} of ${expected.length}${isSeq(id) ? "" : ` (serial ${id})`} never arrived`);
  });
  for (const [id, count] of seen) {
    if (count > 1) problems.push(`${named(id, expected)} arrived ${count} times`);
    if (!wanted.has(id)) problems.push(`${named(id, expected)} arrived but was not published by this run`);
  }
  const order = [...new Set(received)].filter((id) => wanted.has(id));
  const rank = new Map(expected.map((id, i) => [id, i]));
  for (let i = 1; i < order.length; i++) {
    if (rank.get(order[i]!)! < rank.get(order[i - 1]!)!) problems.push(`out of order: ${bare(order[i - 1]!, expected)} arrived before ${bare(order[i]!, expected)}`);
  }
  return problems;
}

/** A serial as it is, a run's own number as "message 2 of 5". */
function bare(id: string, expected: string[]): string {
  return isSeq(id) ? named(id, expected) : id;
}

function isSeq(id: string): boolean {
  return id.startsWith("#");
}

/** "serial 3f:12", or for a run's own numbering "message 2 of 5". */
function named(id: string, expected: string[]): string {
  if (!isSeq(id)) return `serial ${id}`;
  const i = expected.indexOf(id);
  return i >= 0 ? `message ${i + 1} of ${expected.length}` : `message ${id}`;
}
