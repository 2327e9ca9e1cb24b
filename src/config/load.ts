import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseDocument } from "yaml";
import { ConfigError, findExecutable, isClusterTarget } from "../core/index.ts";
import { interpolateEnv } from "./interpolate.ts";
import { fileSchema, type ConfigFile } from "./schema.ts";
import { resolveConfig, type Config, type KindSchemas, type ProbeKindSchemas } from "./resolve.ts";
import { envSchema, applyEnv, readSecretFiles, type EnvOverrides } from "./env.ts";
import { parseSalvaging } from "./salvage.ts";
import { redisTargets } from "./redis-target.ts";
import { formatIssues } from "./issues.ts";
import type { PlaybookStepKinds } from "./playbooks.ts";

export interface LoadOptions {
  /** Path of pulseboard.yaml. @defaultValue $PULSEBOARD_CONFIG, else ./pulseboard.yaml */
  file?: string;
  /** The environment to read overrides from. @defaultValue process.env */
  env?: Record<string, string | undefined>;
  /** Directory relative paths are resolved against. @defaultValue process.cwd() */
  cwd?: string;
  /** The probe kinds that exist, with their config schemas. */
  probeKinds: ProbeKindSchemas;
  /** The notification channel kinds that exist, with their config schemas. */
  channelKinds?: KindSchemas;
  /** The fleet driver kinds that exist, with their config schemas. */
  fleetKinds?: KindSchemas;
  /** The playbook step kinds that exist, with their config schemas. */
  playbookSteps?: PlaybookStepKinds;
}

/**
 * Reads, interpolates, validates and resolves the configuration once at start.
 * Every problem found is collected and thrown together as one ConfigError whose
 * lines each start with the path of the field (`probes[2].interval: …`).
 */
export function loadConfig(options: LoadOptions): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = path.resolve(cwd, options.file ?? env.PULSEBOARD_CONFIG ?? "pulseboard.yaml");
  const text = readConfigText(file);
  return parseConfig(text, { ...options, env, cwd, file });
}

/**
 * Validates configuration text (what `loadConfig` does after reading the file).
 * Every stage runs as far as it can, so one ConfigError lists every problem:
 * a wrong environment variable or a broken field does not hide the
 * cross-reference problems of the rest of the file.
 */
export function parseConfig(
  text: string,
  options: LoadOptions & { file: string; env: Record<string, string | undefined>; cwd: string },
): Config {
  const problems: string[] = [];
  const env = readSecretFiles(options.env, problems);
  const raw = parseYaml(text, options.file, problems);
  const interpolated = interpolateEnv(raw ?? {}, env, problems);
  const overrides = parseEnv(env, problems);
  const parsed = parseSalvaging(fileSchema, interpolated);
  problems.push(...parsed.problems);
  if (!parsed.data) throw new ConfigError(problems, options.file);

  const file: ConfigFile = applyEnv(parsed.data, overrides);
  const found: string[] = [];
  const config = resolveConfig(file, { file: options.file, cwd: options.cwd, probeKinds: options.probeKinds, channelKinds: options.channelKinds, fleetKinds: options.fleetKinds, playbookSteps: options.playbookSteps, problems: found });
  problems.push(...parsed.tidy(found));
  const targets = redisTargets({ redis: file.redis.url, cache: file.cache.url }, overrides, problems);
  if (problems.length > 0) throw new ConfigError(problems, options.file);
  config.redis.target = targets.redis;
  // On a Redis Cluster every control-plane key shares one slot: BullMQ needs a `{…}` prefix there, and
  // the store's scripts and transactions, the outboxes and the playbooks' locks each span several keys.
  if (targets.redis && isClusterTarget(targets.redis)) config.redis.prefix = `{${config.redis.prefix}}`;
  config.cache.target = targets.cache;
  config.fleet.inCluster = overrides.KUBERNETES_SERVICE_HOST !== undefined;
  const bin = overrides.REDIS_SERVER_BIN;
  config.embedded = {
    redisServer: bin ? (existsSync(bin) ? bin : undefined) : findExecutable("redis-server", overrides.PATH ?? ""),
    redisServerSetting: bin,
  };
  return config;
}

/** The environment's overrides; a variable that is wrong is a problem, and the file's value stands in for it so the rest is still checked. */
function parseEnv(env: Record<string, string | undefined>, problems: string[]): EnvOverrides {
  const parsed = envSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  problems.push(...formatIssues(parsed.error.issues));
  const wrong = new Set(parsed.error.issues.map((issue) => issue.path[0]));
  const rest = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([name]) => !wrong.has(name))));
  return rest.success ? rest.data : {};
}

function readConfigText(file: string): string {
  if (!existsSync(file)) {
    throw new ConfigError([`config file not found: ${file} (pass a path, or set PULSEBOARD_CONFIG)`]);
  }
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError([`cannot read ${file}: ${(err as Error).message}`]);
  }
}

/** Duplicate keys leave a tree worth checking further (the last one wins); other YAML errors do not. */
const TREE_STILL_SOUND = new Set(["DUPLICATE_KEY"]);

function parseYaml(text: string, file: string, problems: string[]): unknown {
  // Merge keys (`<<: *anchor`) let probes of one broker share its connection settings, as docker-compose files do.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, merge: true });
  for (const error of doc.errors) {
    const at = error.linePos?.[0];
    const where = at ? `line ${at.line}, column ${at.col}` : "YAML";
    problems.push(`${where}: ${error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`);
  }
  if (doc.errors.some((error) => !TREE_STILL_SOUND.has(error.code))) throw new ConfigError(problems, file);
  const value: unknown = doc.toJS();
  if (value !== null && value !== undefined && (typeof value !== "object" || Array.isArray(value))) {
    problems.push("(root): expected a mapping of settings (page, components, probes, …)");
    throw new ConfigError(problems, file);
  }
  return value;
}
