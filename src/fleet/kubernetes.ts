import { isIPv6 } from "node:net";
import type { ConfigurationOptions, V1Pod } from "@kubernetes/client-node";
import { z } from "zod";
import { describeError } from "../core/index.ts";
import { FleetConfigError, FleetError, FleetNodeNotFound, FleetUpstreamError } from "./errors.ts";
import { GatewayAdminClient, type AdminStats } from "./gateway-admin.ts";
import { kubeError, podState, selectorString, type KubeOperation } from "./kubernetes-api.ts";
import type { KubeClients } from "./kubernetes-client.ts";
import { checkReplicaLimits, checkReplicas, NOTHING_CHANGED, plural, replicaLimits, tokenSetting } from "./settings.ts";
import { defineFleetDriver, type ActionOutcome, type CacheMode, type DriverCall, type FleetDriver, type FleetNode, type FleetStats, type RestartTarget } from "./types.ts";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** The annotation `kubectl rollout restart` sets on the pod template. */
const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";
/** Patch types, as kubectl sends them: merge for the scale subresource, strategic merge for the pod template. */
const MERGE_PATCH = "application/merge-patch+json";
const STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json";
/** A pod's admin API gets this long to answer, so one stuck pod does not eat a step's whole deadline. */
const POD_ADMIN_TIMEOUT_MS = 3_000;

const configSchema = z
  .strictObject({
    namespace: z.string({ error: "expected the namespace of the gateway's Deployment" }).max(63).regex(DNS_LABEL, { error: "expected a namespace name like \"live\"" }),
    deployment: z.string({ error: "expected the name of the gateway's Deployment" }).max(253).regex(DNS_SUBDOMAIN, { error: "expected a Deployment name like \"gateway\"" }),
    /** Which pods are the fleet's nodes. @defaultValue the Deployment's own selector */
    label_selector: z.string().min(1).optional(),
    /** Port of the gateway admin API in each pod (its admin_host must not be loopback). @defaultValue 4100 */
    admin_port: z.number().int().min(1).max(65535).default(4100),
    /** Bearer token of the pods' admin API. @defaultValue gateway.admin_token */
    admin_token: tokenSetting.optional(),
    /** Path of a kubeconfig file. @defaultValue the pod's service account in a cluster, else KUBECONFIG or ~/.kube/config */
    kubeconfig: z.string().min(1).optional(),
    /** Context of the kubeconfig to use. @defaultValue its current-context */
    context: z.string().min(1).optional(),
    ...replicaLimits,
  })
  .superRefine(checkReplicaLimits);

type KubernetesSettings = z.output<typeof configSchema>;

/**
 * A gateway Deployment in Kubernetes: scale through the scale subresource,
 * rolling restart the way `kubectl rollout restart` does, restart one node
 * by deleting its pod, cache mode through each pod's gateway admin API. In
 * a dry run every mutating request carries `dryRun=All`, so the API server
 * checks it (permissions included) without acting.
 */
export default defineFleetDriver({
  kind: "kubernetes",
  description: "a gateway Deployment in Kubernetes",
  configSchema,
  create(settings, ctx): FleetDriver {
    // The client library and the kubeconfig load on first use; a kubeconfig that cannot work is a FleetConfigError then.
    let clients: Promise<KubeClients> | undefined;
    const connect = () => (clients ??= import("./kubernetes-client.ts").then((m) => m.connect(settings, ctx.inCluster ?? false)));
    return new KubernetesFleet(connect, settings, settings.admin_token ?? ctx.gatewayAdmin?.token);
  },
});

interface PodView {
  pod: V1Pod;
  node: FleetNode;
  stats?: AdminStats;
}

class KubernetesFleet implements FleetDriver {
  readonly kind = "kubernetes";
  private selector?: string;

  constructor(
    private readonly connect: () => Promise<KubeClients>,
    private readonly settings: KubernetesSettings,
    private readonly adminToken: string | undefined,
  ) {}

  async nodes(call: DriverCall): Promise<FleetNode[]> {
    return (await this.pods(call)).map(toNode);
  }

  async stats(call: DriverCall): Promise<FleetStats> {
    const views = await this.podViews(call);
    const nodes = views.map((v) => v.node);
    const limits = views.map((v) => (v.stats ? sum(v.stats.nodes.map((n) => n.stats?.safeguard.limit ?? 0)) : undefined));
    const modes = new Set(views.flatMap((v) => (v.stats ? [v.stats.mode] : [])));
    return {
      nodes,
      connections: sum(nodes.map((n) => n.connections ?? 0)),
      limit: limits.every((l) => l !== undefined) && limits.length > 0 ? sum(limits as number[]) : undefined,
      cacheMode: modes.size === 1 ? [...modes][0] : undefined,
    };
  }

  restart(target: RestartTarget, call: DriverCall): Promise<ActionOutcome> {
    if ("node" in target) return this.restartPod(target.node, call);
    if ("failing" in target) return this.restartFailing(call);
    return this.rollingRestart(call);
  }

  async scale(replicas: number, call: DriverCall): Promise<ActionOutcome> {
    checkReplicas(replicas, this.settings);
    const { namespace, deployment: name } = this.settings;
    const op: KubeOperation = { verb: "patch", resource: "deployments/scale", group: "apps", namespace, name };
    const scale = await this.request(op, call, { contentType: MERGE_PATCH }, (k, options) =>
      k.apps.patchNamespacedDeploymentScale({ name, namespace, body: { spec: { replicas } }, dryRun: dryRun(call) }, options),
    );
    const was = scale.status?.replicas;
    const now = was === undefined ? "" : ` (${plural(was, "replica")} now)`;
    if (call.dryRun) {
      return { summary: `Kubernetes accepted a dry-run scale of deployment "${name}" in namespace "${namespace}" to ${plural(replicas, "replica")}${now}. ${NOTHING_CHANGED}`, dryRun: true, details: { from: was, to: replicas } };
    }
    return { summary: `Scaled deployment "${name}" in namespace "${namespace}" to ${plural(replicas, "replica")}${was === undefined ? "" : ` (was ${was})`}.`, dryRun: false, details: { from: was, to: replicas } };
  }

  async setCacheMode(mode: CacheMode, call: DriverCall): Promise<ActionOutcome> {
    const pods = (await this.pods(call)).filter((p) => reachable(p));
    if (pods.length === 0) throw new FleetUpstreamError(`no running pod of deployment "${this.settings.deployment}" has an IP to reach its gateway admin API`);
    const outcomes = await Promise.all(
      pods.map(async (pod) => {
        const admin = this.adminOf(pod);
        try {
          // A dry run checks that each pod's admin API answers and takes the token, and changes nothing.
          if (call.dryRun) await admin.get("/nodes", this.podSignal(call));
          else await admin.post("/cache-mode", { mode }, this.podSignal(call));
          return [pod.metadata!.name!, "ok"] as const;
        } catch (err) {
          if (call.signal.aborted) throw err;
          return [pod.metadata!.name!, describeError(err)] as const;
        }
      }),
    );
    const failed = outcomes.filter(([, outcome]) => outcome !== "ok");
    const trouble = failed.map(([pod, why]) => `${pod}: ${why}`).join("; ");
    if (failed.length === outcomes.length) throw new FleetUpstreamError(`no pod of deployment "${this.settings.deployment}" switched its cache mode to ${mode}: ${trouble}`);
    const ok = outcomes.length - failed.length;
    const summary = call.dryRun
      ? `Would switch the gateway cache mode to ${mode} on ${plural(outcomes.length, "pod")}; ${ok} of them answered.${failed.length ? ` Unreachable: ${trouble}.` : ""} ${NOTHING_CHANGED}`
      : `Switched the gateway cache mode to ${mode} on ${ok} of ${plural(outcomes.length, "pod")}.${failed.length ? ` Not switched: ${trouble}.` : ""}`;
    return { summary, dryRun: call.dryRun, details: { mode, pods: Object.fromEntries(outcomes) } };
  }

  private async restartPod(name: string, call: DriverCall): Promise<ActionOutcome> {
    const pods = await this.pods(call);
    const pod = pods.find((p) => p.metadata?.name === name);
    if (!pod) throw new FleetNodeNotFound(name, pods.map((p) => p.metadata!.name!));
    await this.deletePod(name, pods, call);
    const state = podState(pod);
    if (call.dryRun) return { summary: `Kubernetes accepted a dry-run delete of pod "${name}" (${state}); its Deployment would replace it. ${NOTHING_CHANGED}`, dryRun: true, details: { pods: [name] } };
    return { summary: `Deleted pod "${name}" (was ${state}) in namespace "${this.settings.namespace}"; deployment "${this.settings.deployment}" replaces it.`, dryRun: false, details: { pods: [name] } };
  }

  private async restartFailing(call: DriverCall): Promise<ActionOutcome> {
    const views = await this.podViews(call);
    const failing = views.filter((v) => v.node.state === "unresponsive" || v.node.safeguardStuck === true);
    if (failing.length === 0) {
      const ready = views.filter((v) => v.node.state === "ready").length;
      return { summary: `No gateway pod is failing (${ready} of ${plural(views.length, "pod")} ready); nothing to restart.`, dryRun: call.dryRun, details: { pods: [] } };
    }
    const named = failing.map((v) => `${v.node.id} (${v.node.state === "unresponsive" ? "unresponsive" : "safeguard stuck"})`).join(", ");
    // One at a time: the others keep serving while each is replaced.
    for (const view of failing) await this.deletePod(view.node.id, views.map((v) => v.pod), call);
    const pods = failing.map((v) => v.node.id);
    if (call.dryRun) return { summary: `Kubernetes accepted dry-run deletes of ${plural(failing.length, "failing pod")}: ${named}. ${NOTHING_CHANGED}`, dryRun: true, details: { pods } };
    return { summary: `Deleted ${plural(failing.length, "failing pod")} for deployment "${this.settings.deployment}" to replace: ${named}.`, dryRun: false, details: { pods } };
  }

  private async rollingRestart(call: DriverCall): Promise<ActionOutcome> {
    const { namespace, deployment: name } = this.settings;
    const at = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    const body = { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: at } } } } };
    const op: KubeOperation = { verb: "patch", resource: "deployments", group: "apps", namespace, name };
    const deployment = await this.request(op, call, { contentType: STRATEGIC_MERGE_PATCH }, (k, options) =>
      k.apps.patchNamespacedDeployment({ name, namespace, body, dryRun: dryRun(call) }, options),
    );
    const replicas = deployment.spec?.replicas;
    const pods = replicas === undefined ? "its pods" : `its ${plural(replicas, "pod")}`;
    if (call.dryRun) return { summary: `Kubernetes accepted a dry-run rolling restart of deployment "${name}" in namespace "${namespace}". ${NOTHING_CHANGED}`, dryRun: true, details: { restartedAt: at } };
    return { summary: `Started a rolling restart of deployment "${name}" in namespace "${namespace}": Kubernetes replaces ${pods} one by one.`, dryRun: false, details: { restartedAt: at, replicas } };
  }

  private async deletePod(name: string, known: V1Pod[], call: DriverCall): Promise<void> {
    const { namespace } = this.settings;
    const op: KubeOperation = { verb: "delete", resource: "pods", group: "", namespace, name };
    // A 404 here: the pod went away between the list and the delete.
    const notFound = () => new FleetNodeNotFound(name, known.map((p) => p.metadata!.name!).filter((n) => n !== name));
    await this.request(op, call, { notFound }, (k, options) => k.core.deleteNamespacedPod({ name, namespace, dryRun: dryRun(call) }, options));
  }

  /** The fleet's pods, each with what its gateway admin API says (connections, safeguard). */
  private async podViews(call: DriverCall): Promise<PodView[]> {
    const pods = await this.pods(call);
    return Promise.all(
      pods.map(async (pod): Promise<PodView> => {
        const node = toNode(pod);
        if (!reachable(pod)) return { pod, node };
        try {
          const stats = await this.adminOf(pod).get<AdminStats>("/stats", this.podSignal(call));
          const stuck = stats.nodes.some((n) => n.stats?.safeguard.stuck === true);
          const frozen = stats.nodes.some((n) => n.state === "unresponsive");
          return { pod, stats, node: { ...node, state: frozen ? "unresponsive" : node.state, connections: stats.total.connections, safeguardStuck: stuck } };
        } catch (err) {
          if (call.signal.aborted) throw err;
          return { pod, node };
        }
      }),
    );
  }

  private async pods(call: DriverCall): Promise<V1Pod[]> {
    const { namespace } = this.settings;
    const labelSelector = await this.podSelector(call);
    const op: KubeOperation = { verb: "list", resource: "pods", group: "", namespace };
    const list = await this.request(op, call, {}, (k, options) => k.core.listNamespacedPod({ namespace, labelSelector }, options));
    return list.items.sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
  }

  private async podSelector(call: DriverCall): Promise<string> {
    if (this.settings.label_selector) return this.settings.label_selector;
    if (this.selector) return this.selector;
    const { namespace, deployment: name } = this.settings;
    const op: KubeOperation = { verb: "get", resource: "deployments", group: "apps", namespace, name };
    const deployment = await this.request(op, call, {}, (k, options) => k.apps.readNamespacedDeployment({ name, namespace }, options));
    const selector = selectorString(deployment.spec?.selector);
    if (!selector) throw new FleetConfigError(`deployment "${name}" in namespace "${namespace}" has no pod selector: set fleet.label_selector`);
    // apps/v1 makes a Deployment's selector immutable, so it is read once.
    this.selector = selector;
    return selector;
  }

  /** One API request under the call's deadline; whatever fails becomes a FleetError naming `op`. */
  private async request<T>(
    op: KubeOperation,
    call: DriverCall,
    options: { contentType?: string; notFound?: () => FleetError },
    run: (clients: KubeClients, options: ConfigurationOptions) => Promise<T>,
  ): Promise<T> {
    const clients = await this.connect();
    try {
      return await run(clients, clients.options(call.signal, options.contentType));
    } catch (err) {
      throw kubeError(err, op, { server: clients.server, signal: call.signal, notFound: options.notFound });
    }
  }

  private adminOf(pod: V1Pod): GatewayAdminClient {
    const ip = pod.status!.podIP!;
    const host = isIPv6(ip) ? `[${ip}]` : ip;
    return new GatewayAdminClient({ url: `http://${host}:${this.settings.admin_port}`, token: this.adminToken });
  }

  private podSignal(call: DriverCall): AbortSignal {
    return AbortSignal.any([call.signal, AbortSignal.timeout(POD_ADMIN_TIMEOUT_MS)]);
  }
}

function toNode(pod: V1Pod): FleetNode {
  const started = pod.status?.startTime;
  return { id: pod.metadata?.name ?? "(unnamed)", state: podState(pod), address: pod.status?.podIP, ...(started ? { startedAt: new Date(started).toISOString() } : {}) };
}

/** A pod whose admin API can be asked: it has an IP and is not going away. */
function reachable(pod: V1Pod): boolean {
  const state = podState(pod);
  return Boolean(pod.status?.podIP) && (state === "ready" || state === "unresponsive");
}

function dryRun(call: DriverCall): "All" | undefined {
  return call.dryRun ? "All" : undefined;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
