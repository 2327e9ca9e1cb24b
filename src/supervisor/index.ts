export { EmbeddedRedis, type EmbeddedRedisOptions } from "./embedded-redis.ts";
export { ChildSupervisor, type ChildSpec, type ReadyMessage } from "./children.ts";
export { ensureAdminToken } from "./admin-token.ts";
