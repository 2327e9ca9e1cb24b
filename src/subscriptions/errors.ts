import { PulseboardError } from "../core/index.ts";

/** A link that was valid once: its confirmation window is over (HTTP 410). */
export class LinkExpiredError extends PulseboardError {
  constructor(message: string) {
    super("link_expired", message);
  }
}
