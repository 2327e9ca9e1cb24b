/** The benchmark's table: one row per measured quantity, ours next to Socket.IO, with the goal it is held to. */
import type { ChurnOutcome, FanoutOutcome, HoldOutcome, HoldPlan } from "./phases.ts";
import { median } from "./shared.ts";

export interface Measured {
  plan: { fleetNodes: number; hold: { fleet: HoldPlan; single: HoldPlan } };
  holds: Record<string, Record<string, HoldOutcome>>;
  fanouts: Record<string, FanoutOutcome[]>;
  churns: ChurnOutcome[];
}

export interface Row {
  metric: string;
  ours: string;
  socketio: string;
  /** ours ÷ Socket.IO. */
  ratio: string;
  goal: string;
  met: "yes" | "no" | "";
  values: { ours: number | null; socketio: number | null };
}

/** The table's rows from everything measured; medians across runs where there were several. */
export function rows(m: Measured): Row[] {
  const out: Row[] = [];
  const n = m.plan.fleetNodes;
  const add = (metric: string, ours: number, socketio: number, format: (v: number) => string, goal = "", met?: boolean): void => {
    out.push({
      metric,
      ours: format(ours),
      socketio: format(socketio),
      ratio: Number.isFinite(ours / socketio) ? (ours / socketio).toFixed(2) : "-",
      goal,
      met: met === undefined ? "" : met ? "yes" : "no",
      values: { ours: finite(ours), socketio: finite(socketio) },
    });
  };
  const count = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString("en") : "-");
  const fixed = (digits: number, unit = "") => (v: number) => (Number.isFinite(v) ? `${v.toFixed(digits)}${unit}` : "-");

  for (const [size, nodes, plan] of [["fleet", n, m.plan.hold.fleet], ["single", 1, m.plan.hold.single]] as const) {
    const hold = m.holds[size] ?? {};
    const ours = hold.ours;
    const sio = hold.socketio;
    const where = nodes === 1 ? "1 node" : `${nodes} nodes`;
    add(`connections held, ${where} (of ${count(plan.clients)})`, ours?.held ?? NaN, sio?.held ?? NaN, count, `ours ≥ ${count(plan.clients)}`, (ours?.held ?? 0) >= plan.clients);
    add(`time to connect all, ${where}`, ours?.connectS ?? NaN, sio?.connectS ?? NaN, fixed(1, " s"));
    const mem = [ours?.kbPerConnection ?? NaN, sio?.kbPerConnection ?? NaN] as const;
    add(`memory per connection, ${where} (RSS)`, mem[0], mem[1], fixed(1, " KiB"), "ratio ≤ 0.70", mem[0] / mem[1] <= 0.7);
  }

  const fan = (system: string, pick: (f: FanoutOutcome) => number): number => median((m.fanouts[system] ?? []).map(pick));
  const deliveries = [fan("ours", (f) => f.deliveriesPerS), fan("socketio", (f) => f.deliveriesPerS)] as const;
  add("fan-out deliveries/s", deliveries[0], deliveries[1], count, "ratio ≥ 1.50", deliveries[0] / deliveries[1] >= 1.5);
  add("  publishes/s achieved", fan("ours", (f) => f.publishesPerS), fan("socketio", (f) => f.publishesPerS), count);
  add("  delivered ÷ expected", fan("ours", (f) => f.delivered * 100), fan("socketio", (f) => f.delivered * 100), fixed(2, "%"));
  add("  server CPU, cores (Redis not counted)", fan("ours", (f) => f.cpu.servers), fan("socketio", (f) => f.cpu.servers), fixed(2));
  add("  deliveries per server CPU-second", fan("ours", (f) => f.deliveriesPerS / f.cpu.servers), fan("socketio", (f) => f.deliveriesPerS / f.cpu.servers), count);
  add("publish → deliver latency p50", fan("ours", (f) => f.p50Ms), fan("socketio", (f) => f.p50Ms), fixed(1, " ms"));
  const p99 = [fan("ours", (f) => f.p99Ms), fan("socketio", (f) => f.p99Ms)] as const;
  add("publish → deliver latency p99", p99[0], p99[1], fixed(1, " ms"), "ratio ≤ 1.00", p99[0] / p99[1] <= 1);

  const total = (pick: (c: ChurnOutcome) => number): number => m.churns.reduce((a, c) => a + pick(c), 0);
  const lost = total((c) => c.lost);
  const duplicated = total((c) => c.duplicated);
  const outOfOrder = total((c) => c.outOfOrder);
  const runs = m.churns.length;
  out.push({
    metric: `resume under churn: lost / duplicated / out of order (sum of ${runs} run${runs === 1 ? "" : "s"}, ${count(total((c) => c.resumes))} resumes)`,
    ours: `${lost} / ${duplicated} / ${outOfOrder}`,
    socketio: "n/a (no recovery)",
    ratio: "-",
    goal: "0 lost, 0 duplicated",
    met: runs > 0 && lost === 0 && duplicated === 0 ? "yes" : "no",
    values: { ours: lost + duplicated + outOfOrder, socketio: null },
  });
  const share = median(m.churns.map((c) => c.recoveredShare * 100));
  out.push({
    metric: "resume under churn: resumes that said recovered:true",
    ours: Number.isFinite(share) ? `${share.toFixed(1)}%` : "-",
    socketio: "n/a (no recovery)",
    ratio: "-",
    goal: "",
    met: "",
    values: { ours: finite(share), socketio: null },
  });
  return out;
}

/** A plain-text table, columns padded to their widest cell. */
export function formatTable(table: Row[]): string {
  const header = ["metric", "ours", "Socket.IO", "ratio", "goal", "met"];
  const cells = table.map((r) => [r.metric, r.ours, r.socketio, r.ratio, r.goal, r.met]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((cell, i) => (i === 0 || i >= 4 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}

function finite(v: number): number | null {
  return Number.isFinite(v) ? Math.round(v * 1000) / 1000 : null;
}
