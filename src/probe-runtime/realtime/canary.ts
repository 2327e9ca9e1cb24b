import { ProbeFailure } from "../types.ts";
import { echo, openClient, within } from "./messaging.ts";
import type { RealtimeSettings } from "./settings.ts";
import { untimed, type ConnectTarget, type RealtimeClient } from "./types.ts";

/**
 * Long-lived canary connections, one per probe, location and node: opened
 * once, subscribed, and made to echo on every run. A canary that still
 * echoes while every fresh connection is refused is the safeguard lock-up's
 * signature (existing clients fine, nobody new gets in). A canary is kept
 * across runs (its own signal, not the run's) and closed once no run has
 * used it for `IDLE_MS`, so a probe removed from config leaves nothing open.
 */

/** How long an unused canary stays open. */
const IDLE_MS = 5 * 60_000;

/** What this run learnt from a node's canary. */
export interface CanaryCheck {
  /** The canary echoed this run. */
  ok: boolean;
  /** The canary was (re)opened this run: it says less about the broker's older clients. */
  fresh: boolean;
  /** Echo round trip when it worked. */
  ms?: number;
  /** Why not, when it did not. */
  error?: string;
  /** The canary itself, when it is connected (for load questions). */
  client?: RealtimeClient;
}

interface Canary {
  client?: RealtimeClient;
  stop: AbortController;
  idle?: NodeJS.Timeout;
}

const canaries = new Map<string, Canary>();

/**
 * Echoes through the canary of (`key`, `target`), opening it first when it
 * is missing or broken; the channel is the canary's own. Never throws: what
 * went wrong is in the answer.
 */
export async function checkCanary(key: string, settings: RealtimeSettings, target: ConnectTarget, channel: string, ms: number): Promise<CanaryCheck> {
  const id = `${key}|${target.url}|${channel}`;
  let canary = canaries.get(id);
  const broken = canary?.client?.failure;
  if (canary && broken) {
    // Said once; the next run opens a new canary.
    retire(id, canary);
    return { ok: false, fresh: false, error: `the canary stopped echoing: its connection broke (${broken.message})` };
  }
  let fresh = false;
  const started = performance.now();
  if (!canary?.client) {
    fresh = true;
    const stop = new AbortController();
    canary = { stop };
    canaries.set(id, canary);
    try {
      // The canary lives by its own signal, not the run's: the run only bounds how long it waits for it.
      const opening = openClient(settings, target, { signal: stop.signal, phase: untimed });
      opening.catch(() => {});
      const client = await within(opening, ms);
      if (!client) throw new ProbeFailure(`no handshake within ${Math.round(ms)} ms`);
      canary.client = client;
      if (settings.adapter.capabilities.channels) {
        const subscribing = client.subscribe(channel);
        subscribing.catch(() => {});
        if (!(await within(subscribing, ms - (performance.now() - started)))) throw new ProbeFailure(`${client.where} did not confirm the subscription to ${channel}`);
      }
    } catch (err) {
      retire(id, canary);
      return { ok: false, fresh, error: `the canary could not connect: ${(err as Error).message}` };
    }
  }
  keepAlive(id, canary);
  try {
    const left = ms - (performance.now() - started);
    if (left <= 0) throw new ProbeFailure(`no time left to echo after connecting`);
    const took = await echo(canary.client!, channel, left);
    return { ok: true, fresh, ms: took, client: canary.client };
  } catch (err) {
    const error = `the canary stopped echoing: ${(err as Error).message}`;
    retire(id, canary);
    return { ok: false, fresh, error };
  }
}

/** Closes every canary (tests, and an agent stopping). */
export function closeCanaries(): void {
  for (const [id, canary] of canaries) retire(id, canary);
}

function keepAlive(id: string, canary: Canary): void {
  clearTimeout(canary.idle);
  canary.idle = setTimeout(() => retire(id, canary), IDLE_MS).unref();
}

function retire(id: string, canary: Canary): void {
  clearTimeout(canary.idle);
  canary.stop.abort();
  canary.client?.close();
  if (canaries.get(id) === canary) canaries.delete(id);
}
