import net from "node:net";
import { WebSocketServer } from "ws";

/** A server that says nothing, for the "Connecting…" popup: a probe must fail at its deadline in the phase it was stuck in. */
export interface SilentServer {
  port: number;
  stop(): Promise<void>;
}

/** Accepts TCP connections and never sends a byte (no upgrade, no protocol greeting). */
export async function silentTcp(): Promise<SilentServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Completes the WebSocket upgrade (any path, any subprotocol) and then never sends a frame. */
export async function silentWebSocket(): Promise<SilentServer> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: (protocols) => [...protocols][0] ?? false });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  wss.on("connection", (ws) => ws.on("error", () => {}));
  return {
    port: (wss.address() as net.AddressInfo).port,
    async stop() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
