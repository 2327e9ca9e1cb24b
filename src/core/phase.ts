/**
 * Where in each interval a probe runs, in ms from the interval's start: a
 * hash of its id, so the probes of a config are spread over the interval
 * instead of all falling due in the instant the schedules were synced, and a
 * probe keeps its phase across syncs, restarts and agents (the scheduler's
 * BullMQ job schedulers and a remote agent's own timers alike).
 */
export function phaseOf(probe: string, every: number): number {
  // FNV-1a: cheap and evenly spread over short ids.
  let hash = 0x811c9dc5;
  for (let i = 0; i < probe.length; i++) hash = Math.imul(hash ^ probe.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % every;
}
