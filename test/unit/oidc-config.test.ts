import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import type { OidcConfig } from "../../src/config/index.ts";
import { personFrom } from "../../src/web/console/oidc-identity.ts";
import { configFrom, problemsOf, REPO_ROOT } from "../helpers/config.ts";

const SECRET = "oidc-client-secret-that-must-never-show-0123";
const BASE = `
page: { name: Lumen, url: "https://status.example.com" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
`;
const oidc = (fields: string) => `${BASE}admin:\n  oidc:\n${fields.trim().split("\n").map((l) => `    ${l.trim()}`).join("\n")}\n`;
const GOOD = `
issuer: https://login.example.com/realms/ops
client_id: pulseboard
client_secret: ${SECRET}
scopes: { oncall: [incidents, playbooks], support: [read] }
`;

describe("admin.oidc (sign in to the console with an identity provider)", () => {
  it("is off unless configured, and fills in the defaults from the page's URL and the issuer", async () => {
    assert.equal((await configFrom(BASE)).admin.oidc, undefined);
    const { admin } = await configFrom(oidc(GOOD));
    assert.deepEqual(admin.oidc, {
      name: "login.example.com",
      issuer: "https://login.example.com/realms/ops",
      clientId: "pulseboard",
      clientSecret: SECRET,
      clientAuth: "basic",
      redirectUrl: "https://status.example.com/admin/oidc/callback",
      claim: "groups",
      requestScopes: ["openid", "profile", "email"],
      scopes: { oncall: ["incidents", "playbooks"], support: ["read"] },
      insecureLoopback: false,
    });
    const behindProxy = await configFrom(oidc(GOOD), { PUBLIC_URL: "https://ops.example.com/status" });
    assert.equal(behindProxy.admin.oidc!.redirectUrl, "https://ops.example.com/status/admin/oidc/callback", "PUBLIC_URL wins over page.url, path kept");
  });

  it("reads the client's secret from a file, relative to the working directory", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-oidc-"));
    try {
      writeFileSync(path.join(dir, "secret"), `${SECRET}\n`);
      const config = await configFrom(oidc(GOOD.replace(`client_secret: ${SECRET}`, `client_secret_file: ${path.join(dir, "secret")}`)));
      assert.equal(config.admin.oidc!.clientSecret, SECRET, "trimmed of its newline");
      const problems = await problemsOf(oidc(GOOD.replace(`client_secret: ${SECRET}`, `client_secret_file: ${path.join(dir, "missing")}`)));
      assert.deepEqual(problems, [`admin.oidc.client_secret_file: cannot read ${path.join(dir, "missing")} (ENOENT)`]);
      writeFileSync(path.join(dir, "empty"), "\n");
      assert.deepEqual(await problemsOf(oidc(GOOD.replace(`client_secret: ${SECRET}`, `client_secret_file: ${path.join(dir, "empty")}`))), [`admin.oidc.client_secret_file: ${path.join(dir, "empty")} is empty`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("allows plain http only for a provider on this machine", async () => {
    for (const issuer of ["http://127.0.0.1:9000", "http://[::1]:9000/", "http://localhost:9000/realms/x"]) {
      const config = await configFrom(oidc(GOOD.replace("https://login.example.com/realms/ops", issuer)));
      assert.equal(config.admin.oidc!.insecureLoopback, true, issuer);
    }
    assert.deepEqual(await problemsOf(oidc(GOOD.replace("https://login.example.com", "http://login.example.com"))), [
      "admin.oidc.issuer: must be an https URL (plain http only for a provider on this machine: localhost, 127.0.0.1, ::1)",
    ]);
  });

  it("names each problem by its field, never quoting the secret", async () => {
    const cases: [string, string[]][] = [
      [GOOD.replace(`client_secret: ${SECRET}\n`, ""), ["admin.oidc.client_secret: give the client's secret (client_secret, or client_secret_file with the path of a file holding it)"]],
      [`${GOOD}\nclient_secret_file: /run/secrets/x`, ["admin.oidc.client_secret_file: give client_secret or client_secret_file, not both"]],
      [GOOD.replace("https://login.example.com/realms/ops", "login.example.com"), ["admin.oidc.issuer: expected the identity provider's issuer URL, like https://login.example.com/realms/ops"]],
      [GOOD.replace("client_id: pulseboard\n", ""), ["admin.oidc.client_id: expected the client id the provider gave the console"]],
      [GOOD.replace("[incidents, playbooks]", "[incident, playbooks]"), ['admin.oidc.scopes.oncall[0]: "incident" is not a console scope (did you mean "incidents"?); expected one of read, incidents, playbooks, fleet, admin']],
      [GOOD.replace("[incidents, playbooks]", '["agent:eu"]'), ['admin.oidc.scopes.oncall[0]: "agent:eu" is not a console scope; expected one of read, incidents, playbooks, fleet, admin']],
      [GOOD.replace("support: [read]", "support: []"), ["admin.oidc.scopes.support: give the group at least one scope (read to look only)"]],
      [GOOD.replace("{ oncall: [incidents, playbooks], support: [read] }", "{}"), ["admin.oidc.scopes: map at least one group to scopes, like { oncall: [incidents] }: without one nobody could sign in"]],
      [`${GOOD}\nredirect_url: https://status.example.com/callback`, ['admin.oidc.redirect_url: must end in /admin/oidc/callback with no query (that is where the console takes the provider\'s answer), got "https://status.example.com/callback"']],
      [`${GOOD}\nrequest_scopes: [profile, email]`, ['admin.oidc.request_scopes: must include "openid" (it is what makes this OpenID Connect)']],
      [`${GOOD}\nclient_auth: jwt`, ['admin.oidc.client_auth: expected "basic" (client_secret_basic) or "post" (client_secret_post)']],
      [`${GOOD}\nclaims: roles`, ['admin.oidc: Unrecognized key: "claims" (did you mean "claim"?)']],
    ];
    for (const [fields, expected] of cases) {
      const problems = await problemsOf(oidc(fields));
      assert.deepEqual(problems, expected, fields);
      assert.ok(!problems.join("\n").includes(SECRET), "no problem quotes the secret");
    }
  });

  it("config check shows the provider, the callback and the group mapping, and not the secret", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-oidc-"));
    try {
      const file = path.join(dir, "pulseboard.yaml");
      writeFileSync(file, oidc(`name: Acme SSO\n${GOOD}`));
      const run = spawnSync(process.execPath, [path.join(REPO_ROOT, "bin/pulseboard.js"), "config", "check", file], { encoding: "utf8", env: { ...process.env, PORT: "", PUBLIC_URL: "" } });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /console sign-in: tokens, and OpenID Connect with Acme SSO \(issuer https:\/\/login\.example\.com\/realms\/ops, client pulseboard, callback https:\/\/status\.example\.com\/admin\/oidc\/callback; groups from the "groups" claim: oncall → incidents, playbooks; support → read\)/);
      assert.ok(!run.stdout.includes(SECRET) && !run.stderr.includes(SECRET), "the secret is shown nowhere");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("an identity provider's claims as a console person", () => {
  const mapping: Pick<OidcConfig, "claim" | "nameClaim" | "scopes"> = { claim: "groups", scopes: { oncall: ["incidents", "playbooks"], support: ["read"], admins: ["admin"] } };

  it("gives every scope of every mapped group, in the admin API's order, and ignores unmapped groups", () => {
    const person = personFrom({ sub: "u1", name: "Ada Lovelace", groups: ["support", "marketing", "oncall"] }, mapping);
    assert.deepEqual(person, { name: "Ada Lovelace", subject: "u1", groups: ["support", "marketing", "oncall"], scopes: ["read", "incidents", "playbooks"] });
    assert.deepEqual(personFrom({ sub: "u2", groups: "oncall" }, mapping).scopes, ["incidents", "playbooks"], "one group as a string");
    assert.deepEqual(personFrom({ sub: "u3", groups: ["marketing"] }, mapping).scopes, [], "no mapped group: no scope");
    assert.deepEqual(personFrom({ sub: "u4" }, mapping).scopes, [], "no claim at all");
    assert.deepEqual(personFrom({ sub: "u5", groups: ["constructor", "__proto__", "toString"] }, mapping).scopes, [], "names of Object's own properties are groups like any other");
    assert.deepEqual(personFrom({ sub: "u6", roles: ["admins"] }, { ...mapping, claim: "roles" }).scopes, ["admin"], "another claim");
  });

  it("names the person by name_claim, else name, else email, else sub, on one line and not too long", () => {
    assert.equal(personFrom({ sub: "u1", name: "Ada", email: "ada@example.com", preferred_username: "ada" }, { ...mapping, nameClaim: "preferred_username" }).name, "ada");
    assert.equal(personFrom({ sub: "u1", name: "Ada", email: "ada@example.com" }, { ...mapping, nameClaim: "nickname" }).name, "Ada", "a missing name_claim falls back");
    assert.equal(personFrom({ sub: "u1", email: "ada@example.com" }, mapping).name, "ada@example.com");
    assert.equal(personFrom({ sub: "u1", name: "  " }, mapping).name, "u1");
    assert.equal(personFrom({ sub: "u1", name: "Ada\nPOST /admin/api/tokens 200\u202e" }, mapping).name, "Ada POST /admin/api/tokens 200", "no forged lines");
    assert.equal(personFrom({ sub: "u1", name: "x".repeat(500) }, mapping).name.length, 64);
  });
});
