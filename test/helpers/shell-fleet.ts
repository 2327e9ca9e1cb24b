import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * A tiny gateway fleet kept in files, driven by one POSIX shell script the
 * way a team's own systemd or docker compose scripts would be: `replicas`,
 * `mode`, one line per restart in `restarts`, a node's state in
 * `state-<node>` (ready when absent), and every order it got in `orders`.
 * It honours PULSEBOARD_DRY_RUN=1 by changing nothing.
 */
const FLEET_SCRIPT = `#!/bin/sh
set -eu
cd "$FLEET_DIR"
echo "$PULSEBOARD_ACTION dry=$PULSEBOARD_DRY_RUN restart=\${PULSEBOARD_RESTART-} node=\${PULSEBOARD_NODE-} replicas=\${PULSEBOARD_REPLICAS-} mode=\${PULSEBOARD_CACHE_MODE-}" >> orders
nodes() {
  i=0
  sep=""
  printf '['
  while [ "$i" -lt "$(cat replicas)" ]; do
    printf '%s{"id":"gw-%s","state":"%s","connections":5}' "$sep" "$i" "$(cat "state-gw-$i" 2>/dev/null || echo ready)"
    sep=","
    i=$((i + 1))
  done
  printf ']'
}
dry() { [ "$PULSEBOARD_DRY_RUN" = 1 ]; }
case "$PULSEBOARD_ACTION" in
  nodes)
    echo "asking the fleet for its nodes"
    printf '{"nodes":%s}\\n' "$(nodes)" ;;
  stats)
    printf '{"connections":%s,"cache_mode":"%s","nodes":%s}\\n' $((5 * $(cat replicas))) "$(cat mode)" "$(nodes)" ;;
  restart)
    if dry; then echo "{\\"summary\\":\\"Would restart \${PULSEBOARD_NODE-every node} with systemd.\\"}"; exit 0; fi
    echo "\${PULSEBOARD_NODE-all}" >> restarts ;;
  scale)
    dry || echo "$PULSEBOARD_REPLICAS" > replicas ;;
  cache_mode)
    dry || echo "$PULSEBOARD_CACHE_MODE" > mode ;;
  *)
    echo "fleet.sh: unknown action $PULSEBOARD_ACTION" >&2
    exit 2 ;;
esac
`;

/** The command that runs the fleet's script (its path comes from FLEET_DIR, in the driver's `env`). */
export const FLEET_COMMAND = 'sh "$FLEET_DIR/fleet.sh"';

export interface ShellFleet {
  /** The fleet's directory (a fresh temp dir). */
  dir: string;
  /** Command-driver settings for this fleet; restart and scale run in dry runs too (the script honours PULSEBOARD_DRY_RUN). */
  settings(overrides?: Record<string, unknown>): Record<string, unknown>;
  /** What the fleet would change: replicas, mode and restarts (not the orders it read). */
  state(): { replicas: number; mode: string; restarts: string[] };
  /** Every order the script got, one line each, oldest first. */
  orders(): string[];
  /** Sets a node's state (`unresponsive`, …), as the nodes command reports it. */
  setNodeState(node: string, state: string): void;
  /** A file in the fleet's directory. */
  file(name: string): string;
  stop(): Promise<void>;
}

/** Creates the fleet in a temp dir with `replicas` nodes (gw-0, gw-1, …) in cache mode normal. */
export function startShellFleet(options: { replicas?: number } = {}): ShellFleet {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-shell-fleet-"));
  writeFileSync(path.join(dir, "fleet.sh"), FLEET_SCRIPT, { mode: 0o755 });
  writeFileSync(path.join(dir, "replicas"), `${options.replicas ?? 2}\n`);
  writeFileSync(path.join(dir, "mode"), "normal\n");
  const read = (name: string) => (existsSync(path.join(dir, name)) ? readFileSync(path.join(dir, name), "utf8") : "");
  const lines = (name: string) => read(name).split("\n").filter(Boolean);
  return {
    dir,
    settings: (overrides = {}) => ({
      restart: { run: FLEET_COMMAND, dry_run: "run" },
      scale: { run: FLEET_COMMAND, dry_run: "run" },
      cache_mode: { run: FLEET_COMMAND },
      nodes: { run: FLEET_COMMAND },
      stats: { run: FLEET_COMMAND },
      env: { FLEET_DIR: dir },
      timeout: "10s",
      ...overrides,
    }),
    state: () => ({ replicas: Number(read("replicas")), mode: read("mode").trim(), restarts: lines("restarts") }),
    orders: () => lines("orders"),
    setNodeState: (node, state) => writeFileSync(path.join(dir, `state-${node}`), `${state}\n`),
    file: (name) => path.join(dir, name),
    async stop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
