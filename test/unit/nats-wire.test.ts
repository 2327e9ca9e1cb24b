import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodePub, NatsParser, subjectProblem, type NatsFrame } from "../../src/probe-runtime/realtime/nats-wire.ts";

const TEXT = "hé\r\nlo\r\nx!";
const HEADERS = "NATS/1.0\r\nA: bcdefg\r\n\r\n";

/** A stream a nats-server could send: INFO, PING, a MSG with CRLF and UTF-8 inside its payload, an HMSG, an empty MSG, +OK, -ERR, PONG. */
const STREAM = Buffer.concat([
  Buffer.from('INFO {"server_id":"N1","max_payload":1048576,"auth_required":true} \r\n'),
  Buffer.from("PING\r\n"),
  Buffer.from(`MSG orders.eu 1 ${Buffer.byteLength(TEXT)}\r\n${TEXT}\r\n`),
  Buffer.from(`HMSG orders.eu 2 _INBOX.r ${HEADERS.length} ${HEADERS.length + 5}\r\n${HEADERS}hello\r\n`),
  Buffer.from("msg empty.payload 3 0\r\n\r\n"),
  Buffer.from("+OK\r\n-ERR 'Permissions Violation for Publish to \"x\"'\r\nPONG\r\n"),
]);

const EXPECTED = [
  { op: "INFO", info: { server_id: "N1", max_payload: 1048576, auth_required: true } },
  { op: "PING" },
  { op: "MSG", subject: "orders.eu", sid: "1", replyTo: undefined, payload: TEXT },
  { op: "MSG", subject: "orders.eu", sid: "2", replyTo: "_INBOX.r", payload: "hello" },
  { op: "MSG", subject: "empty.payload", sid: "3", replyTo: undefined, payload: "" },
  { op: "+OK" },
  { op: "-ERR", message: 'Permissions Violation for Publish to "x"' },
  { op: "PONG" },
];

/** Feeds `chunks` and returns the frames with payloads as text. */
function parse(chunks: Buffer[]): unknown[] {
  const frames: unknown[] = [];
  const parser = new NatsParser((frame: NatsFrame) => frames.push(frame.op === "MSG" ? { ...frame, payload: frame.payload.toString("utf8") } : frame));
  for (const chunk of chunks) parser.feed(chunk);
  assert.equal(parser.pending, 0, "nothing is left over");
  return frames;
}

function parseError(text: string): string {
  try {
    parse([Buffer.from(text)]);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail(`no error for ${JSON.stringify(text)}`);
}

describe("NATS wire parser", () => {
  it("parses a whole stream given in one chunk (several frames per chunk)", () => {
    assert.deepEqual(parse([STREAM]), EXPECTED);
  });

  it("parses the same frames with the stream cut at every byte boundary", () => {
    for (let cut = 1; cut < STREAM.length; cut++) {
      assert.deepEqual(parse([STREAM.subarray(0, cut), STREAM.subarray(cut)]), EXPECTED, `cut at byte ${cut}`);
    }
  });

  it("parses the stream fed one byte at a time", () => {
    assert.deepEqual(parse([...STREAM].map((byte) => Buffer.from([byte]))), EXPECTED);
  });

  it("takes a payload of any byte length, binary included, across many chunks", () => {
    const payload = Buffer.alloc(300_000, 0);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const stream = Buffer.concat([Buffer.from(`MSG big 9 ${payload.length}\r\n`), payload, Buffer.from("\r\nPING\r\n")]);
    const frames: NatsFrame[] = [];
    const parser = new NatsParser((frame) => frames.push(frame));
    for (let at = 0; at < stream.length; at += 4_093) parser.feed(stream.subarray(at, at + 4_093));
    assert.equal(frames.length, 2);
    assert.ok(frames[0]!.op === "MSG" && frames[0]!.payload.equals(payload));
    assert.equal(frames[1]!.op, "PING");
  });

  it("fails naming an unknown operation, a bad size, a payload without its CRLF, and INFO that is not JSON", () => {
    assert.equal(parseError("HTTP/1.1 400 Bad Request\r\n"), 'unknown protocol operation "HTTP/1.1"');
    assert.equal(parseError("MSG a 1 many\r\n"), 'MSG with a bad size "many"');
    assert.equal(parseError("MSG a 1\r\n"), 'MSG with 2 arguments ("a 1")');
    assert.equal(parseError("MSG a 1 2\r\nabc\r\n"), "the 2-byte payload of MSG a is not followed by CRLF");
    assert.equal(parseError("HMSG a 1 9 3\r\nabc\r\n"), "HMSG a with 9 header bytes of 3 in all");
    assert.match(parseError("INFO {nope\r\n"), /^INFO that is not JSON/);
  });

  it("encodes PUB with the payload's byte length, not its character count", () => {
    assert.equal(encodePub("a.b", Buffer.from("hé"), "PING\r\n").toString(), "PUB a.b 3\r\nhé\r\nPING\r\n");
  });

  it("checks subjects: wildcards only where subscribing, and only as whole tokens, > last", () => {
    assert.equal(subjectProblem("orders.eu", false), undefined);
    assert.equal(subjectProblem("orders.*", true), undefined);
    assert.equal(subjectProblem("orders.>", true), undefined);
    assert.equal(subjectProblem("orders.*", false), "a subject to publish on has no wildcards (* >)");
    assert.equal(subjectProblem("a.>.b", true), "> may only be a subject's last token");
    assert.equal(subjectProblem("a b", true), "a subject has no white space");
    assert.equal(subjectProblem("a..b", true), "a subject's dot-separated tokens cannot be empty");
    assert.equal(subjectProblem("", true), "a subject cannot be empty");
  });
});
