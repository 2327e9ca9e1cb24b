import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { notifiers } from "../../src/notify/index.ts";
import { deliver, incidentStory, SmtpReceiver } from "../helpers/receivers.ts";

describe("notification channel kind email (SMTP, real SMTP server)", () => {
  let smtp: SmtpReceiver;
  const PASS = "smtp-pass-Kq8!v2Lz";
  const settings = (extra: Record<string, unknown> = {}) => ({
    host: "127.0.0.1",
    port: smtp.port,
    starttls: false,
    user: "pulseboard",
    pass: PASS,
    from: "Pulseboard <status@lumen.example>",
    to: ["oncall@lumen.example", "sre-leads@lumen.example"],
    ...extra,
  });
  const last = () => smtp.messages.at(-1)!;

  before(async () => {
    smtp = await SmtpReceiver.start({ user: "pulseboard", pass: PASS });
  });
  after(async () => {
    await smtp.stop();
  });

  it("sends to every recipient with the subject people scan for: [Impact] name — status", async () => {
    const { outcome } = await deliver("email", incidentStory().opened, settings());
    assert.deepEqual(outcome, { ok: true });
    const mail = last();
    assert.equal(mail.user, "pulseboard", "authenticated");
    assert.deepEqual(mail.envelope, { from: "status@lumen.example", to: ["oncall@lumen.example", "sre-leads@lumen.example"] });
    assert.equal(mail.subject, "[Critical] Major outage of Chat — Investigating");
    assert.equal(mail.headers.get("from"), "Pulseboard <status@lumen.example>");
    assert.equal(mail.headers.get("to"), "oncall@lumen.example, sre-leads@lumen.example");
    assert.equal(mail.headers.get("auto-submitted"), "auto-generated");
  });

  it("writes the update as typed in the text part, and escaped in the HTML part", async () => {
    const story = incidentStory({ name: `Chat <script>alert("x")</script>` });
    await deliver("email", story.opened, settings());
    const mail = last();
    assert.ok(mail.text.includes(story.opened.update.body), mail.text);
    assert.ok(mail.text.includes("View the incident: https://status.lumen.example/incidents/inc0chat0001"));
    assert.ok(mail.html.includes("Chat messages are &lt;b&gt;not&lt;/b&gt; delivered &amp; &quot;retries&quot; pile up &gt; 5s."), mail.html);
    assert.ok(mail.html.includes("<h2 style=\"color:#d93025;margin:4px 0 12px\">Chat &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</h2>"), mail.html);
    assert.ok(!mail.html.includes("<b>not</b>") && !mail.html.includes("<script>"), "nothing people typed is markup");
  });

  it("threads an incident's posts: the opening post starts the thread, later ones answer it", async () => {
    const story = incidentStory({ id: "incthread001" });
    await deliver("email", story.opened, settings());
    const opening = last().headers.get("message-id");
    await deliver("email", story.resolved, settings());
    const closing = last();
    assert.equal(opening, "<pulseboard.incident.incthread001@status.lumen.example>");
    assert.equal(closing.headers.get("in-reply-to"), opening);
    assert.equal(closing.headers.get("references"), opening);
    assert.equal(closing.subject, "[Critical] Major outage of Chat — Resolved");
  });

  it("retries a transient SMTP reply (4xx) at any stage", async () => {
    for (const at of ["mail", "rcpt", "data"] as const) {
      smtp.next({ at, code: 451, message: "4.3.0 Try again later" });
      const { outcome } = await deliver("email", incidentStory().opened, settings());
      assert.ok(!outcome.ok && outcome.retry && outcome.status === 451, `${at}: ${JSON.stringify(outcome)}`);
    }
  });

  it("does not retry a permanent SMTP reply (5xx), and says which command was refused", async () => {
    smtp.next({ at: "rcpt", code: 550, message: "5.1.1 No such user here" });
    const { outcome } = await deliver("email", incidentStory().opened, settings());
    assert.deepEqual(outcome, { ok: false, retry: false, status: 550, reason: `SMTP server 127.0.0.1:${smtp.port} refused the message at RCPT TO: 550 5.1.1 No such user here` });
  });

  it("does not retry wrong credentials, and never shows the password", async () => {
    const { outcome, logged } = await deliver("email", incidentStory().opened, settings({ pass: "wrong-Pass-9zz" }));
    assert.ok(!outcome.ok && !outcome.retry && outcome.status === 535, JSON.stringify(outcome));
    assert.ok(!outcome.ok && !outcome.reason.includes("wrong-Pass-9zz") && !logged.includes("wrong-Pass-9zz"));
  });

  it("explains a required STARTTLS the server does not offer", async () => {
    const { outcome } = await deliver("email", incidentStory().opened, settings({ starttls: true }));
    assert.ok(!outcome.ok && !outcome.retry && /STARTTLS.*offers no TLS upgrade/.test(outcome.reason), JSON.stringify(outcome));
  });

  it("checks its settings: both user and pass or neither, real addresses, at least one recipient", () => {
    const schema = notifiers.email.configSchema;
    const userOnly = schema.safeParse({ host: "mail", from: "a@b.example", to: ["c@d.example"], user: "x" });
    assert.match(userOnly.error!.issues[0]!.message, /set both user and pass, or neither/);
    const badAddress = schema.safeParse({ host: "mail", from: "a@b.example", to: ["oncall"] });
    assert.match(badAddress.error!.issues[0]!.message, /expected an email address/);
    const none = schema.safeParse({ host: "mail", from: "a@b.example", to: [] });
    assert.match(none.error!.issues[0]!.message, /at least one recipient/);
    const defaults = schema.parse({ host: "mail", from: "a@b.example", to: ["c@d.example"] }) as { secure: boolean; timeout: number };
    assert.equal(defaults.secure, false);
    assert.equal(defaults.timeout, 20_000);
  });
});
