export * from "./types.ts";
export { runProbe, type RunOptions } from "./run.ts";
export { ProbeRegistry, PROBES_DIR } from "./registry.ts";
