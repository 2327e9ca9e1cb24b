import { execFile } from "node:child_process";
import { z } from "zod";
import { optionalDuration, took } from "./common.ts";
import { defineStep, type StepOutcome } from "./types.ts";

const configSchema = z.strictObject({
  /** The program and its arguments, like [kubectl, rollout, restart, deploy/gateway]; run without a shell. */
  command: z.array(z.string().min(1), { error: "expected the program and its arguments as a list, like [systemctl, restart, gateway]" }).min(1, { error: "name the program to run" }),
  /** The program is killed after this. @defaultValue 30s */
  timeout: optionalDuration(30_000),
  /** Working directory. @defaultValue the worker's */
  cwd: z.string().min(1).optional(),
  /** Run it again when a worker died while it ran (only for commands safe to repeat). @defaultValue false */
  repeat_on_resume: z.boolean().default(false),
});

type Settings = z.output<typeof configSchema>;

const OUTPUT_KEPT = 2_000;

/**
 * Runs a configured program (no shell: arguments are passed as they are
 * written) and passes when it exits with 0. A command interrupted by a
 * worker's death is not run again unless `repeat_on_resume` says it is safe.
 */
export default defineStep({
  action: "command",
  description: "run a configured program with a timeout",
  configSchema,
  resume: "check",
  timeoutMs: (s) => s.timeout + 2_000,
  describe: (s) => `run ${s.command.join(" ")}`,
  async run(s, ctx) {
    if (ctx.dryRun) return { ok: true, summary: `Would run \`${s.command.join(" ")}\`. Nothing was changed (dry run).` };
    return runCommand(s, ctx.signal);
  },
  async check(s, ctx) {
    return s.repeat_on_resume ? runCommand(s, ctx.signal) : undefined;
  },
});

function runCommand(s: Settings, signal: AbortSignal): Promise<StepOutcome> {
  const [program, ...args] = s.command as [string, ...string[]];
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(program, args, { timeout: s.timeout, signal, cwd: s.cwd, maxBuffer: 1024 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      const details = { exit_code: err ? ((err as { code?: unknown }).code ?? null) : 0, stdout: tail(stdout), stderr: tail(stderr), took_ms: Date.now() - started };
      const shown = `\`${s.command.join(" ")}\``;
      if (!err) return resolve({ ok: true, summary: `Ran ${shown}: exit 0 in ${took(Date.now() - started)}.`, details });
      const killed = (err as { killed?: boolean }).killed || (err as { code?: unknown }).code === "ABORT_ERR";
      const why = killed ? `killed after ${took(Date.now() - started)}` : typeof details.exit_code === "number" ? `exit ${details.exit_code}` : err.message;
      const said = tail(stderr).trim().split("\n").at(-1);
      resolve({ ok: false, summary: `Ran ${shown}: ${why}${said ? ` (${said.slice(0, 160)})` : ""}.`, details });
    });
  });
}

function tail(text: string | Buffer): string {
  const s = String(text);
  return s.length > OUTPUT_KEPT ? `…${s.slice(-OUTPUT_KEPT)}` : s;
}
