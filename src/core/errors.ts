/**
 * Typed errors with stable codes. Every failure that reaches a person (a CLI
 * message, an HTTP answer, a log line) should be one of these, so it names its
 * cause in words and carries a code a machine can branch on.
 */
export class PulseboardError extends Error {
  /** Stable, machine-readable code (`config_invalid`, `not_found`, …). */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** pulseboard.yaml or the environment is wrong; the process exits with status 2. */
/** Longest problem line a ConfigError keeps. */
const MAX_PROBLEM = 400;

export class ConfigError extends PulseboardError {
  /** One line per problem, each starting with the path of the field. */
  readonly problems: string[];

  constructor(problems: string[], file?: string) {
    const where = file ? ` in ${file}` : "";
    // A problem quoting a huge value is cut: one line each, whatever the file holds.
    const lines = problems.map((p) => (p.length > MAX_PROBLEM ? `${p.slice(0, MAX_PROBLEM)}… (cut; ${p.length} characters)` : p));
    super("config_invalid", `invalid configuration${where}:\n  ${lines.join("\n  ")}`);
    this.problems = lines;
  }
}

/** Input from a person or a client failed validation. */
export class ValidationError extends PulseboardError {
  readonly issues: string[];

  constructor(issues: string[]) {
    super("validation_failed", issues.join("; "));
    this.issues = issues;
  }
}

/** The thing asked for does not exist. */
export class NotFoundError extends PulseboardError {
  constructor(what: string) {
    super("not_found", `${what} not found`);
  }
}

/** What was asked cannot be done in the state the thing is in now (publishing an incident that is public already). */
export class ConflictError extends PulseboardError {
  constructor(message: string) {
    super("conflict", message);
  }
}

/** A dependency (Redis, a receiver, a child process) failed or is missing. */
export class UpstreamError extends PulseboardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("upstream_failed", message, options);
  }
}

/** Something did not answer in time; the message says what and how long was waited. */
export class TimeoutError extends PulseboardError {
  constructor(message: string) {
    super("timeout", message);
  }
}

/** A required system program is not installed; the message says how to get it. */
export class MissingDependencyError extends PulseboardError {
  constructor(message: string) {
    super("missing_dependency", message);
  }
}

/** Renders any thrown value as a one-line reason a person can act on. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
