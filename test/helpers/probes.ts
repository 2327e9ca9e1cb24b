import net from "node:net";
import { runProbe, type PlatformTargets, type ProbeResult } from "../../src/probe-runtime/index.ts";
import { probeRegistry, testLog } from "./config.ts";
import { waitFor } from "./wait.ts";

/** How one test run of a probe kind is set up. */
export interface KindRun {
  targets: PlatformTargets;
  /** @defaultValue 2000 */
  timeoutMs?: number;
  /** The probe id; kinds keep state per probe id, so tests that must not share it pass their own. @defaultValue the kind */
  probe?: string;
  degradedOverMs?: number;
}

/**
 * Runs a probe kind the way an agent does: `settings` parsed by the kind's
 * schema (as `with:` in pulseboard.yaml would be), then runProbe with its
 * hard deadline.
 */
export async function runKind(kind: string, settings: Record<string, unknown>, run: KindRun): Promise<ProbeResult> {
  const probe = (await probeRegistry()).get(kind);
  if (!probe) throw new Error(`no probe kind "${kind}" in probes/`);
  return runProbe(probe, probe.configSchema.parse(settings), {
    probe: run.probe ?? kind,
    location: "local",
    timeoutMs: run.timeoutMs ?? 2_000,
    degradedOverMs: run.degradedOverMs,
    targets: run.targets,
    log: testLog(),
  });
}

/** Counts of this process's active handles and requests by type (sockets, servers, timers, …). */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/**
 * Waits until no type of active resource is above `baseline` (sockets of the
 * far side and the gateway's own short timers take a moment to go), and
 * fails naming what is still there.
 */
export async function expectNoLeak(baseline: Map<string, number>, timeoutMs = 5_000): Promise<void> {
  const excess = (): string[] =>
    [...activeResources()].filter(([type, count]) => count > (baseline.get(type) ?? 0)).map(([type, count]) => `${type}: ${count} (baseline ${baseline.get(type) ?? 0})`);
  try {
    await waitFor("active resources to return to the baseline", () => excess().length === 0, timeoutMs, 50);
  } catch {
    throw new Error(`resources leaked: ${excess().join(", ")}; TCP sockets open: ${openTcpSockets().join(" ") || "none"}`);
  }
}

/** This process's open TCP sockets as local→remote ports, to tell whose a leaked one is. */
function openTcpSockets(): string[] {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((h): h is net.Socket => h instanceof net.Socket && h.remotePort !== undefined).map((s) => `${s.localPort}→${s.remotePort}`);
}
