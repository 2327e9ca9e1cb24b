export { runStart } from "./start.ts";
export { runWeb } from "./web.ts";
export { runWorker } from "./worker.ts";
export { runAgent } from "./agent.ts";
export { runScheduler } from "./scheduler.ts";
export { runCore } from "./core.ts";
export { runGateway } from "./gateway.ts";
export type { Role, RoleContext } from "./context.ts";
