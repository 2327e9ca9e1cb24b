import type { ProtocolName } from "../../../src/probe-runtime/realtime/index.ts";

/**
 * A real broker started for one test suite, as the realtime-client
 * conformance suite (test/integration/realtime-conformance.test.ts) drives
 * every adapter: one harness per protocol, each in its own file here.
 */
export interface BrokerHarness {
  protocol: ProtocolName;
  /**
   * What a probe's `with:` needs to reach the broker as a healthy client:
   * `protocol`, `url`, `auth`, the protocol's own block. The suite adds
   * `channel` and the kind's own fields.
   */
  settings: Record<string, unknown>;
  /** One URL per node when the broker has several (cross-node delivery goes through them); absent for a single broker. */
  nodes?: string[];
  /** `settings` with a wrong credential, and what its failure must say; absent where the broker checks none. */
  wrongAuth?: { settings: Record<string, unknown>; phase: string; error: RegExp };
  /** Whether the resume kind runs on it (and must pass). */
  resume: boolean;
  /** SIGKILLs the broker (every node): a run afterwards must fail in its connect phase. */
  kill(): Promise<void>;
  /** Stops everything it started; safe after kill(). */
  stop(): Promise<void>;
}
