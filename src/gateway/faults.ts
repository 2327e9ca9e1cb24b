// Kept apart from the node so the fleet's primary can name faults without loading the node (ws, the Redis broker).

/** A fault to inject (only when the node was started with faults enabled). */
export type Fault =
  | { fault: "freeze"; ms: number }
  | { fault: "lock-safeguard"; ms: number }
  | { fault: "slow-handshake"; ms: number; delayMs: number }
  | { fault: "drop-publishes"; ms: number }
  | { fault: "clear" };

/** Fault injection was asked for on a gateway started without it. */
export class FaultsDisabled extends Error {
  constructor() {
    super("fault injection is disabled on this gateway (set gateway.faults: true or GATEWAY_FAULTS=1)");
    this.name = "FaultsDisabled";
  }
}
