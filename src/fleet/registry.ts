import type { z } from "zod";
import type { FleetConfig, GatewayConfig } from "../config/index.ts";
import { describeError, type Logger } from "../core/index.ts";
import { formatIssues } from "../config/index.ts";
import command from "./command.ts";
import { FleetConfigError } from "./errors.ts";
import http from "./http.ts";
import kubernetes from "./kubernetes.ts";
import local from "./local.ts";
import type { ActionOutcome, DriverCall, FleetDriver, FleetDriverKind } from "./types.ts";

/** Every fleet driver there is; config names one of these as `fleet.driver`. */
export const FLEET_DRIVER_KINDS = ["local", "kubernetes", "http", "command"] as const;
/** The name of a driver kind, as written in `fleet.driver`. */
export type FleetDriverName = (typeof FLEET_DRIVER_KINDS)[number];

/**
 * Every driver by name. A Record over FleetDriverName, so a kind listed
 * above without an implementation here does not compile.
 */
export const fleetDrivers: Record<FleetDriverName, FleetDriverKind> = { local, kubernetes, http, command };

/** True for a driver kind that exists. */
export function isFleetDriverName(kind: string): kind is FleetDriverName {
  return (FLEET_DRIVER_KINDS as readonly string[]).includes(kind);
}

/**
 * The driver kinds as config validation needs them (the shape of the probe
 * and channel kinds' registries): `schema(kind)` validates the `fleet:`
 * section without its `driver` key; an unknown kind has none.
 */
export const fleetKinds = {
  kinds(): string[] {
    return [...FLEET_DRIVER_KINDS];
  },
  get(kind: string): FleetDriverKind | undefined {
    return isFleetDriverName(kind) ? fleetDrivers[kind] : undefined;
  },
  schema(kind: string): z.ZodType | undefined {
    return isFleetDriverName(kind) ? fleetDrivers[kind].configSchema : undefined;
  },
};

/**
 * The driver `fleet:` names, bound to its settings, with the gateway's
 * admin API (gateway.admin_url and admin_token) as the default way in.
 * Throws a FleetConfigError when the settings cannot work; `config check`
 * has already named each bad field as `fleet.<field>`.
 */
export function createFleetDriver(config: { fleet: FleetConfig; gateway: Pick<GatewayConfig, "adminUrl" | "adminToken"> }, log: Logger, env: Record<string, string | undefined> = {}): FleetDriver {
  const kind = fleetKinds.get(config.fleet.driver);
  if (!kind) throw new FleetConfigError(`fleet.driver: unknown fleet driver "${config.fleet.driver}" (known: ${FLEET_DRIVER_KINDS.join(", ")})`);
  const parsed = kind.configSchema.safeParse(config.fleet.settings);
  if (!parsed.success) throw new FleetConfigError(`invalid fleet settings:\n  ${formatIssues(parsed.error.issues, "fleet").join("\n  ")}`);
  const driverLog = log.child({ module: `fleet.${kind.kind}` });
  const driver = kind.create(parsed.data, {
    log: driverLog,
    gatewayAdmin: { url: config.gateway.adminUrl, token: config.gateway.adminToken },
    inCluster: config.fleet.inCluster,
    env,
  });
  return logged(driver, driverLog);
}

/** The driver with every action logged once, as done or failed, in one place rather than in each driver. */
function logged(driver: FleetDriver, log: Logger): FleetDriver {
  const act = async (action: string, input: Record<string, unknown>, call: DriverCall, run: () => Promise<ActionOutcome>): Promise<ActionOutcome> => {
    const started = Date.now();
    try {
      const outcome = await run();
      log.info({ action, ...input, dryRun: call.dryRun, took_ms: Date.now() - started, summary: outcome.summary }, "fleet action done");
      return outcome;
    } catch (err) {
      log.warn({ action, ...input, dryRun: call.dryRun, took_ms: Date.now() - started, err: describeError(err) }, "fleet action failed");
      throw err;
    }
  };
  return {
    kind: driver.kind,
    ...(driver.actions ? { actions: driver.actions } : {}),
    nodes: (call) => driver.nodes(call),
    stats: (call) => driver.stats(call),
    restart: (target, call) => act("restart", { target }, call, () => driver.restart(target, call)),
    scale: (replicas, call) => act("scale", { replicas }, call, () => driver.scale(replicas, call)),
    setCacheMode: (mode, call) => act("cache-mode", { mode }, call, () => driver.setCacheMode(mode, call)),
  };
}
