import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { z } from "zod";
import { ConfigError } from "../core/index.ts";
import type { Probe } from "./types.ts";

/** The folder of probe kinds at the top of the repository. */
export const PROBES_DIR = fileURLToPath(new URL("../../probes/", import.meta.url));

/** Every probe kind found in probes/, by kind. */
export class ProbeRegistry {
  private constructor(private readonly byKind: Map<string, Probe>) {}

  /**
   * Loads every `probes/<kind>.ts` (or .js): a user adds a kind by adding a
   * file. Each must export a probe as default whose `kind` is its file name.
   */
  static async load(dir: string = PROBES_DIR): Promise<ProbeRegistry> {
    const files = readdirSync(dir).filter((f) => /^[a-z0-9][a-z0-9-]*\.(ts|js|mjs)$/.test(f) && !/\.(test|d)\.ts$/.test(f));
    const byKind = new Map<string, Probe>();
    const problems: string[] = [];
    for (const file of files.sort()) {
      const kind = file.replace(/\.(ts|js|mjs)$/, "");
      const mod = (await import(pathToFileURL(path.join(dir, file)).href)) as { default?: unknown };
      const probe = mod.default as Partial<Probe> | undefined;
      if (!probe || typeof probe.run !== "function" || typeof probe.configSchema?.safeParse !== "function") {
        problems.push(`probes/${file}: the default export must be a probe (kind, description, configSchema, run)`);
      } else if (probe.kind !== kind) {
        problems.push(`probes/${file}: kind is "${probe.kind}", but a probe kind must be named like its file ("${kind}")`);
      } else {
        byKind.set(kind, probe as Probe);
      }
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return new ProbeRegistry(byKind);
  }

  kinds(): string[] {
    return [...this.byKind.keys()];
  }

  get(kind: string): Probe | undefined {
    return this.byKind.get(kind);
  }

  schema(kind: string): z.ZodType | undefined {
    return this.byKind.get(kind)?.configSchema;
  }
}
