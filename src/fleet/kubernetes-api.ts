import type { V1LabelSelector, V1Pod } from "@kubernetes/client-node";
import { describeError } from "../core/index.ts";
import { FleetError, FleetPermissionError, FleetUpstreamError, FleetValidationError } from "./errors.ts";

/** One API request as RBAC sees it, so a refusal can name the permission that is missing. */
export interface KubeOperation {
  verb: "get" | "list" | "patch" | "delete";
  /** RBAC resource, with its subresource: `deployments/scale`, `pods`. */
  resource: string;
  /** API group: "apps", or "" for the core group. */
  group: string;
  namespace: string;
  name?: string;
}

/**
 * Turns what the client threw into a FleetError naming the resource and the
 * API server's own message; a 403 names the verb and resource to grant.
 */
export function kubeError(err: unknown, op: KubeOperation, at: { server: string; signal: AbortSignal; notFound?: () => FleetError }): FleetError {
  if (err instanceof FleetError) return err;
  const { server, signal } = at;
  const what = describeOperation(op);
  const status = (err as { code?: unknown }).code;
  if (typeof status !== "number") {
    if (signal.aborted) return new FleetUpstreamError(`the Kubernetes API server at ${server} did not answer (${op.verb} ${what}) before the deadline`, { cause: err });
    return new FleetUpstreamError(`could not reach the Kubernetes API server at ${server} to ${op.verb} ${what}: ${describeError(err)}`, { cause: err });
  }
  const said = serverMessage((err as { body?: unknown }).body);
  const tail = said ? `: ${said}` : "";
  if (status === 401) {
    return new FleetPermissionError(`the Kubernetes API server at ${server} did not accept our credentials (401) to ${op.verb} ${what}: check the kubeconfig's user or the service account token${tail}`);
  }
  if (status === 403) {
    const group = op.group ? `API group "${op.group}"` : "the core API group";
    return new FleetPermissionError(
      `the Kubernetes API server refused to ${op.verb} ${what} (403 Forbidden): grant the "${op.verb}" verb on "${op.resource}" (${group}) in namespace "${op.namespace}" to the account Pulseboard uses${tail}`,
    );
  }
  if (status === 404) return at.notFound?.() ?? new FleetValidationError(`${capitalize(what)} was not found (404)${tail}`);
  if (status === 429 || status >= 500) return new FleetUpstreamError(`the Kubernetes API server answered ${status} to ${op.verb} ${what}${tail}`);
  return new FleetValidationError(`the Kubernetes API server rejected the ${op.verb} of ${what} (${status})${tail}`);
}

/** `deployment "gateway" in namespace "live"`, `pods in namespace "live"`. */
export function describeOperation(op: KubeOperation): string {
  const kind = op.resource.split("/");
  const singular = kind[0]!.replace(/s$/, "");
  const sub = kind[1] ? ` ${kind[1]} of` : "";
  const object = op.name ? `${sub} ${singular} "${op.name}"` : ` ${kind[0]}`;
  return `${object.trim()} in namespace "${op.namespace}"`;
}

/** A label selector as the list API takes it (`app=gateway,tier in (edge)`). */
export function selectorString(selector: V1LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`);
  for (const expr of selector?.matchExpressions ?? []) {
    const values = (expr.values ?? []).join(",");
    if (expr.operator === "In") parts.push(`${expr.key} in (${values})`);
    else if (expr.operator === "NotIn") parts.push(`${expr.key} notin (${values})`);
    else if (expr.operator === "Exists") parts.push(expr.key);
    else if (expr.operator === "DoesNotExist") parts.push(`!${expr.key}`);
  }
  return parts.join(",");
}

/** A Ready=False pod younger than this is still starting, not failing. */
const NOT_READY_GRACE_MS = 60_000;

/** The pod's state in the fleet's words: ready, starting, draining, unresponsive, stopped. */
export function podState(pod: V1Pod, now = Date.now()): string {
  if (pod.metadata?.deletionTimestamp) return "draining";
  const phase = pod.status?.phase;
  if (phase === "Pending") return "starting";
  if (phase === "Succeeded" || phase === "Failed") return "stopped";
  if (phase !== "Running") return (phase ?? "unknown").toLowerCase();
  const ready = pod.status?.conditions?.find((c) => c.type === "Ready");
  if (ready?.status === "True") return "ready";
  const since = toTime(ready?.lastTransitionTime ?? pod.status?.startTime);
  return since !== undefined && now - since > NOT_READY_GRACE_MS ? "unresponsive" : "starting";
}

/** The time the RFC 3339 timestamp (a Date once deserialized) stands for. */
function toTime(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = typeof value === "string" ? Date.parse(value) : value.getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

/** The `message` of a Kubernetes Status body (the body arrives as text), else its first 200 characters. */
function serverMessage(body: unknown): string {
  let parsed = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.replace(/\s+/g, " ").trim().slice(0, 200);
    }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message;
  if (typeof message === "string") return message.slice(0, 500);
  return parsed === undefined ? "" : JSON.stringify(parsed).slice(0, 200);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
