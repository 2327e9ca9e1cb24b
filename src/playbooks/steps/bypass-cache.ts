import { cacheModeStep } from "./cache-mode.ts";

/**
 * Switches the gateway to bypass mode: node-local history and serials, so a
 * clogged cache no longer takes the realtime service down with it (degraded:
 * a client that reconnects to another node cannot resume).
 */
export default cacheModeStep("bypass-cache", "bypass", "switch the gateway to bypass mode (node-local history and fan-out)", "switch the gateway to bypass mode");
