import http from "node:http";
import type { AddressInfo } from "node:net";

/** One request as an ApiRecorder got it. */
export interface RecordedCall {
  method: string;
  /** Path without the query. */
  pathname: string;
  /** Query parameters, decoded (the last value of a repeated one). */
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  raw: string;
  /** The body parsed as JSON, or undefined. */
  json: unknown;
}

/** How to answer: a status and a body (a string as is, anything else as JSON). */
export interface RouteAnswer {
  status?: number;
  body?: unknown;
  /** Wait this long before answering. */
  delayMs?: number;
}

type Handler = (call: RecordedCall, match: RegExpExecArray) => RouteAnswer;
/** Sees every request before the routes; an answer it returns is sent instead of theirs. */
type Guard = (call: RecordedCall) => RouteAnswer | undefined;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
  /** Answers this many more requests, then falls through (undefined: forever). */
  times?: number;
}

/**
 * A real HTTP server on loopback standing in for an API a driver calls (a
 * Kubernetes API server, a gateway admin API, a user's automation): it
 * records every request and answers by method and path, so tests can assert
 * exactly what was sent. Unrouted requests get 404 with a Kubernetes-style
 * Status body.
 */
export class ApiRecorder {
  readonly calls: RecordedCall[] = [];
  private readonly routes: Route[] = [];
  private readonly guards: Guard[] = [];
  private server!: http.Server;
  port = 0;

  static async start(): Promise<ApiRecorder> {
    const recorder = new ApiRecorder();
    recorder.server = http.createServer((req, res) => recorder.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      recorder.server.once("error", reject);
      recorder.server.listen(0, "127.0.0.1", () => resolve());
    });
    recorder.port = (recorder.server.address() as AddressInfo).port;
    return recorder;
  }

  url(path = ""): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Answers `method` requests whose path matches `pattern` (anchored) with `handler`. */
  on(method: string, pattern: string | RegExp, handler: Handler | RouteAnswer): this {
    this.routes.push({ method, pattern: anchored(pattern), handler: typeof handler === "function" ? handler : () => handler });
    return this;
  }

  /** Like `on`, but only for the next matching request, and before every other route. */
  once(method: string, pattern: string | RegExp, handler: Handler | RouteAnswer): this {
    this.routes.unshift({ method, pattern: anchored(pattern), handler: typeof handler === "function" ? handler : () => handler, times: 1 });
    return this;
  }

  /** Runs `guard` on every request before any route (`once` ones too), as an API server authenticates and authorizes before routing. */
  guard(guard: Guard): this {
    this.guards.push(guard);
    return this;
  }

  /** Forgets the calls recorded so far. */
  clear(): void {
    this.calls.length = 0;
  }

  /** Calls other than reads, for "a dry run changed nothing" checks. */
  writes(): RecordedCall[] {
    return this.calls.filter((c) => c.method !== "GET");
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      const raw = Buffer.concat(chunks).toString("utf8");
      const call: RecordedCall = { method: req.method ?? "", pathname: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, raw, json: parseJson(raw) };
      this.calls.push(call);
      const answer = this.answer(call);
      const send = () => {
        if (res.destroyed) return;
        const text = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body ?? {});
        const type = typeof answer.body === "string" ? "text/plain" : "application/json";
        res.writeHead(answer.status ?? 200, { "content-type": type, connection: "close" }).end(text);
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  }

  private answer(call: RecordedCall): RouteAnswer {
    for (const guard of this.guards) {
      const refusal = guard(call);
      if (refusal) return refusal;
    }
    for (const route of this.routes) {
      if (route.method !== call.method) continue;
      const match = route.pattern.exec(call.pathname);
      if (!match) continue;
      if (route.times !== undefined) {
        route.times--;
        if (route.times === 0) this.routes.splice(this.routes.indexOf(route), 1);
      }
      return route.handler(call, match);
    }
    return { status: 404, body: { kind: "Status", apiVersion: "v1", status: "Failure", message: `no route for ${call.method} ${call.pathname}`, reason: "NotFound", code: 404 } };
  }
}

function anchored(pattern: string | RegExp): RegExp {
  if (pattern instanceof RegExp) return pattern;
  return new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
