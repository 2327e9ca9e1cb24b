import type { Config } from "../../config/index.ts";
import type { Incident, StatusContext } from "../../status/index.ts";
import type { PlaybookAdmin } from "../admin-playbooks.ts";
import { probeSummary } from "../probe-reads.ts";
import { runRow } from "./playbook-views.ts";
import { probeRow } from "./probe-views.ts";

/** How far back the incident page looks for the playbook runs that posted to it. */
const RUNS_LOOKED_AT = 200;

/**
 * What on-call sees beside an incident's timelines and customers never do:
 * the latest result of every probe feeding its components, per location,
 * and the playbook runs that acted on it (with their state and step now).
 */
export async function incidentDetails(config: Config, status: StatusContext, playbooks: PlaybookAdmin | undefined, incident: Incident) {
  const ids = Object.keys(incident.components);
  const feeding = config.probes.filter((p) => p.enabled && p.components.some((c) => ids.includes(c)));
  const paused = await status.store.pausedProbes();
  // Where no playbook is configured, the page says nothing of them.
  const withPlaybooks = playbooks !== undefined && config.playbooks.length > 0;
  const [probes, runs] = await Promise.all([
    Promise.all(feeding.map(async (probe) => probeRow(await probeSummary(status, probe, paused), config))),
    withPlaybooks ? playbooks!.runs({ limit: RUNS_LOOKED_AT }).then((all) => all.filter((r) => r.incident === incident.id)) : Promise.resolve([]),
  ]);
  return { probes, playbooks: withPlaybooks, runs: runs.map(runRow) };
}
