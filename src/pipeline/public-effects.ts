import type { Config } from "../config/index.ts";
import type { AffectedNow, ComponentStatus, StatusContext } from "../status/index.ts";

/**
 * What a failing probe of each kind means to the people using the component,
 * in plain words (`{name}` is the component). A kind not listed here says
 * nothing of its own: the component's status wording is used.
 */
const KIND_EFFECTS: Record<string, { down: string; degraded: string }> = {
  websocket: { down: "New connections to {name} are failing.", degraded: "Connecting to {name} is slower than usual." },
  safeguard: { down: "{name} is turning new connections away.", degraded: "Some new connections to {name} are being turned away." },
  surge: { down: "{name} cannot take on new connections under load.", degraded: "{name} is slow to take on new connections under load." },
  pubsub: { down: "Messages sent through {name} are not arriving.", degraded: "Messages sent through {name} are delayed." },
  resume: { down: "People who reconnect to {name} may miss messages.", degraded: "Reconnecting to {name} is slower than usual." },
  sse: { down: "Live updates from {name} are not arriving.", degraded: "Live updates from {name} are delayed." },
  http: { down: "{name} is not responding.", degraded: "{name} is responding slowly." },
  redis: { down: "{name} is not responding.", degraded: "{name} is responding slowly." },
};

const SEVERITY = { up: 0, degraded: 1, down: 2 } as const;

/**
 * The affected components as the public wording needs them: each with its
 * status and the effect its worst failing probe names (read from the probes'
 * states now, so it says what is wrong, not what was first).
 */
export async function affectedNow(config: Pick<Config, "probes">, status: StatusContext, components: Record<string, ComponentStatus>): Promise<AffectedNow[]> {
  const ids = Object.keys(components);
  const feeding = config.probes.filter((p) => p.enabled && p.components.some((c) => ids.includes(c)));
  const states = await status.store.probeStatesOf(feeding.map((p) => p.id));
  return ids.map((id) => {
    let worst: { severity: number; kind?: string; state?: "down" | "degraded" } = { severity: 0 };
    for (const probe of feeding.filter((p) => p.components.includes(id))) {
      for (const location of states.get(probe.id)?.values() ?? []) {
        const severity = SEVERITY[location.state];
        if (severity > worst.severity && location.state !== "up") worst = { severity, kind: probe.kind, state: location.state };
      }
    }
    const effect = worst.kind && worst.state ? KIND_EFFECTS[worst.kind]?.[worst.state] : undefined;
    return { id, status: components[id]!, ...(effect ? { effect } : {}) };
  });
}
