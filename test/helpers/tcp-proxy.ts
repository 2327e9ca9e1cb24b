import net from "node:net";

/** A TCP proxy in front of a real server, able to silence the connections it carries. */
export interface TcpProxy {
  /** The target URL with the proxy's address in it: connecting there reaches the target through the proxy. */
  url: string;
  port: number;
  /**
   * Turns every connection open now into a black hole: the client's socket
   * stays open, nothing it sends arrives and nothing comes back, and the
   * server side is closed. That is what a client sees when its server went
   * away behind something that says nothing (a TCP proxy or load balancer
   * whose backend failed over, a dropped NAT entry): no reset, no error,
   * just silence. Connections made afterwards reach the server as before,
   * unless `future` says they are silenced too (the whole path is a black
   * hole). Returns how many open connections it silenced.
   */
  silence(options?: { future?: boolean }): number;
  /** How many connections carry bytes now. */
  liveConnections(): number;
  close(): Promise<void>;
}

/** One client connection and, unless it was silenced from the start, its connection to the server. */
interface Carried {
  client: net.Socket;
  upstream?: net.Socket;
  silenced: boolean;
}

/** Starts a proxy on a free port of 127.0.0.1 that forwards to `target` (a URL with host and port). */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const to = new URL(target);
  const carried = new Set<Carried>();
  let silenceNew = false;
  const server = net.createServer((client) => {
    const entry: Carried = { client, silenced: silenceNew };
    carried.add(entry);
    client.on("error", () => {});
    client.on("close", () => {
      carried.delete(entry);
      entry.upstream?.destroy();
    });
    if (entry.silenced) return;
    const upstream = (entry.upstream = net.connect(Number(to.port), to.hostname));
    upstream.on("error", () => {});
    client.on("data", (chunk) => {
      if (!entry.silenced) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!entry.silenced) client.write(chunk);
    });
    // The server closing a connection closes the client's, unless the proxy silenced it first.
    upstream.on("close", () => {
      if (!entry.silenced) client.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const url = new URL(target);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return {
    url: url.toString(),
    port,
    silence(options = {}) {
      silenceNew = options.future ?? false;
      let count = 0;
      for (const entry of carried) {
        if (entry.silenced) continue;
        entry.silenced = true;
        entry.upstream?.destroy();
        count++;
      }
      return count;
    },
    liveConnections: () => [...carried].filter((c) => !c.silenced).length,
    async close() {
      for (const entry of carried) {
        entry.client.destroy();
        entry.upstream?.destroy();
      }
      carried.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
