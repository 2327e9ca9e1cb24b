import { z } from "zod";
import { defineProbe, durationSetting, ProbeFailure } from "../src/probe-runtime/index.ts";

/** Required, with a message that says what the setting is for when it is missing. */
const every = z
  .custom<string>((value) => value !== undefined, { error: 'required: how often the job pings, like "5m"' })
  .pipe(durationSetting())
  .refine((ms) => ms >= 1_000, { error: "must be at least 1s" });

const settingsSchema = z.strictObject({
  /** How often the job pings /api/heartbeat/<probe id>. At least 1s. */
  every,
  /**
   * How much later than `every` a ping may come before the check fails (a
   * slow run, a busy host): it fails when nothing came for `every + grace`.
   * @defaultValue "1m"
   */
  grace: durationSetting().default(60_000),
});

/**
 * A heartbeat check (a push monitor): ok while something outside, a cron
 * job or a worker no synthetic probe can reach, pings
 * `/api/heartbeat/<probe id>` with its token at least every `every`; failed
 * when nothing came for `every + grace`, or at once when the ping says
 * `?status=fail`. The web role takes the pings and the worker watches the
 * deadlines (src/heartbeat/); no agent ever runs this kind.
 */
export default defineProbe({
  kind: "heartbeat",
  description: "Pushed by your own jobs: ok while they ping /api/heartbeat/<probe id> at least every `every` (+ `grace`)",
  configSchema: settingsSchema,
  run() {
    return Promise.reject(
      new ProbeFailure("a heartbeat check is not run by agents: it is judged by the pings it gets at /api/heartbeat/<probe id> and by the worker's deadline check"),
    );
  },
});
