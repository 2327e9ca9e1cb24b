import { cacheModeStep } from "./cache-mode.ts";

/** Switches the gateway back to the cache (normal mode). */
export default cacheModeStep("restore-cache", "normal", "switch the gateway back to its cache (normal mode)", "switch the gateway back to its cache");
