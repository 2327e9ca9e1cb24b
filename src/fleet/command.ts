import { z } from "zod";
import { describeError, scrub, scrubDeep, secretsIn } from "../core/index.ts";
import { firstIssue, nodesAnswer, statsAnswer, toNode } from "./answers.ts";
import { runShell, OUTPUT_LIMIT, type ShellResult } from "./command-run.ts";
import { FleetConfigError, FleetError, FleetNodeNotFound, FleetPermissionError, FleetUpstreamError, FleetValidationError } from "./errors.ts";
import { parseJson } from "./http-json.ts";
import { checkReplicaLimits, checkReplicas, durationSetting, NOTHING_CHANGED, plural, replicaLimits, took } from "./settings.ts";
import { defineFleetDriver, FLEET_ACTIONS, type ActionOutcome, type CacheMode, type DriverCall, type FleetAction, type FleetDriver, type FleetNode, type FleetStats, type RestartTarget } from "./types.ts";

const shellCommand = z.string({ error: 'expected a shell command, like "systemctl restart chat@$PULSEBOARD_NODE"' }).trim().min(1, { error: "give the command to run" });

const actionCommand = z.strictObject({
  /** Run with `/bin/sh -c`; the order comes only in PULSEBOARD_* environment variables. */
  run: shellCommand,
  /**
   * `skip`: a dry run checks what the driver can (the node exists, the
   * replicas are within bounds) and does not run the command. `run`: the
   * command runs with PULSEBOARD_DRY_RUN=1 and must change nothing itself.
   * @defaultValue skip
   */
  dry_run: z.enum(["skip", "run"], { error: 'expected "skip" or "run"' }).default("skip"),
});
const readCommand = z.strictObject({ run: shellCommand });

/** The variables that carry an order; never inherited from Pulseboard's own environment. */
const ORDER_VARS = ["PULSEBOARD_ACTION", "PULSEBOARD_DRY_RUN", "PULSEBOARD_NODE", "PULSEBOARD_RESTART", "PULSEBOARD_REPLICAS", "PULSEBOARD_CACHE_MODE"];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkEnvNames(env: Record<string, string>, ctx: z.RefinementCtx): void {
  for (const name of Object.keys(env)) {
    if (!ENV_NAME.test(name)) ctx.addIssue({ code: "custom", path: [name], message: "expected an environment variable name like OPS_TOKEN" });
    else if (ORDER_VARS.includes(name)) ctx.addIssue({ code: "custom", path: [name], message: "is set by the driver for each order" });
  }
}

const configSchema = z
  .strictObject({
    /** Gets PULSEBOARD_RESTART (node | failing | rolling) and PULSEBOARD_NODE; run once per node when `nodes` (or `stats`) is set. */
    restart: actionCommand.optional(),
    /** Gets PULSEBOARD_REPLICAS. */
    scale: actionCommand.optional(),
    /** Gets PULSEBOARD_CACHE_MODE (normal | bypass). */
    cache_mode: actionCommand.optional(),
    /** Prints {"nodes": [{id, state, connections?, safeguard_stuck?, address?, started_at?}]} (or the bare array). */
    nodes: readCommand.optional(),
    /** Prints {connections, limit?, cache_mode?, nodes?}. @defaultValue summed up from `nodes` */
    stats: readCommand.optional(),
    /** How long one command may run before its process group is killed (within the step's own deadline). @defaultValue 30s */
    timeout: durationSetting(30_000),
    /** Added to every command's environment; write secrets as ${VAR}. */
    env: z.record(z.string(), z.string()).superRefine(checkEnvNames).default({}),
    /** Working directory of every command, relative to where Pulseboard was started. @defaultValue Pulseboard's */
    cwd: z.string().min(1).optional(),
    ...replicaLimits,
  })
  .superRefine(checkReplicaLimits)
  .refine((s) => s.restart || s.scale || s.cache_mode, { error: "give at least one action command: restart, scale or cache_mode" });

type CommandSettings = z.output<typeof configSchema>;
type Action = "restart" | "scale" | "cache_mode";
type Command = Action | "nodes" | "stats";

/** What a missing action command keeps the driver from doing. */
const CANNOT: Record<Action, string> = { restart: "restart nodes", scale: "scale the fleet", cache_mode: "switch the cache mode" };

/** One command run that succeeded, with the JSON object its last stdout line held. */
interface Ran {
  result: ShellResult;
  answer?: Record<string, unknown>;
  summary?: string;
}

/**
 * Your own commands, one per action, run through /bin/sh with the order in
 * PULSEBOARD_* environment variables (never in the command text, so a node
 * id cannot inject anything). A last stdout line `{"summary": "…"}` words
 * the incident timeline entry. Exit codes: 2 and 64 (usage) refuse the
 * order, 77 is a missing permission, 78, 126 and 127 a setup to fix; none
 * of these is retried. Any other failure, a timeout or a signal is.
 */
export default defineFleetDriver({
  kind: "command",
  description: "your own shell commands, one per action (systemd, docker compose, …)",
  configSchema,
  create(settings, ctx): FleetDriver {
    return new CommandFleet(settings, ctx.env ?? {});
  },
});

class CommandFleet implements FleetDriver {
  readonly kind = "command";
  private readonly secrets: string[];

  constructor(
    private readonly settings: CommandSettings,
    private readonly inheritedEnv: Record<string, string | undefined>,
  ) {
    const commands = [settings.restart, settings.scale, settings.cache_mode, settings.nodes, settings.stats].flatMap((c) => (c ? words(c.run) : []));
    this.secrets = [...secretsIn(settings), ...secretsIn(commands)];
  }

  /** Only the actions with a command (fleet.restart, fleet.scale, fleet.cache_mode). */
  get actions(): readonly FleetAction[] {
    return FLEET_ACTIONS.filter((action) => this.settings[action] !== undefined);
  }

  async nodes(call: DriverCall): Promise<FleetNode[]> {
    if (!this.settings.nodes) {
      if (this.settings.stats) return (await this.stats(call)).nodes;
      throw new FleetConfigError("the command fleet driver cannot list nodes: set fleet.nodes.run (or fleet.stats.run)");
    }
    return (await this.read("nodes", this.settings.nodes.run, nodesAnswer, call)).map(toNode);
  }

  async stats(call: DriverCall): Promise<FleetStats> {
    if (!this.settings.stats) {
      const nodes = await this.nodes(call);
      return { nodes, connections: nodes.reduce((sum, n) => sum + (n.connections ?? 0), 0) };
    }
    const stats = await this.read("stats", this.settings.stats.run, statsAnswer, call);
    return { nodes: (stats.nodes ?? []).map(toNode), connections: stats.connections, limit: stats.limit, cacheMode: stats.cache_mode };
  }

  async restart(target: RestartTarget, call: DriverCall): Promise<ActionOutcome> {
    this.command("restart");
    const listed = Boolean(this.settings.nodes || this.settings.stats);
    if ("node" in target) {
      if (listed) {
        const nodes = await this.nodes(call);
        if (!nodes.some((n) => n.id === target.node)) throw new FleetNodeNotFound(target.node, nodes.map((n) => n.id));
      }
      return this.act("restart", { PULSEBOARD_RESTART: "node", PULSEBOARD_NODE: target.node }, `for node ${target.node}`, call);
    }
    const how = "failing" in target ? "failing" : "rolling";
    // Without a node list the command gets the whole order (no PULSEBOARD_NODE) and decides which nodes it means.
    if (!listed) return this.act("restart", { PULSEBOARD_RESTART: how }, how === "failing" ? "for the failing nodes" : "for every node, one by one", call);
    const nodes = await this.nodes(call);
    const chosen = how === "failing" ? nodes.filter((n) => n.state !== "ready" || n.safeguardStuck === true) : nodes;
    if (chosen.length === 0) {
      const ready = nodes.filter((n) => n.state === "ready").length;
      const why = how === "failing" ? `No gateway node is failing (${ready} of ${plural(nodes.length, "node")} ready)` : "The fleet has no nodes";
      return { summary: `${why}; nothing to restart.`, dryRun: call.dryRun, details: { restarted: [] } };
    }
    return this.restartEach(chosen.map((n) => n.id), how, call);
  }

  async scale(replicas: number, call: DriverCall): Promise<ActionOutcome> {
    checkReplicas(replicas, this.settings);
    return this.act("scale", { PULSEBOARD_REPLICAS: String(replicas) }, `for ${plural(replicas, "node")}`, call);
  }

  async setCacheMode(mode: CacheMode, call: DriverCall): Promise<ActionOutcome> {
    return this.act("cache_mode", { PULSEBOARD_CACHE_MODE: mode }, `for cache mode ${mode}`, call);
  }

  /** Runs one action command; its summary line, else ours, words the outcome. */
  private async act(action: Action, order: Record<string, string>, about: string, call: DriverCall): Promise<ActionOutcome> {
    const command = this.command(action);
    const details = { order: { PULSEBOARD_ACTION: action, ...order } };
    if (call.dryRun && command.dry_run === "skip") {
      return { summary: `Would run the ${action} command ${about}. ${NOTHING_CHANGED}`, dryRun: true, details };
    }
    const ran = await this.exec(action, command.run, order, about, call);
    const ours = `Ran the ${action} command ${call.dryRun ? "as a dry run " : ""}${about} (exit 0, ${took(ran.result.tookMs)}).`;
    const said = ran.summary ?? ours;
    return { summary: call.dryRun ? `${said} ${NOTHING_CHANGED}` : said, dryRun: call.dryRun, details: { ...details, ...ranDetails(ran) } };
  }

  /** Runs the restart command once per node, one after the other, stopping at the first that fails. */
  private async restartEach(ids: string[], how: "failing" | "rolling", call: DriverCall): Promise<ActionOutcome> {
    const command = this.command("restart");
    const which = how === "failing" ? plural(ids.length, "failing node") : plural(ids.length, "node");
    if (call.dryRun && command.dry_run === "skip") {
      return { summary: `Would run the restart command for ${which} one by one (${ids.join(", ")}). ${NOTHING_CHANGED}`, dryRun: true, details: { nodes: ids } };
    }
    const runs: { node: string; ran: Ran }[] = [];
    for (const node of ids) {
      const done = runs.map((r) => r.node);
      const ran = await this.exec("restart", command.run, { PULSEBOARD_RESTART: how, PULSEBOARD_NODE: node }, `for node ${node}`, call, done);
      runs.push({ node, ran });
    }
    const each = runs.map(({ node, ran }) => `${node} (${ran.summary?.replace(/\.$/, "") ?? `exit 0, ${took(ran.result.tookMs)}`})`);
    const summary = `Ran the restart command ${call.dryRun ? "as a dry run " : ""}for ${which} one by one: ${each.join(", ")}.`;
    return { summary: call.dryRun ? `${summary} ${NOTHING_CHANGED}` : summary, dryRun: call.dryRun, details: { runs: runs.map(({ node, ran }) => ({ node, ...ranDetails(ran) })) } };
  }

  /** Runs a read command and parses its stdout: all of it, else its last non-empty line. */
  private async read<T extends z.ZodType>(name: "nodes" | "stats", run: string, schema: T, call: DriverCall): Promise<z.output<T>> {
    const what = `the ${name} command`;
    const { result } = await this.exec(name, run, {}, "", call);
    if (result.stdoutCut) throw new FleetUpstreamError(`${what} printed more than ${OUTPUT_LIMIT / 1024} KiB on stdout; it should print only its JSON answer`, { retryable: false });
    const text = result.stdout.trim();
    const parsed = schema.safeParse(parseJson(text) ?? parseJson(lastLine(text)));
    if (!parsed.success) {
      throw new FleetUpstreamError(`${what} printed something that is not the expected JSON (${firstIssue(parsed.error)}): ${this.clean(text.slice(0, 200)) || "(nothing)"}`, { retryable: false });
    }
    return parsed.data;
  }

  /** Runs one command for an order; a FleetError saying what went wrong unless it exited with 0. */
  private async exec(name: Command, run: string, order: Record<string, string>, about: string, call: DriverCall, doneBefore: string[] = []): Promise<Ran> {
    const what = about ? `the ${name} command ${about}` : `the ${name} command`;
    const after = doneBefore.length > 0 ? ` (it had already run for ${doneBefore.join(", ")})` : "";
    if (call.signal.aborted) throw new FleetUpstreamError(`${what} was not run: the step's deadline had passed (${describeError(call.signal.reason)})`);
    let result: ShellResult;
    try {
      result = await runShell({ command: run, env: this.environment(name, order, call), cwd: this.settings.cwd, timeoutMs: this.settings.timeout, signal: call.signal });
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT" && this.settings.cwd;
      throw new FleetConfigError(missing ? `${what} could not start: fleet.cwd (${this.settings.cwd}) is not a directory` : `${what} could not start: ${describeError(err)}`);
    }
    if (result.stopped === "timeout") {
      throw new FleetUpstreamError(`${what} timed out after ${seconds(this.settings.timeout)} and was killed, with every process it started${after}${this.said(result)}`);
    }
    if (result.stopped === "aborted") {
      throw new FleetUpstreamError(`${what} was stopped at the step's deadline (${describeError(call.signal.reason)}) and killed, with every process it started${after}`);
    }
    if (result.signal) throw new FleetUpstreamError(`${what} was killed by ${result.signal}${after}${this.said(result)}`);
    if (result.code !== 0) throw exitError(`${what} exited with code ${result.code}${HINTS[result.code!] ?? ""}${after}${this.said(result)}`, result.code!);
    return this.answerOf(result);
  }

  private environment(name: Command, order: Record<string, string>, call: DriverCall): Record<string, string> {
    // The command runs as a child of Pulseboard would (PATH, HOME, DOCKER_HOST, …), less any stale order variable.
    const inherited = Object.entries(this.inheritedEnv).filter((e): e is [string, string] => e[1] !== undefined && !ORDER_VARS.includes(e[0]));
    return { ...Object.fromEntries(inherited), ...this.settings.env, PULSEBOARD_ACTION: name, PULSEBOARD_DRY_RUN: call.dryRun ? "1" : "0", ...order };
  }

  /** The command's last non-empty stdout line, when it is a JSON object; its `summary` words the outcome. */
  private answerOf(result: ShellResult): Ran {
    const last = parseJson(lastLine(result.stdout));
    if (!last || typeof last !== "object" || Array.isArray(last)) return { result };
    const answer = scrubDeep(last as Record<string, unknown>, this.secrets);
    const said = typeof answer.summary === "string" && answer.summary.trim() ? answer.summary.trim().slice(0, 500) : undefined;
    return { result, answer, summary: said };
  }

  /** ": " and the last lines of stderr (of stdout when stderr is empty), scrubbed; "" when it printed nothing. */
  private said(result: ShellResult): string {
    const lines = (result.stderr.trim() || result.stdout.trim()).split("\n").map((l) => l.trim()).filter(Boolean);
    const tail = lines.slice(-TAIL_LINES).join(" | ");
    if (!tail) return "";
    return `: ${this.clean(tail.length > TAIL_CHARS ? `…${tail.slice(-TAIL_CHARS)}` : tail)}`;
  }

  private clean(text: string): string {
    return scrub(text, this.secrets);
  }

  private command(action: Action): z.output<typeof actionCommand> {
    const command = this.settings[action];
    if (!command) throw new FleetConfigError(`the command fleet driver cannot ${CANNOT[action]}: set fleet.${action}.run`);
    return command;
  }
}

/** Lines and characters of a failed command's output quoted in its error. */
const TAIL_LINES = 5;
const TAIL_CHARS = 600;

/** What the shell's own exit codes mean. */
const HINTS: Record<number, string> = { 126: " (a program it runs is not executable)", 127: " (a program it runs was not found)" };

/** The error for a non-zero exit: usage errors and setup problems are not worth retrying; anything else may be. */
function exitError(message: string, code: number): FleetError {
  if (code === 2 || code === 64) return new FleetValidationError(message);
  if (code === 77) return new FleetPermissionError(message);
  if (code === 78 || code === 126 || code === 127) return new FleetConfigError(message);
  return new FleetUpstreamError(message);
}

function ranDetails(ran: Ran): Record<string, unknown> {
  return { exit_code: ran.result.code, took_ms: ran.result.tookMs, ...(ran.answer ? { answer: ran.answer } : {}) };
}

/** A command line's words without their quotes, for secretsIn (`--token X`, `API_KEY=X`, URLs with a password). */
function words(command: string): string[] {
  return command.split(/\s+/).map((w) => w.replace(/^["']+|["';]+$/g, "")).filter(Boolean);
}

function lastLine(text: string): string {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).at(-1) ?? "";
}

/** A configured duration: "30 s", "1.5 s", "500 ms". */
function seconds(ms: number): string {
  return ms < 1_000 ? `${ms} ms` : `${Number((ms / 1_000).toFixed(1))} s`;
}
