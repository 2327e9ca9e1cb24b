import { createLogger, describeError } from "../core/index.ts";
import type { RelayedMessage } from "./cache-modes.ts";
import type { FromNode, NodeOps, ToNode } from "./ipc.ts";
import { GatewayNode, type Fault } from "./node.ts";
import { nodeOptions } from "./settings.ts";

/**
 * Runs inside a cluster worker: asks the primary for its index and settings,
 * runs that node, answers the primary's requests, and stops when told to,
 * when sent SIGTERM, or when the primary is gone.
 */
export function runFleetNode(): void {
  let node: GatewayNode | undefined;
  const send = (message: FromNode, then?: () => void): void => {
    if (process.connected) process.send?.(message, undefined, undefined, then);
  };
  const stop = (): void => {
    void (node?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
  };

  process.on("message", (message: ToNode) => {
    if (message.type === "assign") {
      const { gateway, cacheUrl, logLevel } = message.settings;
      const log = createLogger({ level: logLevel, base: { role: "gateway" } });
      const relay = (relayed: RelayedMessage): void => send({ type: "relay", ...relayed });
      node = new GatewayNode({ ...nodeOptions(gateway, { index: message.index, cacheUrl, mode: message.mode, log }), relay });
      node.start().then(
        (ports) => send({ type: "ready", index: message.index, ...ports }),
        (err: unknown) => {
          log.error({ err: describeError(err), index: message.index }, "gateway node could not listen");
          process.exit(1);
        },
      );
    } else if (message.type === "relay") {
      const { type: _type, ...relayed } = message;
      node?.relayed(relayed);
    } else if (message.type === "request" && node) {
      void answer(node, message.id, message.op, message.args, send);
    } else if (message.type === "stop") {
      stop();
    }
  });
  // Ctrl-C reaches the whole process group; the primary coordinates that stop.
  process.on("SIGINT", () => {});
  // SIGTERM sent to this node alone stops it; the primary starts a fresh one.
  process.on("SIGTERM", stop);
  send({ type: "hello" });
}

async function answer(node: GatewayNode, id: number, op: keyof NodeOps, args: unknown, send: (m: FromNode, then?: () => void) => void): Promise<void> {
  try {
    switch (op) {
      case "ping":
        return send({ type: "reply", id, ok: true, result: { at: Date.now(), ...node.load() } });
      case "intake":
        return send({ type: "reply", id, ok: true, result: { open: await node.setIntake((args as NodeOps["intake"]["args"]).open) } });
      case "stats":
        return send({ type: "reply", id, ok: true, result: node.stats() });
      case "metrics":
        return send({ type: "reply", id, ok: true, result: await node.metricsJson() });
      case "cache-mode": {
        const { mode, step, generation } = args as NodeOps["cache-mode"]["args"];
        return send({ type: "reply", id, ok: true, result: { mode: await node.cacheModeStep(mode, step, generation) } });
      }
      case "drain": {
        const closed = await node.drain(1012);
        // Exit once the primary has the answer; it starts the replacement.
        return send({ type: "reply", id, ok: true, result: { closed } }, () => process.exit(0));
      }
      case "fault": {
        const fault = args as Fault;
        if (fault.fault !== "freeze") {
          node.fault(fault);
          return send({ type: "reply", id, ok: true, result: { applied: fault.fault } });
        }
        node.checkFaultsEnabled();
        // Answer first: a frozen node answers nothing.
        return send({ type: "reply", id, ok: true, result: { applied: fault.fault } }, () => node.fault(fault));
      }
    }
  } catch (err) {
    send({ type: "reply", id, ok: false, error: describeError(err) });
  }
}
