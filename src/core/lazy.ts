import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/**
 * A CommonJS package loaded the first time it is used rather than when the
 * module naming it loads. Every role loads the probe kinds, channel kinds and
 * the config machinery to validate pulseboard.yaml; with this, a process that
 * never speaks MQTT or Socket.IO, never mails and never opens Redis does not
 * hold those clients (some 10 MiB each at idle). It is the same module
 * instance a static `import` of the package gets.
 */
export function lazyPackage<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}

/**
 * V8's memory-for-speed trade (no optimizing compiler, lazy feedback) for
 * processes that relay little: `start` and the gateway's primary, never the
 * nodes, web or core. Wasm off too: lite mode turns it off, and V8 would
 * print a warning line saying so.
 */
export const LITE_MODE_FLAGS: readonly string[] = ["--lite-mode", "--no-expose-wasm"];
