import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/core/index.ts";
import type { Incident } from "../../src/status/index.ts";
import { endpointProblem, incidentAsOf, LinkSigner, subscribeInput, wants } from "../../src/subscriptions/index.ts";
import { configFrom } from "../helpers/config.ts";

const BASE = `
locations: [{ id: local }]
components: [{ id: chat, name: Chat }, { id: qa, name: Q&A }]
`;

async function problemsOf(yaml: string): Promise<string[]> {
  try {
    await configFrom(yaml);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected the configuration to be refused");
}

describe("subscriptions: configuration", () => {
  it("defaults: webhooks on, no e-mail, links valid 24h, 10 requests a minute per client", async () => {
    const { subscriptions } = await configFrom(BASE);
    assert.deepEqual(subscriptions, { webhook: { enabled: true }, confirmTtlMs: 86_400_000, secret: undefined, rateLimit: { requests: 10, perMs: 60_000 } });
  });

  it("checks e-mail SMTP settings with the email channel's schema, naming the field", async () => {
    const ok = await configFrom(`${BASE}
subscriptions:
  email: { from: "Status <status@acme.example>", smtp: { host: smtp.acme.example, user: status, pass: hunter2-hunter2 } }
`);
    const settings = ok.subscriptions.email!.settings as { host: string; from: string; secure: boolean; timeout: number };
    assert.deepEqual([settings.host, settings.from, settings.secure, settings.timeout], ["smtp.acme.example", "Status <status@acme.example>", false, 20_000]);
    const problems = await problemsOf(`${BASE}
subscriptions:
  email: { from: "not an address", smtp: { port: 99999, user: only-user } }
`);
    assert.ok(problems.some((p) => p.startsWith("subscriptions.email.from: expected an email address")), problems.join("\n"));
    assert.ok(problems.some((p) => p.startsWith("subscriptions.email.smtp.host: expected the SMTP server's host name")), problems.join("\n"));
    assert.ok(problems.some((p) => p.startsWith("subscriptions.email.smtp.port:")), problems.join("\n"));
    assert.ok(!problems.some((p) => p.includes(".to")), "the placeholder recipient never shows");
    const half = await problemsOf(`${BASE}
subscriptions:
  email: { from: "status@acme.example", smtp: { host: smtp.acme.example, user: only-user } }
`);
    assert.deepEqual(half, ["subscriptions.email.smtp: set both user and pass, or neither"]);
  });

  it("refuses a `to` in the SMTP settings, a short secret and a confirmation window out of range", async () => {
    const to = await problemsOf(`${BASE}
subscriptions:
  email: { from: "status@acme.example", smtp: { host: smtp.acme.example, to: [ana@acme.example] } }
`);
    assert.deepEqual(to, ['subscriptions.email.smtp: set the sender as subscriptions.email.from; recipients are the subscribers, so there is no "to"']);
    const problems = await problemsOf(`${BASE}
subscriptions:
  secret: too-short
  confirm_ttl: 1m
  rate_limit: { requests: 0 }
`);
    assert.ok(problems.some((p) => p.startsWith("subscriptions.secret: must be at least 32 characters")), problems.join("\n"));
    assert.ok(problems.includes("subscriptions.confirm_ttl: must be from 5m to 7d"), problems.join("\n"));
    assert.ok(problems.some((p) => p.startsWith("subscriptions.rate_limit.requests:")), problems.join("\n"));
  });

  it("e-mail can be configured and turned off", async () => {
    const { subscriptions } = await configFrom(`${BASE}
subscriptions:
  webhook: { enabled: false }
  email: { enabled: false, from: "status@acme.example", smtp: { host: smtp.acme.example } }
`);
    assert.equal(subscriptions.email, undefined);
    assert.equal(subscriptions.webhook.enabled, false);
  });
});

describe("subscriptions: input", () => {
  it("refuses endpoints that are not http(s), or point at link-local or metadata addresses", () => {
    for (const ok of ["https://hooks.example.com/statuspage", "http://127.0.0.1:8080/hook", "https://[2001:db8::1]/x", "https://user:pass@hooks.example.com/x?token=abc"]) {
      assert.equal(endpointProblem(ok), undefined, ok);
    }
    const refused: [string, RegExp][] = [
      ["ftp://hooks.example.com/", /scheme must be http or https, not ftp/],
      ["javascript:alert(1)", /scheme must be http or https/],
      ["hooks.example.com/x", /expected an http\(s\) URL/],
      ["http://169.254.169.254/latest/meta-data/", /link-local/],
      ["http://[fe80::1%25eth0]/", /./],
      ["http://[::ffff:169.254.169.254]/", /link-local/],
      ["http://metadata.google.internal/", /metadata service/],
      ["http://100.100.100.200/latest/meta-data", /metadata service/],
      ["http://[fd00:ec2::254]/", /metadata service/],
      ["http://0.0.0.0:8080/", /unspecified address/],
      ["https://hooks.example.com/a b", /no spaces/],
      [`https://hooks.example.com/${"a".repeat(2_000)}`, /at most 2000 characters/],
    ];
    for (const [url, pattern] of refused) assert.match(endpointProblem(url) ?? "accepted", pattern, url);
  });

  it("normalizes addresses and component lists from JSON and forms", () => {
    const email = subscribeInput.parse({ type: "email", email: "  Ana@Example.COM ", components: "chat, qa,chat" });
    assert.deepEqual(email, { type: "email", email: "Ana@example.com", components: ["chat", "qa"] });
    const hook = subscribeInput.parse({ type: "webhook", endpoint: "HTTPS://Hooks.Example.com/x" });
    assert.deepEqual(hook, { type: "webhook", endpoint: "https://hooks.example.com/x", components: [] });
    for (const bad of ["ana", "ana@", "@example.com", "ana@example", "Ana <ana@example.com>", "ana@exa mple.com", "a\r\nBcc: x@example.com"]) {
      assert.equal(subscribeInput.safeParse({ type: "email", email: bad }).success, false, bad);
    }
  });

  it("a subscriber with no components wants everything; one with some wants what touches them", () => {
    assert.equal(wants({ components: [] }, []), true);
    assert.equal(wants({ components: ["chat"] }, ["qa", "chat"]), true);
    assert.equal(wants({ components: ["chat"] }, ["qa"]), false);
    assert.equal(wants({ components: ["chat"] }, []), false);
  });
});

describe("subscriptions: links", () => {
  it("tokens verify only with their key and purpose, and carry nothing but the id", () => {
    const signer = new LinkSigner(Buffer.from("k".repeat(32)));
    const token = signer.token("confirm", "0123456789abcdef");
    assert.match(token, /^0123456789abcdef\.[A-Za-z0-9_-]{43}$/);
    assert.equal(signer.verify("confirm", token), "0123456789abcdef");
    assert.equal(signer.verify("unsubscribe", token), undefined);
    assert.equal(new LinkSigner(Buffer.from("x".repeat(32))).verify("confirm", token), undefined);
    assert.equal(signer.verify("confirm", `fedcba9876543210.${token.split(".")[1]}`), undefined);
    assert.equal(signer.verify("confirm", token.slice(0, -2)), undefined);
  });
});

describe("subscriptions: an incident as of one of its entries", () => {
  const at = (m: number) => new Date(Date.UTC(2025, 5, 1, 14, m)).toISOString();
  const incident: Incident = {
    id: "inc1",
    name: "Chat is down",
    status: "resolved",
    impact: "critical",
    automatic: false,
    created_at: at(0),
    updated_at: at(20),
    started_at: at(0),
    monitoring_at: at(10),
    resolved_at: at(20),
    components: { chat: "operational" },
    updates: [
      { id: "u0", status: "investigating", body: "Down.", created_at: at(0), display_at: at(0), affected_components: [{ code: "chat", name: "Chat", old_status: "operational", new_status: "major_outage" }], author: { kind: "person", name: "Ana" } },
      { id: "u1", status: "monitoring", body: "Fixed.", created_at: at(10), display_at: at(10), affected_components: [], author: { kind: "person", name: "Ana" } },
      { id: "u2", status: "resolved", body: "Over.", created_at: at(20), display_at: at(20), affected_components: [{ code: "chat", name: "Chat", old_status: "major_outage", new_status: "operational" }], author: { kind: "person", name: "Ana" } },
    ],
    postmortem: null,
    revision: 3,
  };

  it("leaves later entries out and takes the status and stamps of its moment", () => {
    const opened = incidentAsOf(incident, 0);
    assert.deepEqual([opened.status, opened.updated_at, opened.monitoring_at, opened.resolved_at, opened.updates.length], ["investigating", at(0), null, null, 1]);
    assert.deepEqual(opened.components, { chat: "major_outage" });
    const monitoring = incidentAsOf(incident, 1);
    assert.deepEqual([monitoring.status, monitoring.monitoring_at, monitoring.resolved_at], ["monitoring", at(10), null]);
    assert.equal(incidentAsOf(incident, 2), incident, "the latest entry is the incident as it is");
  });
});
