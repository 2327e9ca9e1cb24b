export { startRemoteAgent, type RemoteAgent, type RemoteAgentOptions } from "./agent.ts";
export { remoteAgentSettings, type RemoteAgentArgs, type RemoteAgentSettings, type TokenOrigin, type ProxyEnv } from "./settings.ts";
export { AgentClient, type AgentClientOptions, type ConfigAnswer, type PushAnswer, type PushBody } from "./client.ts";
export { AgentRequestError, type RejectedResult } from "./errors.ts";
export { ResultBuffer, type BufferedResult } from "./buffer.ts";
export { createTransport, proxyFor, type Transport } from "./transport.ts";
