import net from "node:net";

async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer().once("error", () => resolve(false));
    server.listen(port, "0.0.0.0", () => server.close(() => resolve(true)));
  });
}

/**
 * Candidates lie below the kernel's ephemeral range (Linux 32768–60999,
 * macOS 49152–65535): a port taken from inside it can be picked again by an
 * outgoing connection, whose TIME_WAIT then keeps a node that starts later
 * (a scaled-out one) from listening there (EADDRINUSE).
 */
const LOW = 20_000;
const HIGH = 32_000;

/** The first of `count` consecutive free ports. */
export async function freePortRange(count: number): Promise<number> {
  for (;;) {
    const first = LOW + Math.floor(Math.random() * (HIGH - LOW - count));
    let ok = true;
    for (let port = first; port < first + count && ok; port++) ok = await isFree(port);
    if (ok) return first;
  }
}
