import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { pageUrlWarning } from "../../src/config/index.ts";
import { configFrom, REPO_ROOT } from "../helpers/config.ts";

const SHIPPED = readFileSync(path.join(REPO_ROOT, "pulseboard.yaml"), "utf8");
const BIN = path.join(REPO_ROOT, "bin/pulseboard.js");
const MINIMAL = `
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
`;
const withPage = (url: string) => `page: { name: Acme, url: "${url}" }\n${MINIMAL}`;

/** The environment of a CLI run: ours without anything that would change the page URL or reach a real Redis. */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const name of ["PUBLIC_URL", "HOST", "REDIS_URL", "CACHE_REDIS_URL", "PULSEBOARD_CONFIG", "ADMIN_TOKEN"]) if (!(name in extra)) delete env[name];
  return env;
}

describe("the page URL follows the served port unless PUBLIC_URL or page.url says otherwise", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-page-url-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("the shipped pulseboard.yaml with PORT=3300 and no PUBLIC_URL links to :3300 (and HOST when it is an address to reach)", async () => {
    assert.equal((await configFrom(SHIPPED, { PORT: "3300" })).page.url, "http://localhost:3300");
    assert.equal((await configFrom(SHIPPED, { PORT: "3300", HOST: "127.0.0.1" })).page.url, "http://127.0.0.1:3300");
    assert.equal((await configFrom(SHIPPED, { PORT: "3300", HOST: "0.0.0.0" })).page.url, "http://localhost:3300");
    assert.equal((await configFrom(SHIPPED, { PORT: "3300", HOST: "::1" })).page.url, "http://[::1]:3300");
    assert.equal((await configFrom(SHIPPED)).page.url, "http://localhost:3000");
  });

  it("PUBLIC_URL wins over PORT and over page.url; page.url wins over PORT", async () => {
    assert.equal((await configFrom(SHIPPED, { PORT: "3300", PUBLIC_URL: "https://status.acme.test" })).page.url, "https://status.acme.test");
    assert.equal((await configFrom(withPage("https://file.acme.test"), { PUBLIC_URL: "https://status.acme.test" })).page.url, "https://status.acme.test");
    assert.equal((await configFrom(withPage("https://file.acme.test"), { PORT: "3300" })).page.url, "https://file.acme.test");
  });

  it("refuses a PUBLIC_URL that is not a URL, naming the variable", async () => {
    await assert.rejects(configFrom(SHIPPED, { PUBLIC_URL: "status.acme.test" }), (err: Error & { problems?: string[] }) => {
      assert.deepEqual(err.problems, ["PUBLIC_URL: expected the public URL of the status page, like https://status.example.com"]);
      return true;
    });
  });

  it("warns when page.url is a localhost URL on another port than the one served, and only then", async () => {
    const warning = pageUrlWarning(await configFrom(withPage("http://localhost:3000"), { PORT: "3300" }));
    assert.ok(warning, "expected a warning");
    assert.match(warning, /page\.url http:\/\/localhost:3000 /);
    assert.match(warning, /port 3300/);
    assert.match(warning, /PUBLIC_URL/);
    assert.ok(pageUrlWarning(await configFrom(withPage("http://127.0.0.1"), { PORT: "3300" })), "port 80 by default");
    assert.ok(pageUrlWarning(await configFrom(withPage("http://[::1]:3000/"), { PORT: "3300" })));
    assert.equal(pageUrlWarning(await configFrom(withPage("http://localhost:3300/"), { PORT: "3300" })), undefined);
    assert.equal(pageUrlWarning(await configFrom(withPage("https://status.acme.test"), { PORT: "3300" })), undefined);
    assert.equal(pageUrlWarning(await configFrom(SHIPPED, { PORT: "3300" })), undefined);
  });

  it("`pulseboard config check` prints that warning and still passes the file", () => {
    const file = path.join(dir, "stale-port.yaml");
    writeFileSync(file, withPage("http://localhost:3000"));
    const run = spawnSync(process.execPath, [BIN, "config", "check", file], { encoding: "utf8", env: cliEnv({ PORT: "3300" }) });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /valid/);
    assert.match(run.stderr, /warning: page\.url http:\/\/localhost:3000 .*port 3300/);
    const fine = spawnSync(process.execPath, [BIN, "config", "check", file], { encoding: "utf8", env: cliEnv({ PORT: "3000" }) });
    assert.equal(fine.status, 0, fine.stderr);
    assert.doesNotMatch(fine.stderr, /warning/);
  });

  it("`pulseboard start` logs that warning before it starts anything", () => {
    const file = path.join(dir, "stale-port.yaml");
    writeFileSync(file, withPage("http://localhost:3000"));
    // A redis-server that does not exist stops `start` right after the warning, before any process is started.
    const env = cliEnv({ PORT: "3300", PULSEBOARD_HOME: path.join(dir, "home"), REDIS_SERVER_BIN: path.join(dir, "no-redis-server"), LOG_LEVEL: "info" });
    const run = spawnSync(process.execPath, [BIN, "start", "--config", file], { encoding: "utf8", env, timeout: 30_000 });
    assert.match(run.stderr, /REDIS_SERVER_BIN points to/, "start stopped where expected");
    const warning = run.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: string; msg: string; url?: string; port?: number })
      .find((entry) => entry.msg.startsWith("page.url "));
    assert.ok(warning, run.stdout);
    assert.equal(warning.level, "warn");
    assert.match(warning.msg, /page\.url http:\/\/localhost:3000 .*port 3300/);
    assert.equal(warning.url, "http://localhost:3000");
    assert.equal(warning.port, 3300);
  });
});
