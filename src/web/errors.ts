import type { NextFunction, Request, Response } from "express";
import { ConflictError, NotFoundError, PulseboardError, TimeoutError, ValidationError, describeError, type Logger } from "../core/index.ts";

/**
 * The one error middleware: typed errors become `{ code, message, requestId }`
 * with the right status; anything else is a 500 that is logged with its cause.
 */
export function errorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const requestId = String(res.getHeader("x-request-id") ?? "");
    const body = (status: number, code: string, message: string, extra: Record<string, unknown> = {}) =>
      res.status(status).json({ code, message, requestId, ...extra });
    if (err instanceof ValidationError) return void body(400, err.code, err.message, { issues: err.issues });
    if (err instanceof NotFoundError) return void body(404, err.code, err.message);
    if (err instanceof ConflictError) return void body(409, err.code, err.message);
    const httpError = err as { status?: number; type?: string; expose?: boolean; message?: string };
    if (httpError.type === "entity.parse.failed") return void body(400, "bad_json", "the request body is not valid JSON");
    if (httpError.type === "entity.too.large") return void body(413, "body_too_large", "the request body is too large");
    if (typeof httpError.status === "number" && httpError.status >= 400 && httpError.status < 500) {
      return void body(httpError.status, "bad_request", httpError.expose ? String(httpError.message) : "bad request");
    }
    if (err instanceof TimeoutError) return void body(504, err.code, err.message);
    const code = err instanceof PulseboardError ? err.code : "internal_error";
    log.error({ err: describeError(err), requestId, method: req.method, path: req.path }, "request failed");
    body(err instanceof PulseboardError && err.code === "upstream_failed" ? 503 : 500, code, "the request could not be completed");
  };
}
