import http from "node:http";
import https from "node:https";
import { checkEgressUrl, describeError, egressLookup, scrub } from "../core/index.ts";
import { formatDuration } from "../config/index.ts";
import { oneLine, truncate } from "./render.ts";
import type { DeliveryOutcome, NotifierContext } from "./types.ts";

/** The most of a receiver's answer read: enough for an error message, never a flood. */
export const MAX_ANSWER_BYTES = 4 * 1024;

/** A receiver's answer to one POST, its body read up to MAX_ANSWER_BYTES. */
export interface HttpAnswer {
  status: number;
  /** Response headers by lower-case name. */
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** A kind's own reading of a failed answer; each field set overrides the common rule. */
export interface AnswerExplanation {
  retry?: boolean;
  disable?: boolean;
  retryAfterMs?: number;
  /** Replaces the quoted body in the reason, e.g. Slack's "no_service" with a hint. */
  detail?: string;
}

/** One JSON POST to a receiver. */
export interface JsonPost {
  /** Names the receiver in reasons and logs ("Slack", "PagerDuty"). */
  receiver: string;
  url: string;
  /** The serialized body, sent byte for byte (a signature may cover it). */
  body: string;
  headers?: Record<string, string>;
  /** This attempt's own limit; ctx.signal may end it sooner. */
  timeoutMs: number;
  /** Strings that must never appear in a reason or log line: tokens, keys, header values. */
  secrets: string[];
  /** Reads a non-2xx answer the receiver's own way before the common rules apply. */
  explain?: (answer: HttpAnswer) => AnswerExplanation | undefined;
}

/** Node's codes for a request it refuses to build (a bad header, URL): retrying repeats them. */
const UNSENDABLE = new Set(["ERR_INVALID_HTTP_TOKEN", "ERR_INVALID_CHAR", "ERR_INVALID_URL", "ERR_UNESCAPED_CHARACTERS", "ERR_INVALID_PROTOCOL", "EGRESS_REFUSED"]);

/**
 * POSTs JSON and classifies what happened, never throwing for anything the
 * receiver or the network does: 2xx is delivered; 5xx, 408, 429, a network
 * error or a timeout can be retried (honouring Retry-After); 410 Gone asks
 * to be disabled; redirects and other 4xx cannot be fixed by retrying.
 * Reasons name the receiver by host only: webhook URLs carry their tokens.
 */
export async function postJson(post: JsonPost, ctx: NotifierContext): Promise<DeliveryOutcome> {
  const target = `${post.receiver} at ${hostOf(post.url)}`;
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(), post.timeoutMs);
  const signal = AbortSignal.any([ctx.signal, timer.signal]);
  const started = performance.now();
  let outcome: DeliveryOutcome;
  try {
    const answer = await request(post, signal);
    outcome = classify(answer, post, target);
  } catch (err) {
    outcome = explainFailure(err, target, ctx.signal.aborted ? undefined : timer.signal.aborted ? post.timeoutMs : undefined, signal.aborted);
  } finally {
    clearTimeout(timeout);
  }
  if (!outcome.ok) outcome = { ...outcome, reason: scrub(outcome.reason, post.secrets) };
  const ms = Math.round(performance.now() - started);
  ctx.log.debug({ receiver: post.receiver, host: hostOf(post.url), ms, ...outcome }, outcome.ok ? "notification delivered" : "notification not delivered");
  return outcome;
}

/**
 * One request on its own connection, closed when the answer is read or the
 * signal aborts. No pooling: deliveries are rare, and a pooled client
 * (fetch's) can leave a fresh idle socket behind after an abort or reuse
 * one the receiver already closed. Redirects are not followed: that would
 * re-send (and re-sign) to a URL nobody configured.
 */
function request(post: JsonPost, signal: AbortSignal): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(post.url);
    checkEgressUrl(url);
    const headers = { "content-type": "application/json", "user-agent": "Pulseboard", ...post.headers, "content-length": String(Buffer.byteLength(post.body)) };
    const req = (url.protocol === "https:" ? https : http).request(url, { method: "POST", headers, agent: false, signal, lookup: egressLookup });
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      const done = () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: parseJson(text) });
        req.destroy();
      };
      res.on("data", (chunk: Buffer) => {
        chunks.push(chunk.subarray(0, MAX_ANSWER_BYTES - bytes));
        bytes += Math.min(chunk.length, MAX_ANSWER_BYTES - bytes);
        // Enough for a reason: the rest is not downloaded.
        if (bytes >= MAX_ANSWER_BYTES) done();
      });
      res.on("end", done);
      res.on("error", reject);
    });
    req.end(post.body);
  });
}

function classify(answer: HttpAnswer, post: JsonPost, target: string): DeliveryOutcome {
  const { status } = answer;
  if (status >= 200 && status < 300) return { ok: true, status };
  const own = post.explain?.(answer) ?? {};
  const retryAfterMs = own.retryAfterMs ?? parseRetryAfter(headerOf(answer, "retry-after"));
  const detail = own.detail ?? quote(answer.text);
  if (status >= 300 && status < 400) {
    return { ok: false, retry: false, status, reason: `${target} answered HTTP ${status}, a redirect: deliveries do not follow redirects, so set the channel's url to the address it points to` };
  }
  const gone = status === 410;
  const retry = !gone && (own.retry ?? (status >= 500 || status === 408 || status === 429));
  const reason = `${target} answered HTTP ${status}${detail ? `: ${detail}` : ""}${gone ? " (the receiver asked to stop sending)" : ""}`;
  return {
    ok: false,
    retry,
    status,
    reason,
    ...((own.disable ?? gone) ? { disable: true } : {}),
    ...(retry && retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

/** A failed request as an outcome: aborts are timeouts, network errors are retryable. */
function explainFailure(err: unknown, target: string, ownTimeoutMs: number | undefined, aborted: boolean): DeliveryOutcome {
  if (aborted) {
    const why = ownTimeoutMs !== undefined ? `after ${formatDuration(ownTimeoutMs)}` : "at the delivery deadline";
    return { ok: false, retry: true, reason: `timed out ${why} waiting for ${target}` };
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (code && UNSENDABLE.has(code)) return { ok: false, retry: false, reason: `could not send to ${target}: ${describeError(err)}` };
  // Several addresses tried at once (IPv4 and IPv6) fail as one AggregateError.
  const first = err instanceof AggregateError && err.errors.length > 0 ? err.errors[0] : err;
  return { ok: false, retry: true, reason: `could not reach ${target}: ${describeError(first)}` };
}

function headerOf(answer: HttpAnswer, name: string): string | undefined {
  const value = answer.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Retry-After as milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** `host[:port]` of a URL, the only part of a webhook URL safe to show. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "an unparseable URL";
  }
}

/**
 * The secret parts of a webhook URL: the whole URL, its path and query, and
 * every long path segment or query value (Slack, Discord and Teams put their
 * tokens there).
 */
export function urlSecrets(url: string): string[] {
  const secrets = [url];
  try {
    const parsed = new URL(url);
    secrets.push(parsed.pathname + parsed.search, ...parsed.pathname.split("/"), ...parsed.searchParams.values());
  } catch {
    // the schema only lets parseable URLs through
  }
  return secrets.filter((s) => s.length >= 16);
}

/** A receiver's answer body as a short single line for a reason. */
function quote(text: string): string {
  return truncate(oneLine(text), 200);
}
