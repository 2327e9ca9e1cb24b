import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import type { Config } from "../../src/config/index.ts";
import { configFrom, REPO_ROOT } from "../helpers/config.ts";
import { DRIVER_ROLE } from "../helpers/kube-rbac.ts";
import {
  KNOWN_KINDS,
  cliRoles,
  configVariables,
  fleetDriverRequests,
  interpolatedVariables,
  schemaProblems,
  servedPaths,
  withSecretFiles,
  yamlDocuments,
  yamlFile,
  type DriverRequest,
} from "../helpers/deploy-manifests.ts";

/*
 * deploy/ cannot be started here (docker has no compose plugin and no
 * daemon, kubectl has no cluster), so it is checked against what the code
 * says: the CLI's roles, the variables src/config reads, the paths the web
 * and the gateway serve, the requests the kubernetes fleet driver makes,
 * pulseboard.yaml through the real config loader, and the Kubernetes
 * manifests against the API's models.
 */
const DEPLOY = path.join(REPO_ROOT, "deploy");
const COMPOSE_FILE = path.join(DEPLOY, "docker-compose.yml");
const KUBE_DIR = path.join(DEPLOY, "kubernetes");
/** The roles that run as two replicas each; the gateway scales through its fleet instead. */
const REPLICATED_ROLES = ["web", "worker", "scheduler", "agent"];

const ROLES = cliRoles();
const VARIABLES = configVariables();
const PATHS = servedPaths();
const secretsDir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-deploy-secrets-"));
after(() => rmSync(secretsDir, { recursive: true, force: true }));

type Doc = Record<string, any>;

/** The variables a container sets that neither src/config nor its pulseboard.yaml reads. */
function unknownVariables(names: string[], configText: string): string[] {
  const read = new Set([...VARIABLES, ...interpolatedVariables(configText)]);
  return names.filter((name) => !read.has(name));
}

/** The pulseboard.yaml a container runs with, loaded by the real loader with its environment. */
async function loadWith(configText: string, env: Record<string, string>, where: string): Promise<Config> {
  try {
    return await configFrom(configText, withSecretFiles(env, secretsDir));
  } catch (err) {
    throw new Error(`${where}: pulseboard refuses its configuration: ${(err as Error).message}`);
  }
}

/** `host:port,host:port` as pairs. */
function sentinelList(value: string): { host: string; port: number }[] {
  return value.split(",").map((entry) => {
    const [host, port] = entry.trim().split(":");
    return { host: host!, port: Number(port ?? 26379) };
  });
}

/** `sentinel monitor <name> <host> <port> <quorum>` and `port` of a sentinel.conf. */
function sentinelConf(text: string): { name: string; host: string; port: number; quorum: number; listens: number } {
  const monitor = /^sentinel monitor (\S+) (\S+) (\d+) (\d+)$/m.exec(text);
  assert.ok(monitor, "sentinel.conf has no `sentinel monitor <name> <host> <port> <quorum>` line");
  return { name: monitor[1]!, host: monitor[2]!, port: Number(monitor[3]), quorum: Number(monitor[4]), listens: Number(/^port (\d+)$/m.exec(text)?.[1] ?? 26379) };
}

/** What a quorum must be for `count` Sentinels: a majority, so no minority can fail the group over. */
function assertQuorum(quorum: number, count: number, where: string): void {
  assert.ok(count >= 3, `${where}: ${count} Sentinels; three or more are needed to survive one lost`);
  assert.ok(quorum > count / 2 && quorum <= count, `${where}: quorum ${quorum} of ${count} Sentinels is not a majority`);
}

/** Which paths and ports a health check of `role` may use: those its process serves without a token. */
function healthTargets(role: string, config: Config): Map<number, Set<string>> {
  if (role === "web") return new Map([[config.web.port, PATHS.web]]);
  if (role === "gateway") {
    const { gateway } = config;
    const targets = new Map<number, Set<string>>([[gateway.port, PATHS.gatewayNode], [gateway.adminPort, PATHS.gatewayAdmin]]);
    for (let i = 0; i < gateway.nodes; i++) targets.set(gateway.nodePortBase + i, PATHS.gatewayNode);
    return targets;
  }
  return new Map();
}

function assertHealthCheck(role: string, config: Config, port: number, probePath: string, where: string): void {
  const targets = healthTargets(role, config);
  const paths = targets.get(port);
  assert.ok(paths, `${where}: port ${port} is not one the ${role} role serves (${[...targets.keys()].join(", ") || "none: it serves no HTTP"})`);
  assert.ok(paths.has(probePath), `${where}: ${probePath} is not a path the ${role} role serves on port ${port} without a token (${[...paths].join(", ")})`);
}

describe("what the deploy checks are read from", () => {
  it("finds the roles, variables, paths and driver requests in the code", () => {
    for (const role of [...REPLICATED_ROLES, "gateway"]) assert.ok(ROLES.has(role), `src/main.ts has no role ${role}`);
    for (const name of ["REDIS_SENTINELS", "REDIS_SENTINEL_NAME", "REDIS_PASSWORD_FILE", "ADMIN_TOKEN_FILE", "PUBLIC_URL", "PULSEBOARD_CONFIG"]) assert.ok(VARIABLES.has(name), `src/config reads no ${name}`);
    assert.ok(!VARIABLES.has("REDIS_SENTINEL_NAMES"), "the variable list is not just everything");
    assert.ok(PATHS.web.has("/healthz") && PATHS.web.has("/readyz") && !PATHS.web.has("/metrics"), `web paths: ${[...PATHS.web]}`);
    assert.ok(PATHS.gatewayNode.has("/healthz") && PATHS.gatewayAdmin.has("/healthz") && !PATHS.gatewayAdmin.has("/nodes"));
    assert.ok(fleetDriverRequests().length >= 5, "src/fleet/kubernetes.ts: fewer Kubernetes requests found than the driver makes");
  });
});

describe("deploy/docker-compose.yml", () => {
  const compose = yamlFile(COMPOSE_FILE) as Doc;
  const services = compose.services as Record<string, Doc>;
  const base = path.dirname(COMPOSE_FILE);
  const built = (s: Doc) => s.build !== undefined && path.resolve(base, s.build.context ?? ".") === path.resolve(REPO_ROOT);
  // A service may also run the image another one builds.
  const images = new Set(Object.values(services).filter(built).map((s) => s.image).filter(Boolean));
  const pulseboard = Object.entries(services).filter(([, s]) => built(s) || images.has(s.image));
  const roleOf = (s: Doc) => (s.command as string[])[0]!;
  /** A service's environment as written (mapping or `KEY=value` list). */
  const written = (s: Doc): Record<string, string> =>
    Array.isArray(s.environment) ? Object.fromEntries(s.environment.map((e: string) => [e.split("=")[0], e.slice(e.indexOf("=") + 1)])) : (s.environment ?? {});
  /** The same with compose's `${NAME:-default}` taken as its default, as an unset variable gives. */
  const env = (s: Doc): Record<string, string> => Object.fromEntries(Object.entries(written(s)).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1")]));
  const mounted = (s: Doc, target: string): string | undefined => {
    const volume = (s.volumes ?? []).find((v: string) => v.split(":")[1] === target);
    return volume ? path.resolve(base, volume.split(":")[0]) : undefined;
  };
  const configText = (s: Doc) => {
    const inContainer = env(s).PULSEBOARD_CONFIG;
    assert.ok(inContainer, "PULSEBOARD_CONFIG is not set: the image's own example config would run");
    const file = mounted(s, inContainer);
    assert.ok(file && existsSync(file), `${inContainer} is not mounted from a file of the repository`);
    return readFileSync(file, "utf8");
  };

  it("has only keys docker compose knows, and every file it mounts exists", () => {
    for (const key of Object.keys(compose)) assert.ok(["services", "volumes", "secrets", "networks", "configs", "name"].includes(key) || key.startsWith("x-"), `top-level key ${key}`);
    const serviceKeys = new Set(["image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "volumes", "secrets", "configs", "depends_on", "healthcheck", "restart", "deploy", "hostname", "networks", "user", "working_dir", "labels", "logging", "ulimits", "stop_grace_period", "stop_signal", "init", "read_only", "tmpfs", "cap_drop", "security_opt"]);
    for (const [name, service] of Object.entries(services)) {
      for (const key of Object.keys(service)) assert.ok(serviceKeys.has(key), `services.${name}.${key}: not a service key docker compose knows`);
      for (const volume of service.volumes ?? []) {
        const source = String(volume).split(":")[0]!;
        if (source.startsWith(".")) assert.ok(existsSync(path.resolve(base, source)), `services.${name}: mounts ${source}, which does not exist`);
        else assert.ok(source in (compose.volumes ?? {}), `services.${name}: volume ${source} is not declared`);
      }
      for (const secret of service.secrets ?? []) assert.ok(secret in (compose.secrets ?? {}), `services.${name}: secret ${secret} is not declared`);
    }
    for (const [name, service] of pulseboard.filter(([, s]) => s.build)) {
      const dockerfile = path.resolve(base, service.build.context, service.build.dockerfile ?? "Dockerfile");
      assert.equal(dockerfile, path.join(REPO_ROOT, "Dockerfile"), `services.${name}: not built from the repository's Dockerfile`);
    }
    assert.ok(pulseboard.length > 0, "no service is built from the repository");
  });

  it("runs a real CLI role in every Pulseboard service, two replicas of each", () => {
    const replicas = new Map<string, number>();
    for (const [name, service] of pulseboard) {
      assert.ok(ROLES.has(roleOf(service)), `services.${name}: "${roleOf(service)}" is not a pulseboard role (${[...ROLES].join(", ")})`);
      replicas.set(roleOf(service), (replicas.get(roleOf(service)) ?? 0) + (service.deploy?.replicas ?? 1));
    }
    for (const role of REPLICATED_ROLES) assert.equal(replicas.get(role), 2, `${role}: ${replicas.get(role) ?? 0} replicas, expected 2`);
    assert.ok(replicas.has("gateway"), "no gateway service");
  });

  it("sets only variables Pulseboard reads, and each service's configuration loads with them", async () => {
    for (const [name, service] of pulseboard) {
      const text = configText(service);
      assert.deepEqual(unknownVariables(Object.keys(written(service)), text), [], `services.${name}: variables that src/config does not read`);
      for (const [variable, value] of Object.entries(env(service))) {
        const secret = /^\/run\/secrets\/(.+)$/.exec(value)?.[1];
        if (variable.endsWith("_FILE")) assert.ok(secret && (service.secrets ?? []).includes(secret), `services.${name}: ${variable}=${value} is not one of its secrets`);
      }
      const config = await loadWith(text, env(service), `services.${name}`);
      assert.ok(config.redis.target && typeof config.redis.target === "object", `services.${name}: the control plane is not reached through Sentinel`);
      assert.ok(config.cache.target, `services.${name}: no cache Redis`);
      if (roleOf(service) === "agent") {
        const location = service.command[service.command.indexOf("--location") + 1];
        assert.ok(config.locations.some((l) => l.id === location), `services.${name}: no location "${location}" in its configuration`);
      }
    }
  });

  it("health-checks web and gateway on paths they serve", async () => {
    for (const [name, service] of pulseboard.filter(([, s]) => ["web", "gateway"].includes(roleOf(s)))) {
      const test = (service.healthcheck?.test ?? []).join(" ");
      const url = /https?:\/\/127\.0\.0\.1:(\d+)(\/[^'"\s)]*)/.exec(test);
      assert.ok(url, `services.${name}: no HTTP healthcheck`);
      const config = await loadWith(configText(service), env(service), `services.${name}`);
      assertHealthCheck(roleOf(service), config, Number(url[1]), url[2]!, `services.${name}.healthcheck`);
    }
  });

  it("has a consistent Sentinel group: a majority quorum, the master Pulseboard names, every Sentinel listed", () => {
    const byMode = (mode: string) => Object.entries(services).filter(([, s]) => Array.isArray(s.command) && s.command.at(-1) === mode && String(s.command.join(" ")).includes("redis-start.sh"));
    const sentinels = byMode("sentinel");
    const nodes = byMode("redis");
    const [firstName, first] = sentinels[0]!;
    const confFile = mounted(first, "/etc/pulseboard/sentinel.conf");
    assert.ok(confFile, `services.${firstName}: no sentinel.conf mounted`);
    const conf = sentinelConf(readFileSync(confFile, "utf8"));
    assertQuorum(conf.quorum, sentinels.length, "docker-compose.yml");
    assert.ok(nodes.length >= 3, `${nodes.length} Redis data nodes, expected a primary and two replicas`);
    assert.ok(nodes.some(([name]) => name === conf.host), `sentinel.conf monitors ${conf.host}, which is not a Redis service`);
    for (const [name, node] of nodes) {
      assert.equal(node.environment.INITIAL_PRIMARY, conf.host, `services.${name}: starts as replica of ${node.environment.INITIAL_PRIMARY}, the Sentinels watch ${conf.host}`);
      assert.equal(node.environment.NODE_NAME, node.hostname ?? name, `services.${name}: announces itself as ${node.environment.NODE_NAME}`);
      assert.deepEqual(String(node.environment.SENTINELS).split(" ").sort(), sentinels.map(([s]) => s).sort(), `services.${name}: asks other Sentinels than the group's`);
    }
    for (const [name, sentinel] of sentinels) {
      assert.equal(mounted(sentinel, "/etc/pulseboard/sentinel.conf"), confFile, `services.${name}: another sentinel.conf`);
      assert.deepEqual(String(sentinel.environment.SENTINELS).split(" ").sort(), sentinels.map(([s]) => s).filter((s) => s !== name).sort(), `services.${name}: does not list the other Sentinels`);
    }
    for (const [name, service] of pulseboard) {
      const e = env(service);
      assert.equal(e.REDIS_SENTINEL_NAME, conf.name, `services.${name}: REDIS_SENTINEL_NAME is not the master the Sentinels monitor`);
      const listed = sentinelList(e.REDIS_SENTINELS!);
      assert.deepEqual(listed.map((s) => s.host).sort(), sentinels.map(([s]) => s).sort(), `services.${name}: REDIS_SENTINELS does not list every Sentinel`);
      for (const s of listed) assert.equal(s.port, conf.listens, `services.${name}: Sentinel ${s.host} listens on ${conf.listens}, not ${s.port}`);
    }
    const cacheUrl = readFileSync(path.join(base, "compose/make-secrets.sh"), "utf8");
    assert.match(cacheUrl, /@cache-redis:6379/, "the cache URL make-secrets.sh writes is not the cache-redis service");
    assert.ok(services["cache-redis"], "no separate cache Redis");
  });

  it("has make-secrets.sh write every secret file the compose file names", () => {
    const script = readFileSync(path.join(base, "compose/make-secrets.sh"), "utf8");
    for (const [name, secret] of Object.entries(compose.secrets as Record<string, { file: string }>)) {
      assert.ok(secret.file.startsWith("./compose/secrets/"), `secrets.${name}: not a file under compose/secrets/`);
      assert.ok(script.includes(path.basename(secret.file)), `secrets.${name}: compose/make-secrets.sh does not write ${secret.file}`);
    }
  });
});

describe("deploy/kubernetes", () => {
  const files = readdirSync(KUBE_DIR).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml").sort();
  const manifests = files.flatMap((file) => yamlDocuments(path.join(KUBE_DIR, file)).map((doc, i) => ({ doc: doc as Doc, where: `${file} (document ${i + 1})` })));
  const ofKind = (kind: string) => manifests.filter((m) => m.doc.kind === kind);
  const workloads = [...ofKind("Deployment"), ...ofKind("StatefulSet")];
  const pulseboardPods = ofKind("Deployment").filter((m) => m.doc.spec.template.spec.containers[0].image.split(":")[0] === "pulseboard");
  const configMap = (name: string) => ofKind("ConfigMap").find((m) => m.doc.metadata.name === name)?.doc;

  /** A container's environment as the kubelet would give it (downward API, ConfigMap keys) plus what every pod has. */
  const envOf = (container: Doc, namespace: string): Record<string, string> => {
    const env: Record<string, string> = { KUBERNETES_SERVICE_HOST: "10.96.0.1" };
    for (const entry of container.env ?? []) {
      if (entry.value !== undefined) env[entry.name] = entry.value;
      else if (entry.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") env[entry.name] = namespace;
      else if (entry.valueFrom?.configMapKeyRef) {
        const ref = entry.valueFrom.configMapKeyRef;
        const value = configMap(ref.name)?.data?.[ref.key];
        assert.ok(value !== undefined, `${container.name}: ${entry.name} refers to ConfigMap ${ref.name} key ${ref.key}, which no manifest has`);
        env[entry.name] = value;
      }
    }
    return env;
  };
  const configTextOf = (pod: Doc, container: Doc): string => {
    const inContainer = envOf(container, "pulseboard").PULSEBOARD_CONFIG;
    assert.ok(inContainer, `${container.name}: PULSEBOARD_CONFIG is not set`);
    const mount = (container.volumeMounts ?? []).find((m: Doc) => inContainer.startsWith(`${m.mountPath}/`));
    const volume = pod.volumes.find((v: Doc) => v.name === mount?.name);
    const text = configMap(volume?.configMap?.name)?.data?.[path.basename(inContainer)];
    assert.ok(typeof text === "string", `${container.name}: ${inContainer} is not a key of a mounted ConfigMap`);
    return text;
  };

  it("parses, names apiVersion, kind and metadata.name in every document, and the kustomization lists every file", () => {
    assert.ok(manifests.length > 0);
    for (const { doc, where } of manifests) {
      assert.ok(doc.apiVersion && doc.kind && doc.metadata?.name, `${where}: apiVersion, kind and metadata.name are required`);
      assert.ok(doc.kind in KNOWN_KINDS, `${where}: kind ${doc.kind} is not one these manifests use (${Object.keys(KNOWN_KINDS).join(", ")})`);
      assert.equal(doc.apiVersion, KNOWN_KINDS[doc.kind], `${where}: ${doc.kind} is served as ${KNOWN_KINDS[doc.kind]}`);
    }
    const kustomization = yamlFile(path.join(KUBE_DIR, "kustomization.yaml")) as Doc;
    assert.deepEqual([...kustomization.resources].sort(), files, "kustomization.yaml resources are not the manifest files");
  });

  it("matches the Kubernetes API's models: no unknown field, no value of the wrong type", () => {
    const problems = manifests.flatMap(({ doc, where }) => schemaProblems(doc, where));
    assert.deepEqual(problems, []);
  });

  it("runs two replicas of every role, each a real CLI role, with resource requests on every container", () => {
    const roles = new Map<string, number>();
    for (const { doc, where } of pulseboardPods) {
      const container = doc.spec.template.spec.containers[0];
      const role = container.args[0];
      assert.ok(ROLES.has(role), `${where}: "${role}" is not a pulseboard role`);
      roles.set(role, (roles.get(role) ?? 0) + doc.spec.replicas);
    }
    for (const role of [...REPLICATED_ROLES, "gateway"]) assert.equal(roles.get(role), 2, `${role}: ${roles.get(role) ?? 0} replicas, expected 2`);
    for (const { doc, where } of workloads) {
      for (const c of doc.spec.template.spec.containers) assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${where}: container ${c.name} has no cpu and memory requests`);
    }
  });

  it("sets only variables Pulseboard reads, and each role's configuration loads with them", async () => {
    for (const { doc, where } of pulseboardPods) {
      const pod = doc.spec.template.spec;
      const container = pod.containers[0];
      const text = configTextOf(pod, container);
      const names = (container.env ?? []).map((e: Doc) => e.name);
      assert.deepEqual(unknownVariables(names, text), [], `${where}: variables that src/config does not read`);
      const env = envOf(container, doc.metadata.namespace);
      for (const [variable, file] of Object.entries(env).filter(([n]) => n.endsWith("_FILE"))) {
        const mount = container.volumeMounts.find((m: Doc) => file.startsWith(`${m.mountPath}/`));
        const secret = pod.volumes.find((v: Doc) => v.name === mount?.name)?.secret;
        assert.ok(secret?.items?.some((i: Doc) => i.path === path.basename(file)), `${where}: ${variable}=${file} is not a key of a mounted Secret`);
      }
      const config = await loadWith(text, env, where);
      assert.ok(config.redis.target && typeof config.redis.target === "object", `${where}: the control plane is not reached through Sentinel`);
      if (container.args[0] === "agent") assert.ok(config.locations.some((l) => l.id === container.args[2]), `${where}: no location "${container.args[2]}"`);
      if (container.args[0] === "gateway") assert.equal(config.gateway.nodes, 1, `${where}: one gateway node per pod, so a pod is what the fleet driver restarts`);
    }
  });

  it("probes web and gateway on paths and ports they serve", async () => {
    for (const { doc, where } of pulseboardPods) {
      const pod = doc.spec.template.spec;
      const container = pod.containers[0];
      const role = container.args[0];
      const probes = ["startupProbe", "readinessProbe", "livenessProbe"].filter((p) => container[p]);
      if (role !== "web" && role !== "gateway") {
        assert.deepEqual(probes, [], `${where}: the ${role} role serves no HTTP to probe`);
        continue;
      }
      assert.ok(container.readinessProbe && container.livenessProbe, `${where}: needs readiness and liveness probes`);
      const config = await loadWith(configTextOf(pod, container), envOf(container, doc.metadata.namespace), where);
      for (const probe of probes) {
        const get = container[probe].httpGet;
        assert.ok(get, `${where}: ${probe} is not an HTTP probe`);
        const port = typeof get.port === "number" ? get.port : container.ports.find((p: Doc) => p.name === get.port)?.containerPort;
        assert.ok(port, `${where}: ${probe} port ${get.port} is not a port of the container`);
        assertHealthCheck(role, config, port, get.path, `${where}: ${probe}`);
      }
      const paths = probes.map((p) => container[p].httpGet.path);
      if (role === "web") assert.ok(paths.includes("/healthz") && paths.includes("/readyz"), `${where}: web is probed on ${paths.join(", ")}`);
    }
  });

  it("selects real pods and ports from every Service and PodDisruptionBudget, one budget per workload", () => {
    const labelsOf = (w: Doc) => w.spec.template.metadata.labels as Record<string, string>;
    const matching = (selector: Record<string, string>) => workloads.filter(({ doc }) => Object.entries(selector).every(([k, v]) => labelsOf(doc)[k] === v));
    for (const { doc, where } of ofKind("Service")) {
      const pods = matching(doc.spec.selector);
      assert.ok(pods.length > 0, `${where}: selects no pods`);
      const ports = pods.flatMap(({ doc: w }) => w.spec.template.spec.containers.flatMap((c: Doc) => c.ports ?? []));
      for (const p of doc.spec.ports) assert.ok(ports.some((c: Doc) => c.name === p.targetPort || c.containerPort === p.targetPort), `${where}: targetPort ${p.targetPort} is no container's port`);
    }
    for (const { doc, where } of workloads) {
      if (doc.spec.replicas < 2) continue;
      assert.ok(ofKind("PodDisruptionBudget").some((b) => Object.entries(b.doc.spec.selector.matchLabels).every(([k, v]) => labelsOf(doc)[k] === v)), `${where}: no PodDisruptionBudget`);
    }
  });

  it("grants the fleet driver every request it makes, to the account the web and worker pods run as", async () => {
    const requests = fleetDriverRequests();
    const configPod = pulseboardPods.find(({ doc }) => doc.spec.template.spec.containers[0].args[0] === "worker")!;
    const worker = configPod.doc.spec.template.spec;
    const config = await loadWith(configTextOf(worker, worker.containers[0]), envOf(worker.containers[0], configPod.doc.metadata.namespace), configPod.where);
    assert.equal(config.fleet.driver, "kubernetes");
    const deployment = String(config.fleet.settings.deployment);
    assert.ok(ofKind("Deployment").some(({ doc }) => doc.metadata.name === deployment && doc.spec.template.spec.containers[0].args[0] === "gateway"), `fleet.deployment "${deployment}" is not the gateway's Deployment`);
    assert.equal(config.fleet.settings.admin_port, 4100);

    const bindings = ofKind("RoleBinding");
    for (const role of ["web", "worker"]) {
      const { doc, where } = pulseboardPods.find(({ doc }) => doc.spec.template.spec.containers[0].args[0] === role)!;
      const account = doc.spec.template.spec.serviceAccountName;
      const bound = bindings.filter(({ doc: b }) => b.subjects.some((s: Doc) => s.kind === "ServiceAccount" && s.name === account));
      const rules = bound.flatMap(({ doc: b }) => ofKind("Role").find((r) => r.doc.metadata.name === b.roleRef.name)?.doc.rules ?? []);
      assert.notEqual(doc.spec.template.spec.automountServiceAccountToken, false, `${where}: the driver needs the account's token`);
      const grants = (r: DriverRequest, name?: string) =>
        rules.some((rule: Doc) => rule.apiGroups.includes(r.group) && rule.resources.includes(r.resource) && rule.verbs.includes(r.verb) && (!rule.resourceNames || (name !== undefined && rule.resourceNames.includes(name))));
      for (const r of requests) {
        // A named deployment request names the gateway's Deployment; a pod's name is not known ahead.
        const name = r.named && r.resource.startsWith("deployments") ? deployment : undefined;
        assert.ok(grants(r, name), `${where}: account ${account} may not ${r.verb} ${r.resource}${r.group ? ` (${r.group})` : ""}${name ? ` "${name}"` : ""}`);
      }
      for (const rule of DRIVER_ROLE) for (const resource of rule.resources) for (const verb of rule.verbs) {
        assert.ok(grants({ verb, resource, group: rule.apiGroups[0]!, named: true }, deployment), `${where}: test/helpers/kube-rbac.ts's DRIVER_ROLE has ${verb} ${resource}, the Role does not`);
      }
    }
  });

  it("has a consistent Sentinel group: a majority quorum of the StatefulSet's pods, listed in REDIS_SENTINELS", () => {
    const redis = ofKind("StatefulSet").find(({ doc }) => doc.metadata.name === "redis")!.doc;
    const configName = redis.spec.template.spec.volumes.find((v: Doc) => v.name === "config").configMap.name;
    const data = configMap(configName)!.data;
    const conf = sentinelConf(data["sentinel.conf"]);
    const count = redis.spec.replicas;
    assertQuorum(conf.quorum, count, "redis.yaml");
    const pods = Array.from({ length: count }, (_, i) => `${redis.metadata.name}-${i}.${redis.spec.serviceName}`);
    assert.ok(pods.includes(conf.host), `sentinel.conf monitors ${conf.host}, not a pod of the StatefulSet`);
    for (const c of redis.spec.template.spec.containers) {
      const env = Object.fromEntries(c.env.filter((e: Doc) => e.value !== undefined).map((e: Doc) => [e.name, e.value]));
      assert.deepEqual(env.SENTINELS.split(" "), pods, `${c.name}: SENTINELS is not every pod`);
      if (env.INITIAL_PRIMARY) assert.equal(env.INITIAL_PRIMARY, conf.host);
      assert.equal(env.NODE_NAME, `$(POD_NAME).${redis.spec.serviceName}`);
    }
    assert.equal(data["redis-start.sh"], readFileSync(path.join(DEPLOY, "compose/redis-start.sh"), "utf8"), "redis.yaml's redis-start.sh differs from deploy/compose/redis-start.sh");
    for (const { doc, where } of pulseboardPods) {
      const env = envOf(doc.spec.template.spec.containers[0], doc.metadata.namespace);
      assert.equal(env.REDIS_SENTINEL_NAME, conf.name, `${where}: REDIS_SENTINEL_NAME is not the master the Sentinels monitor`);
      const listed = sentinelList(env.REDIS_SENTINELS!);
      assert.deepEqual(listed.map((s) => s.host), pods, `${where}: REDIS_SENTINELS does not list every Sentinel pod`);
      for (const s of listed) assert.equal(s.port, conf.listens);
    }
  });
});
