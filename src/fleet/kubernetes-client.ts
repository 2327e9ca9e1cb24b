import { AppsV1Api, CoreV1Api, KubeConfig, Observable, type ConfigurationOptions, type ObservableMiddleware } from "@kubernetes/client-node";
import { describeError } from "../core/index.ts";
import { FleetConfigError } from "./errors.ts";

/**
 * What the kubernetes driver talks through. This file is the only one that
 * loads @kubernetes/client-node at run time, and the driver imports it on
 * first use, so processes that never drive Kubernetes do not pay for it.
 */
export interface KubeClients {
  apps: AppsV1Api;
  core: CoreV1Api;
  /** The API server's URL, to name it in errors. */
  server: string;
  options(signal: AbortSignal, contentType?: string): ConfigurationOptions;
}

/** API clients for the cluster the settings name; a FleetConfigError when the kubeconfig cannot work. */
export function connect(settings: { kubeconfig?: string; context?: string }, inCluster: boolean): KubeClients {
  const kc = loadKubeConfig(settings, inCluster);
  return { apps: kc.makeApiClient(AppsV1Api), core: kc.makeApiClient(CoreV1Api), server: kc.getCurrentCluster()!.server, options: requestOptions };
}

/**
 * Loads the kubeconfig the driver's settings point at: a file, else the
 * pod's service account when running in a cluster, else the default
 * loading rules (KUBECONFIG, ~/.kube/config).
 */
export function loadKubeConfig(settings: { kubeconfig?: string; context?: string }, inCluster: boolean): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (settings.kubeconfig) kc.loadFromFile(settings.kubeconfig);
    else if (inCluster) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (err) {
    const from = settings.kubeconfig ? `fleet.kubeconfig (${settings.kubeconfig})` : inCluster ? "the pod's service account" : "the default kubeconfig";
    throw new FleetConfigError(`cannot load the Kubernetes configuration from ${from}: ${describeError(err)}`);
  }
  if (settings.context) {
    if (!kc.getContextObject(settings.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new FleetConfigError(`fleet.context: the kubeconfig has no context "${settings.context}" (contexts: ${known.join(", ") || "none"})`);
    }
    kc.setCurrentContext(settings.context);
  }
  if (!kc.getCurrentCluster()) throw new FleetConfigError("the Kubernetes configuration names no cluster for its current context (set fleet.kubeconfig or fleet.context)");
  return kc;
}

/**
 * Per-request options: the call's deadline, and for a PATCH the patch type
 * (the generated client would otherwise send application/json-patch+json).
 */
export function requestOptions(signal: AbortSignal, contentType?: string): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre(request) {
      request.setSignal(signal);
      if (contentType) request.setHeaderParam("Content-Type", contentType);
      return new Observable(Promise.resolve(request));
    },
    post(response) {
      return new Observable(Promise.resolve(response));
    },
  };
  return { middleware: [middleware], middlewareMergeStrategy: "append" };
}
