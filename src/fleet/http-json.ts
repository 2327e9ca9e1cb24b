import { describeError } from "../core/index.ts";
import { FleetError, FleetPermissionError, FleetUpstreamError, FleetValidationError } from "./errors.ts";

/** One JSON request of a driver to an HTTP API it drives. */
export interface JsonRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** Sent as JSON when defined. */
  body?: unknown;
  /** The call's deadline. */
  signal: AbortSignal;
  /** Names the far end in errors, like "the gateway admin API at 127.0.0.1:4100". */
  what: string;
}

/** The answer, whatever its status; `json` is undefined when the body is not JSON. */
export interface JsonAnswer {
  status: number;
  text: string;
  json: unknown;
}

/**
 * Sends one request and reads the whole answer. Only the transport can fail
 * here (refused, reset, deadline): a FleetUpstreamError naming `what`. The
 * caller decides what each status means.
 */
export async function requestJson(req: JsonRequest): Promise<JsonAnswer> {
  const headers: Record<string, string> = { accept: "application/json", ...req.headers };
  if (req.body !== undefined) headers["content-type"] = "application/json";
  const line = `${req.method} ${safeUrl(req.url)}`;
  try {
    const res = await fetch(req.url, {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal: req.signal,
    });
    const text = await res.text();
    return { status: res.status, text, json: parseJson(text) };
  } catch (err) {
    if (req.signal.aborted) {
      throw new FleetUpstreamError(`${req.what} did not answer ${line} before the deadline (${describeError(req.signal.reason)})`, { cause: err });
    }
    const cause = (err as { cause?: unknown }).cause ?? err;
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === "ECONNREFUSED" ? "the connection was refused" : describeError(cause);
    throw new FleetUpstreamError(`${req.what} could not be reached for ${line}: ${why}`, { cause: err });
  }
}

/**
 * The error for a non-2xx answer: which endpoint, which status, and the
 * first 200 characters of what it said. 401/403 are permission problems,
 * 4xx the order's, 408/429/5xx the far end's (worth retrying).
 */
export function answerError(what: string, method: string, url: string, answer: JsonAnswer, said?: string): FleetError {
  const body = (said ?? answer.text).replace(/\s+/g, " ").trim().slice(0, 200);
  const message = `${what} answered ${answer.status} to ${method} ${safeUrl(url)}${body ? `: ${body}` : ""}`;
  if (answer.status === 401 || answer.status === 403) return new FleetPermissionError(message);
  if (answer.status === 408 || answer.status === 429 || answer.status >= 500) return new FleetUpstreamError(message);
  if (answer.status >= 400) return new FleetValidationError(message);
  return new FleetUpstreamError(message, { retryable: false });
}

/** A URL as it may appear in a timeline or a log: no credentials, no query (either may hold a secret). */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return "(an invalid URL)";
  }
}

/** The text as JSON; undefined when it is empty or not JSON. */
export function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
