import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { findExecutable } from "../../src/core/index.ts";
import { problemsOf } from "../helpers/config.ts";
import { deliver, incidentStory, SmtpReceiver, type SmtpTls } from "../helpers/receivers.ts";

/**
 * The email channel over TLS, against a real SMTP server (smtp-server) with
 * certificates made here by openssl: STARTTLS and TLS from the first byte,
 * trusting a private CA through the channel's `tls.ca`, and refusing a
 * certificate it was not told to trust, or one for another name.
 */

/** A self-signed certificate for `subjectAltName` (its own CA), as PEM text and the file it is in. */
interface Certificate {
  key: string;
  cert: string;
  certFile: string;
}

function makeCertificate(dir: string, name: string, subjectAltName: string): Certificate {
  const openssl = findExecutable("openssl", process.env.PATH ?? "");
  if (!openssl) throw new Error("openssl is not installed: run `node scripts/system-deps.mjs openssl`");
  const keyFile = path.join(dir, `${name}-key.pem`);
  const certFile = path.join(dir, `${name}-cert.pem`);
  execFileSync(openssl, [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-subj", `/CN=${name}`, "-addext", `subjectAltName=${subjectAltName}`, "-keyout", keyFile, "-out", certFile,
  ], { stdio: "ignore", timeout: 10_000 });
  return { key: readFileSync(keyFile, "utf8"), cert: readFileSync(certFile, "utf8"), certFile };
}

describe("notification channel kind email over TLS (real SMTP server, certificates made by openssl)", { timeout: 60_000 }, () => {
  let dir: string;
  /** The servers' own certificate, for 127.0.0.1. */
  let local: Certificate;
  /** Another self-signed certificate for 127.0.0.1: trusting it does not make `local` trusted. */
  let stranger: Certificate;
  /** A certificate for another host name. */
  let elsewhere: Certificate;
  const receivers: SmtpReceiver[] = [];
  const story = incidentStory();

  const server = async (tls: SmtpTls): Promise<SmtpReceiver> => {
    const receiver = await SmtpReceiver.start({ user: "pulseboard", pass: "smtp-tls-pass-4Rq9" }, tls);
    receivers.push(receiver);
    return receiver;
  };
  const settings = (receiver: SmtpReceiver, extra: Record<string, unknown>) => ({
    host: "127.0.0.1",
    port: receiver.port,
    user: "pulseboard",
    pass: "smtp-tls-pass-4Rq9",
    from: "Pulseboard <status@lumen.example>",
    to: ["oncall@lumen.example"],
    timeout: "5s",
    ...extra,
  });

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-smtp-tls-"));
    local = makeCertificate(dir, "local", "IP:127.0.0.1");
    stranger = makeCertificate(dir, "stranger", "IP:127.0.0.1");
    elsewhere = makeCertificate(dir, "elsewhere", "DNS:smtp.elsewhere.example");
  });
  after(async () => {
    await Promise.all(receivers.map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("delivers over STARTTLS to a server whose CA is given as a file in tls.ca: the mail arrives encrypted, with the incident's text", async () => {
    const smtp = await server({ key: local.key, cert: local.cert });
    const { outcome } = await deliver("email", story.opened, settings(smtp, { starttls: true, tls: { ca: local.certFile } }));
    assert.deepEqual(outcome, { ok: true });
    assert.equal(smtp.messages.length, 1);
    const mail = smtp.messages[0]!;
    assert.equal(mail.secure, true, "upgraded to TLS before the message was sent");
    assert.equal(mail.user, "pulseboard", "authenticated over the upgraded connection");
    assert.equal(mail.subject, "[Critical] Major outage of Chat — Investigating");
    assert.ok(mail.text.includes(story.opened.update.body), mail.text);
  });

  it("delivers with TLS from the first byte (secure: true) to a server whose CA is given as PEM text", async () => {
    const smtp = await server({ key: local.key, cert: local.cert, implicit: true });
    const { outcome } = await deliver("email", story.resolved, settings(smtp, { secure: true, tls: { ca: local.cert } }));
    assert.deepEqual(outcome, { ok: true });
    assert.equal(smtp.messages.length, 1);
    const mail = smtp.messages[0]!;
    assert.equal(mail.secure, true);
    assert.equal(mail.subject, "[Critical] Major outage of Chat — Resolved");
    assert.ok(mail.text.includes(story.resolved.update.body), mail.text);
  });

  it("refuses a certificate it was not told to trust, over STARTTLS and implicit TLS, naming the TLS problem", async () => {
    const starttls = await server({ key: local.key, cert: local.cert });
    const implicit = await server({ key: local.key, cert: local.cert, implicit: true });
    const cases = [
      { what: "STARTTLS, system CAs only", smtp: starttls, extra: { starttls: true } },
      { what: "STARTTLS, another certificate trusted", smtp: starttls, extra: { starttls: true, tls: { ca: stranger.cert } } },
      { what: "implicit TLS, system CAs only", smtp: implicit, extra: { secure: true } },
    ];
    for (const { what, smtp, extra } of cases) {
      const { outcome } = await deliver("email", story.opened, settings(smtp, extra));
      assert.equal(outcome.ok, false, `${what}: refused`);
      assert.match(
        !outcome.ok ? outcome.reason : "",
        /^SMTP server 127\.0\.0\.1:\d+ presented a certificate that was refused: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\); trust its issuer with the channel's tls\.ca/,
        what,
      );
    }
    assert.equal(starttls.messages.length + implicit.messages.length, 0, "nothing was sent to a server it could not verify");
  });

  it("refuses a trusted certificate made out to another host, naming the mismatch", async () => {
    const smtp = await server({ key: elsewhere.key, cert: elsewhere.cert });
    const { outcome } = await deliver("email", story.opened, settings(smtp, { starttls: true, tls: { ca: elsewhere.cert } }));
    assert.equal(outcome.ok, false);
    assert.match(!outcome.ok ? outcome.reason : "", /presented a certificate that was refused: Hostname\/IP does not match certificate's altnames: IP: 127\.0\.0\.1 is not in the cert's list.*\(ERR_TLS_CERT_ALTNAME_INVALID\)/);
    assert.equal(smtp.messages.length, 0);
  });

  it("accepts the untrusted certificate with tls.insecure (a test server only), still over TLS", async () => {
    const smtp = await server({ key: elsewhere.key, cert: elsewhere.cert });
    const { outcome } = await deliver("email", story.opened, settings(smtp, { starttls: true, tls: { insecure: true } }));
    assert.deepEqual(outcome, { ok: true });
    assert.equal(smtp.messages[0]?.secure, true);
  });

  it("refuses at config load a tls.ca file that cannot be read, naming the setting and the file", async () => {
    const missing = path.join(dir, "no-such-ca.pem");
    const problems = await problemsOf(`
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
notifications:
  channels:
    - { id: mail, kind: email, host: smtp.lumen.example, from: status@lumen.example, to: [oncall@lumen.example], tls: { ca: "${missing}" } }
`);
    assert.ok(problems.some((p) => p.includes("tls.ca") && p.includes(`cannot read the CA file "${missing}": ENOENT`)), problems.join("\n"));
  });
});
