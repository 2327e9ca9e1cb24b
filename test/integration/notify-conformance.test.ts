import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { channelKinds, NOTIFIER_KINDS, notifiers, type DeliveryOutcome, type NotificationEvent, type NotifierKind } from "../../src/notify/index.ts";
import { captureLog, deliveryContext, expectNoConnections, HttpReceiver, incidentStory, maintenanceStory, SmtpReceiver, type ScriptedAnswer } from "../helpers/receivers.ts";

/**
 * The contract every channel kind keeps, checked against a real receiver
 * of each: delivery of all three event types, how failures are classified,
 * deadlines that leave nothing open, and secrets that never leak.
 */

/** What the suite needs to know about one kind and its receiver. */
interface Harness {
  /** The channel's settings as written in pulseboard.yaml (without id and kind), secrets included. */
  settings: Record<string, unknown>;
  secrets: string[];
  /** Each delivery so far, as the text a person would read (all strings of a JSON body; subject and both parts of an email). */
  received(): string[];
  /** How text people typed appears in what the receiver got. */
  asSent(text: string): string;
  failTransiently(): void;
  /** Refuses the next delivery for good, quoting the request back where HTTP allows (to tempt a leak). */
  failPermanently(): void;
  stall(ms: number): void;
  connections(): number | Promise<number>;
  closeIdle(): void;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

const slackEscape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === "object") return Object.values(value).flatMap(strings);
  return [];
}

async function httpHarness(path: string, settingsOf: (url: string) => Record<string, unknown>, secrets: string[], ok: ScriptedAnswer, asSent = (t: string) => t) {
  const receiver = await HttpReceiver.start(ok);
  const harness: Harness & { receiver: HttpReceiver } = {
    receiver,
    get settings() {
      return settingsOf(receiver.url(path));
    },
    secrets,
    received: () => receiver.requests.map((r) => strings(r.json).join("\n")),
    asSent,
    failTransiently: () => void receiver.answer({ status: 503, echo: true }),
    failPermanently: () => void receiver.answer({ status: 400, echo: true }),
    stall: (ms) => void receiver.answer({ delayMs: ms }),
    connections: () => receiver.openConnections(),
    closeIdle: () => receiver.closeIdle(),
    stop: () => receiver.stop(),
    restart: () => receiver.restart(),
  };
  return harness;
}

const SLACK_TOKEN = "xQ9pulseSlackTokenAb12Cd34";
const TEAMS_SIG = "pulseTeamsSigR2d2C3poBb8YwKkLmNn0pQrStUvWxYz";
const DISCORD_TOKEN = "pulseDiscordTokenZx81Yw72Vu63Ts54Rq45Po36Nm27Lk18Ji09Hg_-Ff0Ee1Dd2Cc3";
const WEBHOOK_SECRET = `whsec_${Buffer.from("conformance-secret-key-32-bytes!").toString("base64")}`;
const WEBHOOK_BEARER = "Bearer pulse-gateway-token-7f3a9c";
const ROUTING_KEY = "R0uTiNgKeYpUlSeBoArD0123456789ab";
const SMTP_PASS = "smtp-pass-Kq8!v2Lz";

/** One harness per kind: a Record, so a new kind without one does not compile. */
const harnesses: Record<NotifierKind, () => Promise<Harness>> = {
  webhook: () =>
    httpHarness("/hooks/pulseboard", (url) => ({ url, secret: WEBHOOK_SECRET, headers: { authorization: WEBHOOK_BEARER } }), [WEBHOOK_SECRET, WEBHOOK_SECRET.slice(6), WEBHOOK_BEARER], { status: 204, body: "" }),
  slack: () => httpHarness(`/services/T0PULSE01/B0PULSE02/${SLACK_TOKEN}`, (url) => ({ url }), [SLACK_TOKEN], { status: 200, body: "ok" }, slackEscape),
  teams: () =>
    httpHarness(`/workflows/4f1c/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sig=${TEAMS_SIG}`, (url) => ({ url }), [TEAMS_SIG], { status: 202, body: "" }),
  discord: () => httpHarness(`/api/webhooks/123456789012345678/${DISCORD_TOKEN}`, (url) => ({ url }), [DISCORD_TOKEN], { status: 204, body: "" }),
  pagerduty: () =>
    httpHarness("/v2/enqueue", (url) => ({ url, routing_key: ROUTING_KEY }), [ROUTING_KEY], { status: 202, body: { status: "success", message: "Event processed" } }),
  email: async () => {
    const smtp = await SmtpReceiver.start({ user: "pulseboard", pass: SMTP_PASS });
    return {
      get settings() {
        return { host: "127.0.0.1", port: smtp.port, starttls: false, user: "pulseboard", pass: SMTP_PASS, from: "Pulseboard <status@lumen.example>", to: ["oncall@lumen.example"] };
      },
      secrets: [SMTP_PASS],
      received: () => smtp.messages.map((m) => [m.subject, m.text, m.html].join("\n")),
      asSent: (t) => t,
      failTransiently: () => void smtp.next({ at: "rcpt", code: 451, message: "4.3.0 Mailbox temporarily unavailable, try later" }),
      failPermanently: () => void smtp.next({ at: "rcpt", code: 550, message: "5.1.1 No such user here" }),
      stall: (ms) => void smtp.next({ at: "data", delayMs: ms }),
      connections: () => smtp.openConnections(),
      closeIdle: () => {},
      stop: () => smtp.stop(),
      restart: () => smtp.restart(),
    };
  },
};

describe("notification channel kinds: the registry", () => {
  it("lists every kind, each registered under its own name with a description", () => {
    assert.deepEqual(channelKinds.kinds(), [...NOTIFIER_KINDS]);
    for (const kind of NOTIFIER_KINDS) {
      assert.equal(notifiers[kind].kind, kind);
      assert.ok(notifiers[kind].description.length > 10, `${kind} has a description`);
      assert.equal(channelKinds.schema(kind), notifiers[kind].configSchema);
    }
  });

  it("knows no schema for a kind that does not exist", () => {
    assert.equal(channelKinds.schema("carrier-pigeon"), undefined);
    assert.equal(channelKinds.get("carrier-pigeon"), undefined);
  });
});

for (const kind of NOTIFIER_KINDS) {
  describe(`notification channel kind ${kind} (conformance, real receiver)`, () => {
    const notifier = notifiers[kind];
    const story = incidentStory();
    const logs = captureLog();
    const outcomes: DeliveryOutcome[] = [];
    let harness: Harness;

    const send = async (event: NotificationEvent, deadlineMs?: number): Promise<DeliveryOutcome> => {
      const ctx = deliveryContext(logs.log.child({ module: `notify.${kind}` }), deadlineMs);
      try {
        const outcome = await notifier.send(event, notifier.configSchema.parse(harness.settings), ctx);
        outcomes.push(outcome);
        return outcome;
      } finally {
        ctx.done();
      }
    };

    before(async () => {
      harness = await harnesses[kind]();
    });
    after(async () => {
      await harness.stop();
    });

    it("delivers an opened, an updated and a resolved event, each once, with the incident's name, status and update", async () => {
      for (const event of [story.opened, story.updated, story.resolved]) {
        const before = harness.received().length;
        const outcome = await send(event);
        assert.equal(outcome.ok, true, outcome.ok ? "" : outcome.reason);
        const received = harness.received();
        assert.equal(received.length, before + 1, `${event.type} reached the receiver once`);
        const text = received.at(-1)!;
        assert.ok(text.includes(event.incident.name), `${event.type}: the incident name is in ${text}`);
        assert.ok(text.toLowerCase().includes(event.update.status), `${event.type}: the status is in ${text}`);
        assert.ok(text.includes(harness.asSent(event.update.body)), `${event.type}: the update ${JSON.stringify(harness.asSent(event.update.body))} is in ${text}`);
      }
    });

    it("delivers each maintenance notice once, in plain words with the window's name and message; PagerDuty sends nothing and says why", async () => {
      const maintenance = maintenanceStory();
      for (const event of [maintenance.reminder, maintenance.started, maintenance.completed, maintenance.cancelled]) {
        const before = harness.received().length;
        const outcome = await send(event);
        assert.equal(outcome.ok, true, outcome.ok ? "" : outcome.reason);
        if (kind === "pagerduty") {
          assert.equal(harness.received().length, before, `${event.type}: PagerDuty is never paged for maintenance`);
          assert.ok(outcome.ok && outcome.skipped, "delivered with nothing to do");
          continue;
        }
        assert.ok(outcome.ok && !outcome.skipped);
        const received = harness.received();
        assert.equal(received.length, before + 1, `${event.type} reached the receiver once`);
        const text = received.at(-1)!;
        assert.ok(text.includes(event.text), `${event.type}: ${JSON.stringify(event.text)} is in ${text}`);
        assert.ok(text.includes(event.maintenance.name), `${event.type}: the window's name is in ${text}`);
        assert.ok(text.includes(harness.asSent(event.body)), `${event.type}: the window's message is in ${text}`);
      }
      if (kind === "pagerduty") assert.match(logs.text(), /maintenance is planned and pages no one: nothing sent to PagerDuty/);
    });

    it("reports a receiver error (HTTP 503, SMTP 451) as retryable", async () => {
      harness.failTransiently();
      const outcome = await send(story.updated);
      assert.equal(outcome.ok, false);
      assert.ok(!outcome.ok && outcome.retry, "retry");
      assert.ok(!outcome.ok && (outcome.status === 503 || outcome.status === 451), `status ${!outcome.ok && outcome.status}`);
    });

    it("reports an unreachable receiver as retryable, and delivers again once it is back", async () => {
      await harness.stop();
      const down = await send(story.updated);
      assert.ok(!down.ok && down.retry && /could not reach/.test(down.reason), JSON.stringify(down));
      await harness.restart();
      const back = await send(story.updated);
      assert.equal(back.ok, true, back.ok ? "" : back.reason);
    });

    it("reports a permanent refusal (HTTP 400, SMTP 550) as not retryable", async () => {
      harness.failPermanently();
      const outcome = await send(story.opened);
      assert.ok(!outcome.ok && !outcome.retry, JSON.stringify(outcome));
      assert.ok(!outcome.ok && (outcome.status === 400 || outcome.status === 550));
    });

    it("gives up at the deadline when the receiver stalls: a retryable timeout that leaves no connection open", async () => {
      harness.closeIdle();
      await expectNoConnections(`the ${kind} receiver before the test`, harness.connections);
      harness.stall(10_000);
      const started = Date.now();
      const outcome = await send(story.opened, 300);
      const elapsed = Date.now() - started;
      assert.ok(!outcome.ok && outcome.retry && /timed out/.test(outcome.reason), JSON.stringify(outcome));
      assert.ok(elapsed < 2_000, `gave up after ${elapsed} ms, not near the 300 ms deadline`);
      await expectNoConnections(`the ${kind} receiver after the timeout`, harness.connections, 3_000);
    });

    it("fails at once, as a timeout, when the deadline has already passed", async () => {
      const before = harness.received().length;
      const outcome = await send(story.opened, 0);
      assert.ok(!outcome.ok && outcome.retry && /timed out/.test(outcome.reason), JSON.stringify(outcome));
      assert.equal(harness.received().length, before, "nothing was delivered");
    });

    it("accepts only its own settings: id and kind belong to the channel entry", () => {
      assert.equal(notifier.configSchema.safeParse(harness.settings).success, true);
      assert.equal(notifier.configSchema.safeParse({ ...harness.settings, id: "ops" }).success, false);
      assert.equal(notifier.configSchema.safeParse({ ...harness.settings, kind }).success, false);
    });

    it("never puts a secret into an outcome's reason or a log line", async () => {
      harness.failPermanently();
      outcomes.push(await send(story.resolved));
      const reasons = outcomes.flatMap((o) => (o.ok ? [] : [o.reason]));
      assert.ok(reasons.length >= 5, `failures seen: ${reasons.length}`);
      const logged = logs.text();
      assert.ok(logged.includes(`notify.${kind}`), "the kind logged its deliveries");
      for (const secret of harness.secrets) {
        for (const reason of reasons) assert.ok(!reason.includes(secret), `a reason holds a secret: ${reason}`);
        assert.ok(!logged.includes(secret), `the log holds the secret ${secret.slice(0, 4)}…`);
      }
    });
  });
}
