import { PulseboardError } from "../core/index.ts";

/**
 * A fleet action that failed. `retryable` says whether trying the same call
 * again can help (a platform that did not answer) or not (a node that does
 * not exist, a permission that is missing): a playbook step turns the latter
 * into an UnrecoverableError.
 */
export class FleetError extends PulseboardError {
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { retryable: boolean; cause?: unknown }) {
    super(code, message, { cause: options.cause });
    this.retryable = options.retryable;
  }
}

/** The node named in a restart is not part of the fleet. */
export class FleetNodeNotFound extends FleetError {
  readonly node: string;

  constructor(node: string, known: string[]) {
    const list = known.length > 0 ? known.join(", ") : "none";
    super("fleet_node_not_found", `the fleet has no node "${node}" (nodes: ${list})`, { retryable: false });
    this.node = node;
  }
}

/** The order itself is wrong (replicas out of bounds, a platform that rejected the object). */
export class FleetValidationError extends FleetError {
  constructor(message: string) {
    super("fleet_invalid", message, { retryable: false });
  }
}

/** The platform refused our credentials or lacks a permission; the message says which. */
export class FleetPermissionError extends FleetError {
  constructor(message: string) {
    super("fleet_forbidden", message, { retryable: false });
  }
}

/** The platform did not answer, or answered with a failure of its own (5xx, connection refused, deadline). */
export class FleetUpstreamError extends FleetError {
  constructor(message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super("fleet_upstream_failed", message, { retryable: options.retryable ?? true, cause: options.cause });
  }
}

/** The driver's settings cannot work (a kubeconfig that does not load, a context that does not exist). */
export class FleetConfigError extends FleetError {
  constructor(message: string) {
    super("fleet_config_invalid", message, { retryable: false });
  }
}
