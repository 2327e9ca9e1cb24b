import http from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { formatIssues, parseDuration } from "../config/index.ts";
import { bearerToken, describeError, tokenMatcher, type Logger } from "../core/index.ts";
import { GatewayFleet, NodeNotFound } from "./fleet.ts";
import { FaultsDisabled, type Fault } from "./faults.ts";
import { parseNodeId } from "./settings.ts";

const BODY_LIMIT = 16 * 1024;
const durationField = z.string().refine((v) => parseDuration(v) !== undefined, { error: 'expected a duration like "10s"' }).transform((v) => parseDuration(v)!);

const faultBody = z.discriminatedUnion("fault", [
  z.strictObject({ fault: z.literal("freeze"), duration: durationField.refine((ms) => ms <= 600_000, { error: "at most 10m" }) }),
  z.strictObject({ fault: z.literal("lock-safeguard"), duration: durationField }),
  z.strictObject({ fault: z.literal("slow-handshake"), duration: durationField, delay: durationField }),
  z.strictObject({ fault: z.literal("drop-publishes"), duration: durationField }),
], { error: 'fault must be one of "freeze", "lock-safeguard", "slow-handshake", "drop-publishes"' });

const scaleBody = z.strictObject({ nodes: z.number().int().min(1).max(64) });
const modeBody = z.strictObject({ mode: z.enum(["normal", "bypass"]) });

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The fleet's admin API, on its own port, every route but /healthz behind a
 * bearer token:
 *   GET  /nodes, /stats, /metrics
 *   POST /nodes/:id/restart, /restart (rolling), /scale, /cache-mode
 *   POST /nodes/:id/faults, DELETE /nodes/:id/faults (faults enabled only)
 */
export function startFleetAdmin(
  fleet: GatewayFleet,
  options: { port: number; host: string; token?: string; log: Logger },
): Promise<http.Server> {
  const log = options.log.child({ module: "gateway.admin" });
  const authorized = tokenMatcher(options.token ? [options.token] : []);
  if (!options.token) log.warn("no gateway admin token (GATEWAY_ADMIN_TOKEN): the fleet admin API refuses every request");

  const server = http.createServer((req, res) => {
    route(req)
      .then((body) => send(res, 200, body))
      .catch((err: unknown) => {
        const known = err instanceof HttpError ? err : adminErrorStatus(err);
        if (known) return send(res, known.status, { code: known.code, message: known.message });
        log.error({ err: describeError(err), method: req.method, url: req.url }, "admin request failed");
        send(res, 500, { code: "internal_error", message: describeError(err) });
      });
  });

  async function route(req: http.IncomingMessage): Promise<unknown> {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    if (req.method === "GET" && path === "/healthz") return { status: "ok", nodes: fleet.nodes().filter((n) => n.state === "ready").length };
    if (!authorized(bearerToken(req.headers.authorization))) throw new HttpError(401, "unauthorized", "a valid bearer token is required");
    const nodeMatch = /^\/nodes\/([^/]+)(\/restart|\/faults)$/.exec(path);
    if (req.method === "GET" && path === "/nodes") return { mode: fleet.cacheMode, nodes: fleet.nodes() };
    if (req.method === "GET" && path === "/stats") return fleet.stats();
    if (req.method === "GET" && path === "/metrics") return new MetricsText(await fleet.metrics());
    if (req.method === "POST" && path === "/restart") return { restarted: await fleet.rollingRestart() };
    if (req.method === "POST" && path === "/scale") return { nodes: await fleet.scale(parse(scaleBody, await readJson(req)).nodes) };
    if (req.method === "POST" && path === "/cache-mode") return fleet.setCacheMode(parse(modeBody, await readJson(req)).mode);
    if (nodeMatch) {
      const index = parseNodeId(decodeURIComponent(nodeMatch[1]!));
      if (index === undefined) throw new HttpError(404, "not_found", `no node ${nodeMatch[1]}`);
      if (req.method === "POST" && nodeMatch[2] === "/restart") return fleet.restartNode(index);
      if (req.method === "POST" && nodeMatch[2] === "/faults") return fleet.fault(index, toFault(parse(faultBody, await readJson(req))));
      if (req.method === "DELETE" && nodeMatch[2] === "/faults") return fleet.fault(index, { fault: "clear" });
    }
    throw new HttpError(404, "not_found", `no route ${req.method} ${path}`);
  }

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      log.info({ port: (server.address() as AddressInfo).port, host: options.host }, "gateway admin API listening");
      resolve(server);
    });
  });
}

/** Marks a body that is sent as Prometheus text rather than JSON. */
class MetricsText {
  constructor(readonly text: string) {}
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (body instanceof MetricsText) {
    res.writeHead(status, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(body.text);
    return;
  }
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (status === 401) headers["www-authenticate"] = 'Bearer realm="pulseboard-gateway"';
  res.writeHead(status, headers).end(JSON.stringify(body));
}

function toFault(body: z.output<typeof faultBody>): Fault {
  switch (body.fault) {
    case "slow-handshake":
      return { fault: body.fault, ms: body.duration, delayMs: body.delay };
    default:
      return { fault: body.fault, ms: body.duration };
  }
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, "validation_failed", formatIssues(parsed.error.issues).join("; "));
  return parsed.data;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new HttpError(413, "body_too_large", `bodies are limited to ${BODY_LIMIT} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "bad_json", "the request body is not valid JSON");
  }
}

/** Maps fleet errors to HTTP answers where the cause is the request's. */
function adminErrorStatus(err: unknown): HttpError | undefined {
  if (err instanceof NodeNotFound) return new HttpError(404, "not_found", err.message);
  if (err instanceof FaultsDisabled) return new HttpError(403, "faults_disabled", err.message);
  if (err instanceof RangeError) return new HttpError(400, "validation_failed", err.message);
  return undefined;
}
