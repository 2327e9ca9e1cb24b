// The entry point of a gateway node (a cluster worker of the fleet). It loads
// the node and nothing else: its settings come from the primary, so a node
// holds no configuration loader, probe kinds, Express or BullMQ.
import { runFleetNode } from "./node-process.ts";

runFleetNode();
