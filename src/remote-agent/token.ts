import { readFileSync } from "node:fs";
import { describeError, type Logger } from "../core/index.ts";
import type { TokenOrigin } from "./settings.ts";

/**
 * The agent's bearer token. A token file is read at start and again before
 * every request after the server refused the token, so a rotated token file
 * is picked up without a restart. The token itself is never logged.
 */
export class AgentToken {
  private value: string;
  private stale = false;

  constructor(
    private readonly origin: TokenOrigin,
    private readonly log: Logger,
  ) {
    this.value = "value" in origin ? origin.value : readToken(origin.file);
  }

  /** Where the token comes from, for logs: the file's path or the variable's name. */
  get source(): string {
    return "file" in this.origin ? this.origin.file : this.origin.env;
  }

  /** The token to send now. */
  current(): string {
    if (!this.stale || !("file" in this.origin)) return this.value;
    try {
      const next = readToken(this.origin.file);
      if (next !== this.value) this.log.info({ tokenFile: this.origin.file }, "read a new agent token from the token file");
      this.value = next;
    } catch (err) {
      this.log.warn({ tokenFile: this.origin.file, err: describeError(err) }, "cannot re-read the token file; keeping the token read before");
    }
    return this.value;
  }

  /** The server refused the token: read the file again before each next request, until one is accepted. */
  refused(): void {
    this.stale = true;
  }

  /** A request with the token was accepted. */
  accepted(): void {
    this.stale = false;
  }
}

function readToken(file: string): string {
  const token = readFileSync(file, "utf8").trim();
  if (token === "") throw new Error(`${file} is empty`);
  return token;
}
