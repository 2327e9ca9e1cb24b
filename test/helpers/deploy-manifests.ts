import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { parseAllDocuments, parseDocument } from "yaml";
import { envSchema, SECRET_VARS } from "../../src/config/env.ts";
import { REPO_ROOT } from "./config.ts";

/**
 * What deploy/ is checked against, read from the code rather than copied:
 * the CLI's roles, the environment variables src/config reads, the paths the
 * web and gateway answer without a token, the Kubernetes requests the fleet
 * driver makes. A manifest that names anything else is wrong.
 */
const source = (file: string) => readFileSync(path.join(REPO_ROOT, file), "utf8");

/** The commands `pulseboard` runs as a role (the ROLES table of src/main.ts). */
export function cliRoles(): Set<string> {
  const table = /const ROLES\b[^\n]*= \{\n([\s\S]*?)\n\};/.exec(source("src/main.ts"));
  if (!table) throw new Error("src/main.ts: no ROLES table found");
  return new Set([...table[1]!.matchAll(/^\s*(\w+):\s*async/gm)].map((m) => m[1]!));
}

/** Every environment variable src/config reads: the env schema, the `_FILE` twins of the secrets, and `env.NAME` reads in src/config/*.ts. */
export function configVariables(): Set<string> {
  const names = new Set<string>([...Object.keys(envSchema.out.shape), ...SECRET_VARS.map((name) => `${name}_FILE`)]);
  const dir = path.join(REPO_ROOT, "src/config");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    for (const m of readFileSync(path.join(dir, file), "utf8").matchAll(/\benv\.([A-Z][A-Z0-9_]+)\b/g)) names.add(m[1]!);
  }
  return names;
}

/** The `${NAME}` references of a pulseboard.yaml (`$${` is a literal): variables that file reads. */
export function interpolatedVariables(configText: string): Set<string> {
  return new Set([...configText.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
}

/** The paths each HTTP side answers to GET without a token: what a health probe may ask. */
export function servedPaths(): { web: Set<string>; gatewayNode: Set<string>; gatewayAdmin: Set<string> } {
  // Routes with their handler right after the path: no auth middleware between.
  const web = [...source("src/web/app.ts").matchAll(/app\.get\("(\/[^"]*)",\s*(?:async\s*)?\(/g)].map((m) => m[1]!);
  const node = [...source("src/gateway/node.ts").matchAll(/url\.pathname === "(\/[^"]*)" && req\.method === "GET"/g)].map((m) => m[1]!);
  const admin = source("src/gateway/fleet-admin.ts");
  const beforeAuth = admin.slice(0, admin.indexOf("if (!authorized("));
  const open = [...beforeAuth.matchAll(/req\.method === "GET" && path === "(\/[^"]*)"/g)].map((m) => m[1]!);
  return { web: new Set(web), gatewayNode: new Set(node), gatewayAdmin: new Set(open) };
}

/** One Kubernetes API request of the fleet driver, as src/fleet/kubernetes.ts declares it for RBAC. */
export interface DriverRequest {
  verb: string;
  resource: string;
  group: string;
  /** The request names one object (get, patch, delete) rather than a collection. */
  named: boolean;
}

/** The requests src/fleet/kubernetes.ts makes (each `const op: KubeOperation = { … }`). */
export function fleetDriverRequests(): DriverRequest[] {
  const text = source("src/fleet/kubernetes.ts");
  return [...text.matchAll(/const op: KubeOperation = \{ verb: "(\w+)", resource: "([^"]+)", group: "([^"]*)", namespace(, name)? \}/g)].map((m) => ({
    verb: m[1]!,
    resource: m[2]!,
    group: m[3]!,
    named: m[4] !== undefined,
  }));
}

/** A YAML file's documents as plain values; a parse error throws with the file's name. */
export function yamlDocuments(file: string): Record<string, unknown>[] {
  const docs = parseAllDocuments(readFileSync(file, "utf8"), { merge: true, uniqueKeys: true });
  if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
  return docs.map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${file} (document ${i + 1}): ${doc.errors.map((e) => e.message).join("; ")}`);
    return doc.toJS() as Record<string, unknown>;
  });
}

/** One YAML document, with docker compose's merge keys. */
export function yamlFile(file: string): Record<string, unknown> {
  const doc = parseDocument(readFileSync(file, "utf8"), { merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
  return doc.toJS() as Record<string, unknown>;
}

/** The apiVersion each kind the manifests may use is served under. */
export const KNOWN_KINDS: Record<string, string> = {
  Namespace: "v1",
  ConfigMap: "v1",
  Service: "v1",
  ServiceAccount: "v1",
  Deployment: "apps/v1",
  StatefulSet: "apps/v1",
  PodDisruptionBudget: "policy/v1",
  Role: "rbac.authorization.k8s.io/v1",
  RoleBinding: "rbac.authorization.k8s.io/v1",
};

interface Attribute {
  baseName: string;
  type: string;
}

/**
 * Checks a manifest against the Kubernetes OpenAPI models that
 * @kubernetes/client-node is generated from: every field known to its
 * type (a misspelt `readinesProbe` is a problem), every value of the type
 * the API takes (`value: 2` for an env var is one). Required fields are
 * not in the models; the API server checks those.
 */
export function schemaProblems(manifest: Record<string, unknown>, where: string): string[] {
  const kind = String(manifest.kind);
  const problems: string[] = [];
  check(manifest, `V1${kind}`, where, problems);
  return problems;
}

function check(value: unknown, type: string, at: string, problems: string[]): void {
  if (value === null || value === undefined || type === "any") return;
  const list = /^Array<(.+)>$/.exec(type);
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (type === "string" || type === "Date") {
    if (typeof value !== "string") problems.push(`${at}: expected a string, got ${JSON.stringify(value)}`);
  } else if (type === "number") {
    if (typeof value !== "number") problems.push(`${at}: expected a number, got ${JSON.stringify(value)}`);
  } else if (type === "boolean") {
    if (typeof value !== "boolean") problems.push(`${at}: expected true or false, got ${JSON.stringify(value)}`);
  } else if (type === "IntOrString") {
    if (typeof value !== "string" && typeof value !== "number") problems.push(`${at}: expected a number or a name, got ${JSON.stringify(value)}`);
  } else if (list) {
    if (!Array.isArray(value)) problems.push(`${at}: expected a list`);
    else value.forEach((item, i) => check(item, list[1]!, `${at}[${i}]`, problems));
  } else if (map) {
    if (typeof value !== "object" || Array.isArray(value)) problems.push(`${at}: expected a mapping`);
    else for (const [key, item] of Object.entries(value)) check(item, map[1]!, `${at}.${key}`, problems);
  } else {
    const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => Attribute[] } | undefined>)[type];
    if (!model?.getAttributeTypeMap) {
      problems.push(`${at}: no Kubernetes type ${type} to check it against`);
      return;
    }
    if (typeof value !== "object" || Array.isArray(value)) {
      problems.push(`${at}: expected a mapping (${type})`);
      return;
    }
    const attributes = model.getAttributeTypeMap();
    for (const [key, item] of Object.entries(value)) {
      const attribute = attributes.find((a) => a.baseName === key);
      if (!attribute) problems.push(`${at}.${key}: not a field of ${type} (fields: ${attributes.map((a) => a.baseName).join(", ")})`);
      else check(item, attribute.type, `${at}.${key}`, problems);
    }
  }
}

/**
 * An environment for the config loader in which each `<NAME>_FILE` points at
 * a file of this machine holding a value of the right shape (a Redis URL
 * for the URLs, a token otherwise), as the mounted secret would.
 */
export function withSecretFiles(env: Record<string, string>, dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.endsWith("_FILE")) {
      out[name] = value;
      continue;
    }
    const file = path.join(dir, `${name.toLowerCase()}-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, name.includes("URL") ? "redis://:sample-password@cache-redis:6379\n" : "sample-secret-of-32-characters-xx\n");
    out[name] = file;
  }
  return out;
}
