// The entry point of the gateway's primary under `pulseboard start`. Start has
// already validated pulseboard.yaml and sends what the gateway runs with over
// IPC, so this process loads only the fleet and its admin API: no
// configuration loader, probe kinds or channel kinds.
import { createLogger, describeError, stopOnSignals } from "../core/index.ts";
import { runFleetPrimary, type PrimarySettings } from "./primary.ts";

/** Without settings within this, start is not the parent: say so rather than wait forever. */
const SETTINGS_TIMEOUT_MS = 10_000;

function settingsFromStart(): Promise<PrimarySettings> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error("this entry point is started by `pulseboard start`; run `pulseboard gateway` instead"));
    const timer = setTimeout(() => reject(new Error(`no settings from pulseboard start within ${SETTINGS_TIMEOUT_MS / 1000} s`)), SETTINGS_TIMEOUT_MS);
    process.once("message", (message: { type?: string; settings?: PrimarySettings }) => {
      clearTimeout(timer);
      if (message?.type === "settings" && message.settings?.gateway) resolve(message.settings);
      else reject(new Error(`expected the gateway's settings from pulseboard start, got ${JSON.stringify(message?.type ?? message)}`));
    });
    process.send({ type: "hello" });
  });
}

void settingsFromStart().then(
  async (settings) => {
    const log = createLogger({ level: settings.logLevel, base: { role: "gateway" } });
    const primary = await runFleetPrimary(settings, log).catch((err: unknown) => {
      log.error({ err: describeError(err) }, "the gateway could not start");
      process.exit(1);
    });
    const { port, nodes, adminPort } = settings.gateway;
    process.send?.({ type: "ready", role: "gateway", detail: { port, nodes, adminPort } });
    stopOnSignals(Promise.resolve(primary), log);
  },
  (err: unknown) => {
    process.stderr.write(`pulseboard gateway: ${describeError(err)}\n`);
    process.exit(2);
  },
);
