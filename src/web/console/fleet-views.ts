import type { CacheMode, FleetAction } from "../../fleet/index.ts";
import type { FleetOrder, FleetOverview } from "../fleet-orders.ts";

/**
 * View models of the console's fleet page and its confirmation pages:
 * plain data the views print (every text through `{{…}}`, which escapes it).
 */

/** A node's state in words, with the status colour it takes on the page. */
const NODE_STATES: Record<string, string> = { ready: "operational", starting: "maintenance", draining: "degraded_performance", unresponsive: "major_outage", stopped: "major_outage" };

/** The fleet's nodes as the live part of the page prints them. */
export function fleetNodes(overview: FleetOverview) {
  const ready = overview.nodes.filter((n) => n.state === "ready").length;
  return {
    driver: overview.driver,
    cacheMode: overview.cache_mode,
    connections: overview.connections,
    limit: overview.limit,
    ready,
    total: overview.nodes.length,
    canRestart: overview.actions.includes("restart"),
    nodes: overview.nodes.map((n) => ({
      ...n,
      tone: n.safeguard_stuck ? "major_outage" : (NODE_STATES[n.state] ?? "unknown"),
      // Ids go into element ids (the live refresh keeps focus by them): only safe characters.
      key: n.id.replace(/[^A-Za-z0-9_-]/g, "_"),
      href: `/admin/fleet/nodes/${encodeURIComponent(n.id)}/restart`,
    })),
  };
}

/** Which fleet-wide forms the page offers: only the orders the driver is set up for. */
export function fleetForms(actions: readonly FleetAction[], cacheMode: CacheMode | null) {
  return {
    rolling: actions.includes("restart"),
    scale: actions.includes("scale"),
    cacheMode: actions.includes("cache_mode") && { modes: (["normal", "bypass"] as const).map((m) => ({ value: m, selected: cacheMode !== null && m !== cacheMode })) },
  };
}

/** What a confirmation page says an order does, and its button. */
export function orderWords(order: FleetOrder): { title: string; button: string; explain: string[]; action: string; fields: { name: string; value: string }[] } {
  if (order.action === "restart" && "node" in order.target) {
    const node = order.target.node;
    return {
      title: `Restart ${node}?`,
      button: `Restart ${node}`,
      explain: [`${node} is drained first: its clients are disconnected and reconnect to the other nodes, then a fresh ${node} starts.`, "With one node, clients wait until it is back."],
      action: `/admin/fleet/nodes/${encodeURIComponent(node)}/restart`,
      fields: [],
    };
  }
  if (order.action === "restart") {
    return {
      title: "Restart every node, one by one?",
      button: "Restart every node",
      explain: ["Each node in turn is drained (its clients reconnect to the others) and restarted; the next starts once it is back, so the others keep serving."],
      action: "/admin/fleet/restart",
      fields: [],
    };
  }
  if (order.action === "scale") {
    return {
      title: `Scale the fleet to ${order.replicas} ${order.replicas === 1 ? "node" : "nodes"}?`,
      button: `Scale to ${order.replicas}`,
      explain: ["New nodes start and take new clients once ready. Nodes taken away are drained first: their clients reconnect to the nodes that stay."],
      action: "/admin/fleet/scale",
      fields: [{ name: "nodes", value: String(order.replicas) }],
    };
  }
  return {
    title: `Switch the cache mode to ${order.mode}?`,
    button: `Switch to ${order.mode}`,
    explain:
      order.mode === "bypass"
        ? ["Every node keeps its own history and the fleet relays messages between nodes itself, without the cache Redis: degraded, but alive while the cache is in trouble. No connection is dropped.", "A new history starts: clients resuming from before the switch are told they may have missed messages."]
        : ["Every node goes back to the cache Redis for history and fan-out. No connection is dropped.", "A new history starts: clients resuming from before the switch are told they may have missed messages."],
    action: "/admin/fleet/cache-mode",
    fields: [{ name: "mode", value: order.mode }],
  };
}
