export * from "./errors.ts";
export * from "./logger.ts";
export * from "./ids.ts";
export * from "./redis.ts";
export * from "./shutdown.ts";
export * from "./system.ts";
export * from "./tokens.ts";
export * from "./paths.ts";
