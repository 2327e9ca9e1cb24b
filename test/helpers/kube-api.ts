import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ApiRecorder, type RecordedCall } from "./api-recorder.ts";
import { authorize, DRIVER_ROLE, status, type AccessDecision, type PolicyRule } from "./kube-rbac.ts";

export { DRIVER_ROLE, status, withoutVerb, type AccessDecision, type PolicyRule } from "./kube-rbac.ts";

/** A pod of the fake Deployment. */
export interface FakePod {
  name: string;
  /** Ready condition. @defaultValue true */
  ready?: boolean;
  /** @defaultValue "Running" */
  phase?: string;
  /** @defaultValue 127.0.0.1 (so each pod's gateway admin API can be a server on loopback; ::1 is the other loopback address) */
  ip?: string;
  /** When the Ready condition last changed. @defaultValue 10 minutes ago */
  since?: string;
}

/**
 * A stand-in Kubernetes API server on loopback for the kubernetes fleet
 * driver's contract tests: a recorder that answers the few apps/v1 and
 * core/v1 routes the driver uses, keeps a little state (replicas, the
 * restartedAt annotation, the pods), and honours `dryRun=All` by changing
 * nothing. Like the real one it authenticates and authorizes every request
 * before routing it: without `Authorization: Bearer <token>` a 401, and a
 * verb the account's role lacks a 403 (dry runs included), each with the
 * Status body the real API server sends. Plus a kubeconfig file pointing at
 * it with that bearer token.
 */
export interface FakeKube {
  api: ApiRecorder;
  kubeconfig: string;
  token: string;
  /** The account the token stands for, as 403 messages name it. */
  user: string;
  /** What the account may do; change it to take a permission away mid-test. */
  role: PolicyRule[];
  /** Every request's verb and resource, and whether it was let through. */
  access: AccessDecision[];
  namespace: string;
  deployment: string;
  state: { replicas: number; restartedAt?: string; pods: FakePod[] };
  /** The kubernetes driver's settings for this cluster. */
  settings(extra?: Record<string, unknown>): Record<string, unknown>;
  /** Another kubeconfig for this cluster whose user has `token` (none: no credentials at all). */
  kubeconfigWith(token: string | undefined): string;
  stop(): Promise<void>;
}

export const KUBE_TOKEN = "kube-token-for-contract-tests";
const SELECTOR = { app: "pulseboard-gateway", tier: "edge" };

/**
 * Starts the stand-in. `role` is what the kubeconfig's account may do.
 * @defaultValue role: DRIVER_ROLE (exactly what the driver needs); user: the namespace's "pulseboard" service account
 */
export async function startFakeKube(options: { namespace?: string; deployment?: string; pods?: FakePod[]; role?: readonly PolicyRule[]; user?: string } = {}): Promise<FakeKube> {
  const namespace = options.namespace ?? "live";
  const deployment = options.deployment ?? "gateway";
  const pods = options.pods ?? [{ name: `${deployment}-7d9f-a` }, { name: `${deployment}-7d9f-b` }];
  const state: FakeKube["state"] = { replicas: pods.length, pods: [...pods] };
  const api = await ApiRecorder.start();
  const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-kube-"));
  let written = 0;
  const kubeconfigWith = (token: string | undefined) => {
    const file = path.join(dir, written++ === 0 ? "kubeconfig" : `kubeconfig-${written}`);
    writeFileSync(file, kubeconfigText(api.url(), token));
    return file;
  };
  const kubeconfig = kubeconfigWith(KUBE_TOKEN);
  const account = { token: KUBE_TOKEN, user: options.user ?? `system:serviceaccount:${namespace}:pulseboard`, role: structuredClone([...(options.role ?? DRIVER_ROLE)]) };
  const access: AccessDecision[] = [];
  api.guard((call) => authorize(call, account, access));

  const deploymentPath = `/apis/apps/v1/namespaces/${namespace}/deployments/${deployment}`;
  const dry = (call: RecordedCall) => call.query.dryRun === "All";
  const deploymentObject = () => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: deployment, namespace },
    spec: {
      replicas: state.replicas,
      selector: { matchLabels: SELECTOR },
      template: { metadata: { labels: SELECTOR, annotations: state.restartedAt ? { "kubectl.kubernetes.io/restartedAt": state.restartedAt } : {} } },
    },
  });

  api
    .on("GET", deploymentPath, () => ({ body: deploymentObject() }))
    .on("PATCH", deploymentPath, (call) => {
      const at = (call.json as any)?.spec?.template?.metadata?.annotations?.["kubectl.kubernetes.io/restartedAt"];
      if (!dry(call)) state.restartedAt = at;
      return { body: { ...deploymentObject(), ...(dry(call) ? { spec: { ...deploymentObject().spec, template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": at } } } } } : {}) } };
    })
    .on("PATCH", `${deploymentPath}/scale`, (call) => {
      const was = state.replicas;
      const replicas = (call.json as any)?.spec?.replicas;
      if (!dry(call)) state.replicas = replicas;
      return { body: { apiVersion: "autoscaling/v1", kind: "Scale", metadata: { name: deployment, namespace }, spec: { replicas }, status: { replicas: was, selector: "app=pulseboard-gateway,tier=edge" } } };
    })
    .on("GET", `/api/v1/namespaces/${namespace}/pods`, () => ({ body: { apiVersion: "v1", kind: "PodList", metadata: {}, items: state.pods.map((p) => podObject(p, namespace)) } }))
    .on("DELETE", new RegExp(`^/api/v1/namespaces/${namespace}/pods/([^/]+)$`), (call, match) => {
      const pod = state.pods.find((p) => p.name === match[1]);
      if (!pod) return { status: 404, body: status(404, "NotFound", `pods "${match[1]}" not found`, { name: match[1], kind: "pods" }) };
      if (!dry(call)) state.pods = state.pods.filter((p) => p !== pod);
      return { body: podObject(pod, namespace) };
    });

  return {
    api,
    kubeconfig,
    token: KUBE_TOKEN,
    user: account.user,
    get role() {
      return account.role;
    },
    set role(role: PolicyRule[]) {
      account.role = role;
    },
    access,
    namespace,
    deployment,
    state,
    settings: (extra = {}) => ({ namespace, deployment, kubeconfig, admin_token: "pod-admin-token-for-tests", ...extra }),
    kubeconfigWith,
    async stop() {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function kubeconfigText(server: string, token: string | undefined): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "  - name: contract",
    // The client refuses plain HTTP unless TLS checks are off; the stand-in speaks plain HTTP on loopback.
    `    cluster: { server: "${server}", insecure-skip-tls-verify: true }`,
    "users:",
    "  - name: pulseboard",
    token === undefined ? "    user: {}" : `    user: { token: ${token} }`,
    "contexts:",
    "  - name: contract",
    "    context: { cluster: contract, user: pulseboard }",
    "current-context: contract",
    "",
  ].join("\n");
}

function podObject(pod: FakePod, namespace: string) {
  const since = pod.since ?? new Date(Date.now() - 10 * 60_000).toISOString();
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: pod.name, namespace, labels: SELECTOR },
    status: {
      phase: pod.phase ?? "Running",
      podIP: pod.ip ?? "127.0.0.1",
      startTime: since,
      conditions: [{ type: "Ready", status: pod.ready === false ? "False" : "True", lastTransitionTime: since }],
    },
  };
}
