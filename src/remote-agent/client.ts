import { request } from "undici";
import { z } from "zod";
import type { ProbeResult } from "../probe-runtime/index.ts";
import { AgentRequestError } from "./errors.ts";
import { describeConfigIssues, remoteConfigSchema, type RemoteConfig } from "./remote-config.ts";
import type { AgentToken } from "./token.ts";
import type { Transport } from "./transport.ts";

/** The body of POST /api/agent/v1/results. */
export interface PushBody {
  location: string;
  agent: { name: string; version: string };
  sent_at: string;
  dropped: number;
  results: ProbeResult[];
}

const pushAnswerSchema = z.object({ accepted: z.number(), duplicates: z.number().default(0), late: z.number().default(0) });
export type PushAnswer = z.output<typeof pushAnswerSchema>;

/** What a config pull found: a new version, or the one the agent has (304). */
export type ConfigAnswer = { changed: true; config: RemoteConfig; etag?: string } | { changed: false };

export interface AgentClientOptions {
  /** The web role's base URL, ending in "/". */
  server: URL;
  location: string;
  token: AgentToken;
  transport: Transport;
  /** A request that has not been answered by then fails with `timeout`. @defaultValue 15000 */
  requestTimeoutMs?: number;
}

/**
 * The agent's side of the protocol (docs: the remote agent protocol, v1):
 * pull the location's config with an ETag, push a batch of results. Every
 * failure is an AgentRequestError; a refused token is reported to the
 * AgentToken, so the next request reads the token file again.
 */
export class AgentClient {
  private readonly configUrl: URL;
  private readonly resultsUrl: URL;
  private readonly timeoutMs: number;

  constructor(private readonly options: AgentClientOptions) {
    this.configUrl = new URL("api/agent/v1/config", options.server);
    this.configUrl.searchParams.set("location", options.location);
    this.resultsUrl = new URL("api/agent/v1/results", options.server);
    this.timeoutMs = options.requestTimeoutMs ?? 15_000;
  }

  /** GET config; with the ETag of the version the agent runs, an unchanged config costs a 304. `signal` aborts it (at stop). */
  async config(etag?: string, signal?: AbortSignal): Promise<ConfigAnswer> {
    const what = "pulling the probe config";
    const { status, body, headers } = await this.send("GET", this.configUrl, what, etag ? { "if-none-match": etag } : {}, undefined, signal);
    if (status === 304) return { changed: false };
    const parsed = remoteConfigSchema.safeParse(parseJson(body));
    if (!parsed.success) throw new AgentRequestError(`${what}: the server's answer is not a config this agent understands: ${describeConfigIssues(parsed.error)}`, { status, code: "bad_answer" });
    const tag = headers.etag;
    return { changed: true, config: parsed.data, etag: typeof tag === "string" ? tag : undefined };
  }

  /** POST one batch of results; `signal` bounds it further (the last push at shutdown). */
  async push(batch: PushBody, signal?: AbortSignal): Promise<PushAnswer> {
    const what = `pushing ${batch.results.length} results`;
    const { status, body } = await this.send("POST", this.resultsUrl, what, { "content-type": "application/json" }, JSON.stringify(batch), signal);
    const parsed = pushAnswerSchema.safeParse(parseJson(body));
    if (!parsed.success) throw new AgentRequestError(`${what}: the server answered ${status} with something that is not a push answer`, { status, code: "bad_answer" });
    return parsed.data;
  }

  /** Ends the connections, and any request still going. */
  async close(): Promise<void> {
    await this.options.transport.dispatcher.destroy();
  }

  private async send(method: "GET" | "POST", url: URL, what: string, headers: Record<string, string>, body?: string, signal?: AbortSignal) {
    const { token } = this.options;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res;
    try {
      res = await request(url, {
        method,
        body,
        dispatcher: this.options.transport.dispatcher,
        headers: { ...headers, authorization: `Bearer ${token.current()}`, accept: "application/json" },
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
    } catch (err) {
      throw AgentRequestError.unanswered(err, what, url, this.timeoutMs);
    }
    const text = await res.body.text().catch((err: unknown) => {
      throw AgentRequestError.unanswered(err, what, url, this.timeoutMs);
    });
    if (res.statusCode === 401 || res.statusCode === 403) token.refused();
    if (res.statusCode >= 400 || (res.statusCode >= 300 && res.statusCode !== 304)) throw AgentRequestError.answered(res.statusCode, text, what);
    token.accepted();
    return { status: res.statusCode, body: text, headers: res.headers };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
