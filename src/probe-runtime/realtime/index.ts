export * from "./types.ts";
export { PROTOCOLS, adapters, isProtocol, type ProtocolName } from "./registry.ts";
export { realtimeSettings, type RealtimeSettings } from "./settings.ts";
export { connectionShape, type ConnectionSettings } from "./connection.ts";
export { describeTarget, phaseName } from "./transport.ts";
export {
  answeringOf,
  brokerNodes,
  echo,
  collectDeliveries,
  deliveredId,
  isResumable,
  openClient,
  publishBatch,
  realtimeChannelSetting,
  RunClients,
  runPayload,
  runSeq,
  within,
  type Published,
} from "./messaging.ts";
export { BrokerRefused, ClientBase, parsePayload, refusalOf } from "./client-base.ts";
export { checkCanary, closeCanaries, type CanaryCheck } from "./canary.ts";
export { anyUrlSetting } from "./connection.ts";
export { attemptConnection, describeAttempt, type Attempt } from "./attempt.ts";
