import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { createLogger, secretsIn } from "../../src/core/index.ts";
import { REPO_ROOT } from "../helpers/config.ts";

/** Field names that hold secrets: none may be logged, and the logger redacts them anyway. */
const SECRET_FIELDS = /\b(token|secret|password|passwd|authorization|api_?key|routing_?key|integration_?key|webhook_?url|cookie|smtp_?pass)\b\s*[:,}]/i;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : full.endsWith(".ts") ? [full] : [];
  });
}

describe("no secret in a log line", () => {
  it("no log call in src/ or probes/ passes a field named like a secret", () => {
    const found: string[] = [];
    for (const file of [...sources(path.join(REPO_ROOT, "src")), ...sources(path.join(REPO_ROOT, "probes"))]) {
      const text = readFileSync(file, "utf8");
      // A pino call: log.info({ … }, "message") (also this.log?.warn, ctx.log.error, …).
      for (const match of text.matchAll(/\blog\??\.(trace|debug|info|warn|error|fatal)\(\s*\{([^}]*)\}/g)) {
        if (SECRET_FIELDS.test(`${match[2]!}}`)) found.push(`${path.relative(REPO_ROOT, file)}: ${match[0].slice(0, 160)}`);
      }
    }
    assert.deepEqual(found, [], "log calls that pass a secret-looking field");
  });

  it("the logger redacts secret fields even if one slips through", () => {
    const lines: string[] = [];
    const log = createLogger({ level: "info", destination: { write: (line: string) => lines.push(line) } });
    log.info({ token: "tok-123", headers: { authorization: "Bearer abc" }, nested: { password: "pw-456", secret: "s-789" } }, "oops");
    const line = lines.join("");
    assert.match(line, /"msg":"oops"/);
    for (const secret of ["tok-123", "Bearer abc", "pw-456", "s-789"]) assert.ok(!line.includes(secret), `${secret} redacted: ${line}`);
  });

  it("the shipped config files hold no secret: every secret-named setting is an environment variable", () => {
    const found: string[] = [];
    for (const file of ["pulseboard.yaml", "docker-compose.yml"]) {
      const secrets = secretsIn(parse(readFileSync(path.join(REPO_ROOT, file), "utf8")));
      // What is left once the ${VAR} references (with Compose's :- and :? forms) are taken out: nothing, or an auth scheme.
      const literal = (value: string) => value.replace(/\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}/g, "").trim();
      found.push(...secrets.filter((value) => !/^(Bearer|Basic|token)?$/i.test(literal(value))).map((value) => `${file}: ${value.slice(0, 4)}…`));
    }
    assert.deepEqual(found, [], "literal secrets in shipped config");
  });
});
