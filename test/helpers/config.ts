import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig, type Config } from "../../src/config/index.ts";
import { ConfigError, createLogger, type Logger } from "../../src/core/index.ts";
import { fleetKinds } from "../../src/fleet/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import { playbookSteps } from "../../src/playbooks/index.ts";
import { ProbeRegistry } from "../../src/probe-runtime/index.ts";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

let registry: Promise<ProbeRegistry> | undefined;

/** The probe kinds in probes/, loaded once per test process. */
export function probeRegistry(): Promise<ProbeRegistry> {
  registry ??= ProbeRegistry.load();
  return registry;
}

/** Parses YAML config text the way `pulseboard` would, with the given environment. */
export async function configFrom(yaml: string, env: Record<string, string | undefined> = {}): Promise<Config> {
  return parseConfig(yaml, {
    file: path.join(REPO_ROOT, "test-config.yaml"),
    env,
    cwd: REPO_ROOT,
    probeKinds: await probeRegistry(),
    channelKinds,
    fleetKinds,
    playbookSteps,
  });
}

/** The problems a refused config text is refused with; fails the test when it is accepted. */
export async function problemsOf(yaml: string, env: Record<string, string> = {}): Promise<string[]> {
  try {
    await configFrom(yaml, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected the configuration to be refused");
}

/** A logger for tests: silent unless TEST_LOG_LEVEL says otherwise. */
export function testLog(): Logger {
  return createLogger({ level: process.env.TEST_LOG_LEVEL ?? "silent", pretty: false });
}
