import { describeError } from "../core/index.ts";

/** One result the server refused in a `bad_results` answer. */
export interface RejectedResult {
  index: number;
  id?: string;
  message: string;
}

/**
 * A request to the server that did not succeed: an error answer (status and
 * the server's `code`), or no answer at all (network error, timeout; no
 * status). The message says which, in words a person can act on.
 */
export class AgentRequestError extends Error {
  override name = "AgentRequestError";
  /** The HTTP status, when the server answered. */
  readonly status?: number;
  /** The server's error code (`unauthorized`, `bad_results`, …), or `unreachable` / `timeout` / `bad_answer`. */
  readonly code: string;
  /** For `bad_results`: which results were refused and why. */
  readonly rejected: RejectedResult[];

  constructor(message: string, options: { status?: number; code: string; rejected?: RejectedResult[]; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.status = options.status;
    this.code = options.code;
    this.rejected = options.rejected ?? [];
  }

  /** Worth sending the same request again later: no answer, a server error, or too many requests. */
  get retryable(): boolean {
    return this.status === undefined || this.status >= 500 || this.status === 429;
  }

  /** The server answered with `status` and a JSON error body `{ code, message }` (or something else). */
  static answered(status: number, body: string, what: string): AgentRequestError {
    let parsed: { code?: unknown; message?: unknown; rejected?: unknown } = {};
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      // not JSON: a proxy's or load balancer's page; its first words are shown below
    }
    const code = typeof parsed.code === "string" ? parsed.code : `http_${status}`;
    const said = typeof parsed.message === "string" ? parsed.message : body.replace(/\s+/g, " ").trim().slice(0, 200) || "no message";
    const rejected = Array.isArray(parsed.rejected) ? (parsed.rejected as RejectedResult[]).filter((r) => r && typeof r.index === "number") : [];
    return new AgentRequestError(`${what}: the server answered ${status} (${code}): ${said}`, { status, code, rejected });
  }

  /** No answer: the request failed or timed out. */
  static unanswered(err: unknown, what: string, url: URL, timeoutMs: number): AgentRequestError {
    const timedOut = (err as { name?: string }).name === "TimeoutError";
    const why = timedOut ? `no answer within ${timeoutMs} ms` : describeError(innermost(err));
    return new AgentRequestError(`${what}: could not reach ${url.origin}: ${why}`, { code: timedOut ? "timeout" : "unreachable", cause: err });
  }
}

/** undici wraps socket errors; the innermost says what happened (ECONNREFUSED, a certificate problem). */
function innermost(err: unknown): unknown {
  let current = err;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current;
}
