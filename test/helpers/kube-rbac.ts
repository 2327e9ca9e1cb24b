import type { RecordedCall, RouteAnswer } from "./api-recorder.ts";

/** One rule of an RBAC Role, as a Role's `rules` write it; "*" matches anything. */
export interface PolicyRule {
  /** "" is the core group (pods), "apps" the group of deployments. */
  apiGroups: string[];
  /** With the subresource where there is one: "deployments/scale". */
  resources: string[];
  verbs: string[];
}

/**
 * Exactly what the kubernetes fleet driver calls, and what pulseboard.yaml
 * tells users to grant: get and patch deployments, patch deployments/scale,
 * list and delete pods.
 */
export const DRIVER_ROLE: readonly PolicyRule[] = [
  { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "patch"] },
  { apiGroups: ["apps"], resources: ["deployments/scale"], verbs: ["patch"] },
  { apiGroups: [""], resources: ["pods"], verbs: ["list", "delete"] },
];

/** A request as the API server's authorizer sees it (k8s.io/apiserver RequestInfo). */
export interface RequestAttributes {
  verb: string;
  group: string;
  /** With the subresource: "deployments/scale". */
  resource: string;
  namespace?: string;
  name?: string;
  /** Set for a request that is not for a resource (/version, /healthz). */
  path?: string;
}

/** What the stand-in decided for one request, for tests that check which permissions were used. */
export interface AccessDecision extends RequestAttributes {
  decision: "allowed" | "unauthorized" | "forbidden";
}

/** The role without `verb` on `resource`: the account an admin forgot to grant one permission to. */
export function withoutVerb(role: readonly PolicyRule[], resource: string, verb: string): PolicyRule[] {
  return role.map((rule) => (rule.resources.includes(resource) ? { ...rule, verbs: rule.verbs.filter((v) => v !== verb) } : { ...rule }));
}

/**
 * The verb and resource of a request the way the API server derives them:
 * GET of a collection is list (watch with ?watch), GET of a name is get,
 * POST create, PUT update, PATCH patch, DELETE of a name delete, of a
 * collection deletecollection.
 */
export function requestAttributes(call: Pick<RecordedCall, "method" | "pathname" | "query">): RequestAttributes {
  const parts = call.pathname.split("/").filter(Boolean);
  const resourceRequest = (parts[0] === "api" && parts.length >= 3) || (parts[0] === "apis" && parts.length >= 4);
  if (!resourceRequest) return { verb: call.method.toLowerCase(), group: "", resource: "", path: call.pathname };
  const group = parts[0] === "api" ? "" : parts[1]!;
  let rest = parts.slice(parts[0] === "api" ? 2 : 3);
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource] = rest as [string, string | undefined, string | undefined];
  return { verb: verbOf(call.method, name !== undefined, call.query.watch === "true"), group, resource: subresource ? `${resource}/${subresource}` : resource, namespace, name };
}

function verbOf(method: string, named: boolean, watch: boolean): string {
  switch (method) {
    case "GET":
    case "HEAD":
      return named ? "get" : watch ? "watch" : "list";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return named ? "delete" : "deletecollection";
    default:
      return method.toLowerCase();
  }
}

/** Whether one rule of `role` allows the request. */
export function allows(role: readonly PolicyRule[], request: RequestAttributes): boolean {
  if (request.path !== undefined) return false;
  const has = (list: string[], value: string) => list.includes("*") || list.includes(value);
  return role.some((rule) => has(rule.apiGroups, request.group) && has(rule.resources, request.resource) && has(rule.verbs, request.verb));
}

/**
 * Authentication, then RBAC, as the API server does them before it routes:
 * undefined to let the request through, else the 401 or 403 it would answer.
 */
export function authorize(call: RecordedCall, account: { token: string; user: string; role: readonly PolicyRule[] }, log: AccessDecision[]): RouteAnswer | undefined {
  const request = requestAttributes(call);
  const [scheme, token] = (call.headers.authorization ?? "").split(" ");
  if (scheme?.toLowerCase() !== "bearer" || token !== account.token) {
    log.push({ ...request, decision: "unauthorized" });
    return { status: 401, body: status(401, "Unauthorized", "Unauthorized") };
  }
  if (!allows(account.role, request)) {
    log.push({ ...request, decision: "forbidden" });
    return { status: 403, body: forbidden(request, account.user) };
  }
  log.push({ ...request, decision: "allowed" });
  return undefined;
}

/** The 403 Status the API server sends, worded as k8s.io/apiserver's forbiddenMessage and NewForbidden word it. */
export function forbidden(request: RequestAttributes, user: string) {
  if (request.path !== undefined) return status(403, "Forbidden", `forbidden: User "${user}" cannot ${request.verb} path "${request.path}"`);
  const scope = request.namespace ? `in the namespace "${request.namespace}"` : "at the cluster scope";
  const why = `User "${user}" cannot ${request.verb} resource "${request.resource}" in API group "${request.group}" ${scope}`;
  // The qualified resource names the resource without its subresource: deployments.apps, pods.
  const base = request.resource.split("/")[0]!;
  const qualified = request.group ? `${base}.${request.group}` : base;
  const message = request.name ? `${qualified} "${request.name}" is forbidden: ${why}` : `${qualified} is forbidden: ${why}`;
  return status(403, "Forbidden", message, { ...(request.name ? { name: request.name } : {}), ...(request.group ? { group: request.group } : {}), kind: base });
}

/** A Kubernetes Status body, as the API server sends with every failure. */
export function status(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code };
}
