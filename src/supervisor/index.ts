export { EmbeddedRedis, embeddedRedisDir, embeddedRedisUrl, HOLD_DOWN_FILE, holdDownUntil, pingOnce, type EmbeddedRedisOptions } from "./embedded-redis.ts";
export { ChildSupervisor, type ChildSpec, type ReadyMessage } from "./children.ts";
export { ensureToken } from "./admin-token.ts";
export { watchParent } from "./parent-watch.ts";
