/**
 * The candidate a misspelt name most likely meant: the one fewest edits away
 * (insertions, deletions, substitutions and swaps of two neighbours, case
 * ignored), if it is within 1 edit for names of 3 to 5 characters or 2 for
 * longer ones, and no other candidate is as close. Undefined otherwise: a
 * guess that might be wrong is worse than none.
 */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  const limit = name.length < 3 ? 0 : name.length < 6 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = Infinity;
  let tied = false;
  for (const candidate of new Set(candidates)) {
    if (candidate === name) continue;
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance, tied] = [candidate, distance, false];
    else if (distance === bestDistance) tied = true;
  }
  return best !== undefined && bestDistance <= limit && !tied ? best : undefined;
}

/** ` (did you mean "chat"?)` when `closest` finds one, else "". */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const near = closest(name, candidates);
  return near === undefined ? "" : ` (did you mean ${JSON.stringify(near)}?)`;
}

/** An unknown reference as a problem says it: `no component has the id "chatt" (did you mean "chat"?)`. */
export function noSuchId(what: string, id: string, known: Iterable<string>): string {
  return `no ${what} has the id "${id}"${didYouMean(id, known)}`;
}

/** Optimal string alignment distance: Levenshtein plus swaps of adjacent characters. */
function editDistance(a: string, b: string): number {
  // Names are short (keys, ids); beyond 64 characters nobody is one typo away, and the work stays bounded.
  if (Math.abs(a.length - b.length) > 2 || a.length > 64 || b.length > 64) return Infinity;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0]!.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]!.push(d);
    }
  }
  return rows[a.length]![b.length]!;
}
