/**
 * The NATS core client protocol as text on the wire (docs.nats.io,
 * "Client Protocol"): a parser for what a server sends (INFO, MSG, HMSG,
 * PING, PONG, +OK, -ERR) and encoders for what a client sends (CONNECT,
 * PUB, SUB, PING, PONG; a probe never unsubscribes, it closes). The same
 * bytes run over TCP, TLS and the binary frames of NATS's WebSocket port.
 */

/** What a server says of itself in INFO; only the fields a probe reads are named. */
export interface NatsInfo {
  server_id?: string;
  server_name?: string;
  version?: string;
  cluster?: string;
  client_id?: number;
  max_payload?: number;
  auth_required?: boolean;
  tls_required?: boolean;
  tls_available?: boolean;
  [field: string]: unknown;
}

/** One operation from the server. HMSG arrives as a MSG whose headers were skipped. */
export type NatsFrame =
  | { op: "INFO"; info: NatsInfo }
  | { op: "MSG"; subject: string; sid: string; replyTo?: string; payload: Buffer }
  | { op: "PING" }
  | { op: "PONG" }
  | { op: "+OK" }
  /** `message` is the server's text without its quotes: Authorization Violation. */
  | { op: "-ERR"; message: string };

/** A control line this long without its CRLF is not NATS (INFO lists a whole cluster's URLs, so it is generous). */
const MAX_CONTROL_LINE = 1 << 20;
/** Far above any server's max_payload (64 MB at most): a larger size is a broken stream. */
const MAX_MESSAGE = 256 << 20;

const CR = 13;
const LF = 10;

interface MessageHead {
  op: "MSG" | "HMSG";
  subject: string;
  sid: string;
  replyTo?: string;
  headerSize: number;
  totalSize: number;
}

/**
 * Turns a server's bytes, cut into chunks anywhere, into frames. `feed`
 * throws an Error naming what is wrong (an unknown operation, a bad size, a
 * payload not followed by CRLF); the stream cannot be trusted after that.
 */
export class NatsParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** The MSG or HMSG whose payload is still arriving. */
  private head?: MessageHead;

  constructor(private readonly onFrame: (frame: NatsFrame) => void) {}

  /** Bytes left over that make no whole frame yet. */
  get pending(): number {
    return this.buffered;
  }

  feed(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.head) {
        if (!this.takePayload(this.head)) return;
        continue;
      }
      const line = this.takeLine();
      if (line === undefined) return;
      this.parseLine(line);
    }
  }

  private takePayload(head: MessageHead): boolean {
    const needed = head.totalSize + 2;
    if (this.buffered < needed) return false;
    const data = this.take(needed);
    if (data[needed - 2] !== CR || data[needed - 1] !== LF) {
      throw new Error(`the ${head.totalSize}-byte payload of ${head.op} ${head.subject} is not followed by CRLF`);
    }
    this.head = undefined;
    this.onFrame({ op: "MSG", subject: head.subject, sid: head.sid, replyTo: head.replyTo, payload: data.subarray(head.headerSize, head.totalSize) });
    return true;
  }

  /** The next control line without its CRLF, or undefined while it is still arriving. */
  private takeLine(): string | undefined {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    const all = this.chunks[0];
    if (!all) return undefined;
    const end = all.indexOf(LF);
    if (end < 0) {
      if (all.length > MAX_CONTROL_LINE) throw new Error(`a control line longer than ${MAX_CONTROL_LINE} bytes (it starts ${quoteStart(all)})`);
      return undefined;
    }
    const line = this.take(end + 1);
    return line.toString("utf8", 0, end > 0 && line[end - 1] === CR ? end - 1 : end);
  }

  private take(count: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = all.length > count ? [all.subarray(count)] : [];
    this.buffered -= count;
    return all.subarray(0, count);
  }

  private parseLine(line: string): void {
    const match = /^(\S*)\s*(.*)$/s.exec(line)!;
    const op = match[1]!.toUpperCase();
    const rest = match[2]!.trim();
    switch (op) {
      case "":
        return;
      case "INFO":
        return this.onFrame({ op: "INFO", info: parseInfo(rest) });
      case "MSG":
      case "HMSG":
        this.head = parseHead(op, rest);
        return;
      case "PING":
      case "PONG":
      case "+OK":
        return this.onFrame({ op });
      case "-ERR":
        return this.onFrame({ op: "-ERR", message: rest.replace(/^'(.*)'$/s, "$1") });
      default:
        throw new Error(`unknown protocol operation ${JSON.stringify(op.slice(0, 40))}`);
    }
  }
}

function parseInfo(text: string): NatsInfo {
  let info: unknown;
  try {
    info = JSON.parse(text);
  } catch {
    throw new Error(`INFO that is not JSON (${JSON.stringify(text.slice(0, 60))})`);
  }
  if (!info || typeof info !== "object" || Array.isArray(info)) throw new Error("INFO that is not a JSON object");
  return info as NatsInfo;
}

/** `MSG <subject> <sid> [reply-to] <#bytes>` or `HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>`. */
function parseHead(op: "MSG" | "HMSG", rest: string): MessageHead {
  const args = rest.split(/\s+/);
  const sizes = op === "MSG" ? 1 : 2;
  if (args.length !== 2 + sizes && args.length !== 3 + sizes) throw new Error(`${op} with ${args.length} arguments (${JSON.stringify(rest.slice(0, 80))})`);
  const [subject, sid] = args as [string, string];
  const replyTo = args.length === 3 + sizes ? args[2] : undefined;
  const numbers = args.slice(-sizes).map((value) => size(op, value));
  const headerSize = op === "HMSG" ? numbers[0]! : 0;
  const totalSize = numbers[sizes - 1]!;
  if (headerSize > totalSize) throw new Error(`HMSG ${subject} with ${headerSize} header bytes of ${totalSize} in all`);
  return { op, subject, sid, replyTo, headerSize, totalSize };
}

function size(op: string, value: string): number {
  const n = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(n <= MAX_MESSAGE)) throw new Error(`${op} with a bad size ${JSON.stringify(value.slice(0, 20))}`);
  return n;
}

function quoteStart(data: Buffer): string {
  return JSON.stringify(data.toString("utf8", 0, 40));
}

export const PING = "PING\r\n";
export const PONG = "PONG\r\n";

/** CONNECT with its JSON options. */
export function encodeConnect(options: Record<string, unknown>): string {
  return `CONNECT ${JSON.stringify(options)}\r\n`;
}

export function encodeSub(subject: string, sid: string): string {
  return `SUB ${subject} ${sid}\r\n`;
}

/** PUB with its payload; `after` (a PING) rides in the same write. */
export function encodePub(subject: string, payload: Buffer, after = ""): Buffer {
  return Buffer.concat([Buffer.from(`PUB ${subject} ${payload.length}\r\n`), payload, Buffer.from(`\r\n${after}`)]);
}

/**
 * Why `subject` is not one a client may send, or undefined when it is:
 * tokens split by dots, none empty, no white space; with `wildcards` (a
 * subscription) `*` may stand for a token and `>` for the last ones, else
 * (a publish) neither may appear as a token.
 */
export function subjectProblem(subject: string, wildcards: boolean): string | undefined {
  if (subject.length === 0) return "a subject cannot be empty";
  if (/\s/.test(subject)) return "a subject has no white space";
  const tokens = subject.split(".");
  if (tokens.some((t) => t.length === 0)) return "a subject's dot-separated tokens cannot be empty";
  const wild = tokens.findIndex((t) => t === "*" || t === ">");
  if (wild < 0) return undefined;
  if (!wildcards) return "a subject to publish on has no wildcards (* >)";
  if (tokens.slice(0, -1).includes(">")) return "> may only be a subject's last token";
  return undefined;
}
