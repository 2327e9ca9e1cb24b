/** One process of a run: its role, memory after the idle wait, and CPU over the window after it. */
export interface Row {
  role: string;
  pid: number;
  rssMiB: number;
  /** Proportional set size: shared pages (the node binary's above all) divided among the processes mapping them. */
  pssMiB: number;
  /** % of one core; NaN when the process ended during the window. */
  cpuPct: number;
}

export interface RunResult {
  rows: Row[];
}

export interface Totals {
  /** Every process of `npm start`'s tree (scripts/start.mjs becomes `pulseboard start`): the goal's figure. */
  processes: number;
  rssMiB: number;
  pssMiB: number;
  cpuPct: number;
}

function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function totalsOf(rows: Row[]): Totals {
  const sum = (pick: (r: Row) => number): number => rows.reduce((s, r) => s + (Number.isNaN(pick(r)) ? 0 : pick(r)), 0);
  return { processes: rows.length, rssMiB: sum((r) => r.rssMiB), pssMiB: sum((r) => r.pssMiB), cpuPct: sum((r) => r.cpuPct) };
}

/** A key per row that tells apart processes of the same role (the gateway nodes) by their order. */
function keyed(rows: Row[]): Map<string, Row> {
  const count = new Map<string, number>();
  const out = new Map<string, Row>();
  for (const row of rows) {
    const n = (count.get(row.role) ?? 0) + 1;
    count.set(row.role, n);
    out.set(`${row.role}#${n}`, row);
  }
  return out;
}

/** Per-process medians over the runs (pid from the last run) and the median of each run's totals. */
export function medianRows(runs: RunResult[]): { rows: Row[]; totals: Totals } {
  const perRun = runs.map((r) => keyed(r.rows));
  const keys = [...new Set(perRun.flatMap((m) => [...m.keys()]))];
  const rows = keys.map((key): Row => {
    const found = perRun.map((m) => m.get(key)).filter((r): r is Row => r !== undefined);
    const last = found[found.length - 1]!;
    return { role: last.role, pid: last.pid, rssMiB: median(found.map((r) => r.rssMiB)), pssMiB: median(found.map((r) => r.pssMiB)), cpuPct: median(found.map((r) => r.cpuPct)) };
  });
  const totals = runs.map((r) => totalsOf(r.rows));
  return {
    rows,
    totals: {
      processes: median(totals.map((t) => t.processes)),
      rssMiB: median(totals.map((t) => t.rssMiB)),
      pssMiB: median(totals.map((t) => t.pssMiB)),
      cpuPct: median(totals.map((t) => t.cpuPct)),
    },
  };
}

/** A markdown table: one line per process, then the total of the tree. */
export function renderTable(rows: Row[], options: { idleS: number; cpuS: number; totals?: Totals }): string {
  const totals = options.totals ?? totalsOf(rows);
  const cpu = (v: number): string => (Number.isNaN(v) ? "ended" : v.toFixed(2));
  const lines = [
    `| process | pid | RSS MiB (after ${options.idleS} s idle) | PSS MiB | idle CPU % (next ${options.cpuS} s) |`,
    "|---|---:|---:|---:|---:|",
    ...rows.map((r) => `| ${r.role} | ${r.pid} | ${r.rssMiB.toFixed(1)} | ${r.pssMiB.toFixed(1)} | ${cpu(r.cpuPct)} |`),
    `| **total: npm start's tree, ${totals.processes} processes** | | **${totals.rssMiB.toFixed(1)}** | **${totals.pssMiB.toFixed(1)}** | **${cpu(totals.cpuPct)}** |`,
  ];
  return `${lines.join("\n")}\n`;
}
