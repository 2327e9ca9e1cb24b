import { pino, type Logger, type LoggerOptions } from "pino";

export type { Logger } from "pino";

/** Field paths whose values are replaced by "[redacted]" in every log line. */
const REDACT_PATHS = [
  "token",
  "*.token",
  "password",
  "*.password",
  "secret",
  "*.secret",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "req.headers.cookie",
];

export interface LoggerSettings {
  /** pino level. @defaultValue "info" */
  level?: string;
  /** Pretty, human-readable lines. @defaultValue true when stdout is a terminal */
  pretty?: boolean;
  /** Fixed fields on every line, e.g. `{ role: "worker" }`. */
  base?: Record<string, unknown>;
  /** Where JSON lines go. @defaultValue stdout */
  destination?: { write(line: string): void };
}

/**
 * One JSON line per event, pretty when a person is watching a terminal.
 * Rooms take a child per module: `log.child({ module: "probe.redis" })`.
 */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? "info",
    base: { pid: process.pid, ...settings.base },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  const pretty = settings.pretty ?? Boolean(process.stdout.isTTY);
  if (settings.destination) return pino(options, settings.destination);
  if (!pretty) return pino(options);
  return pino({
    ...options,
    transport: {
      target: "pino-pretty",
      options: { colorize: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname" },
    },
  });
}

/** Replaces the password (and user) of a URL so it can be logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "[unparseable url]";
  }
}
