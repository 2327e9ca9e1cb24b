import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/core/index.ts";
import { proxyFor, remoteAgentSettings, type RemoteAgentArgs } from "../../src/remote-agent/index.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-remote-settings-"));
const tokenFile = path.join(dir, "token");
writeFileSync(tokenFile, "pb_agent_token\n");

function problems(args: RemoteAgentArgs, env: Record<string, string> = {}): string[] {
  try {
    remoteAgentSettings(args, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected the flags to be refused");
}

describe("remote agent settings", () => {
  it("reads the flags and the environment once", () => {
    const settings = remoteAgentSettings(
      { location: "eu-west", server: "https://status.example.com/sub", tokenFile, buffer: "50" },
      { https_proxy: "http://lower:3128", HTTPS_PROXY: "http://upper:3128", NO_PROXY: "internal", NODE_EXTRA_CA_CERTS: "/etc/ca.pem" },
    );
    assert.equal(settings.server.href, "https://status.example.com/sub/");
    assert.deepEqual(settings.token, { file: tokenFile });
    assert.equal(settings.bufferSize, 50);
    assert.deepEqual(settings.proxy, { httpProxy: undefined, httpsProxy: "http://lower:3128", noProxy: "internal" });
    assert.equal(settings.extraCaFile, "/etc/ca.pem");
  });

  it("takes the token from PULSEBOARD_AGENT_TOKEN when no file is named", () => {
    const settings = remoteAgentSettings({ location: "eu-west", server: "http://127.0.0.1:1" }, { PULSEBOARD_AGENT_TOKEN: " tok " });
    assert.deepEqual(settings.token, { env: "PULSEBOARD_AGENT_TOKEN", value: "tok" });
    assert.equal(settings.bufferSize, 10_000);
  });

  it("names each wrong flag", () => {
    const empty = path.join(dir, "empty");
    writeFileSync(empty, "\n");
    assert.deepEqual(problems({ server: "ftp://x", tokenFile: path.join(dir, "missing"), buffer: "lots" }), [
      "--location: name the location this agent probes from (--location eu-west)",
      "--server: expected an http(s) URL, got ftp:",
      `--token-file: cannot read ${path.join(dir, "missing")}: ENOENT: no such file or directory, open '${path.join(dir, "missing")}'`,
      '--buffer: expected a whole number of results from 1 to 1000000, got "lots"',
    ]);
    assert.deepEqual(problems({ location: "EU", server: "https://u:p@x/", tokenFile: empty, ca: tokenFile }), [
      '--location: "EU" is not a location id (lowercase letters, digits and dashes)',
      "--server: put no credentials in the URL; the agent authenticates with its token (--token-file)",
      `--token-file: ${empty} is empty; it must hold the agent token`,
      `--ca: ${tokenFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    ]);
    assert.match(problems({ location: "eu", server: "not a url" }).join("\n"), /--server: "not a url" is not a URL[\s\S]*--token-file: give the file holding the agent token \(or set PULSEBOARD_AGENT_TOKEN\)/);
  });
});

describe("remote agent proxy choice", () => {
  const https = new URL("https://status.example.com/");
  const http = new URL("http://127.0.0.1:8080/");

  it("uses HTTPS_PROXY for an https server, else HTTP_PROXY, and hides proxy passwords", () => {
    assert.deepEqual(proxyFor(https, { httpsProxy: "http://user:secret@proxy:3128" }), { url: "http://user:secret@proxy:3128", variable: "HTTPS_PROXY", words: "HTTPS_PROXY http://user:***@proxy:3128/" });
    assert.equal(proxyFor(https, { httpProxy: "http://proxy:8080" }).words, "HTTP_PROXY http://proxy:8080/");
    assert.equal(proxyFor(http, { httpsProxy: "http://proxy:3128" }).words, "none");
    assert.equal(proxyFor(http, {}).url, undefined);
  });

  it("bypasses the proxy for NO_PROXY hosts, domains and ports", () => {
    const env = { httpsProxy: "http://proxy:3128", httpProxy: "http://proxy:3128" };
    assert.equal(proxyFor(https, { ...env, noProxy: "localhost, .example.com" }).words, 'none (NO_PROXY entry ".example.com" matches status.example.com)');
    assert.equal(proxyFor(https, { ...env, noProxy: "*" }).url, undefined);
    assert.equal(proxyFor(https, { ...env, noProxy: "example.com:8443" }).url, "http://proxy:3128", "another port is proxied");
    assert.equal(proxyFor(http, { ...env, noProxy: "127.0.0.1:8080" }).url, undefined);
    assert.equal(proxyFor(https, { ...env, noProxy: "ample.com" }).url, "http://proxy:3128", "a name's tail is not a domain");
  });

  it("refuses a proxy URL that is not http(s)", () => {
    assert.throws(() => proxyFor(https, { httpsProxy: "socks5://proxy:1080" }), /HTTPS_PROXY: expected an http:\/\/ or https:\/\/ proxy URL/);
  });
});
