import net from "node:net";
import { freePort } from "../../src/core/index.ts";

async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer().once("error", () => resolve(false));
    server.listen(port, "0.0.0.0", () => server.close(() => resolve(true)));
  });
}

/** The first of `count` consecutive free ports. */
export async function freePortRange(count: number): Promise<number> {
  for (;;) {
    const first = await freePort();
    if (first + count > 65_000) continue;
    let ok = true;
    for (let port = first; port < first + count && ok; port++) ok = await isFree(port);
    if (ok) return first;
  }
}
