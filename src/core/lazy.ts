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
