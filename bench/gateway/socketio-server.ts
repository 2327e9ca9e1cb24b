/**
 * The baseline: one Socket.IO server process, forked by run.ts, doing what
 * our gateway does for the benchmark's workload. Several of them share one
 * redis-server through @socket.io/redis-adapter, as a Socket.IO fleet would.
 * Websocket transport only. Events: `subscribe {channel}` joins the room
 * and acks; `publish {channel, data}` emits `message {channel, data, ts}` to
 * the room on every server and acks.
 *
 * Environment: SIO_PORT (listens on 127.0.0.1), SIO_REDIS_URL.
 * IPC: sends {type:"ready", pid} once listening; answers {type:"stats"} with
 * {type:"stats", connections}.
 */
import http from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

const port = Number(process.env.SIO_PORT);
const redisUrl = process.env.SIO_REDIS_URL;
if (!port || !redisUrl) throw new Error("SIO_PORT and SIO_REDIS_URL are required");

const pub = new Redis(redisUrl);
const sub = pub.duplicate();
await Promise.all([pub, sub].map((client) => new Promise<void>((resolve) => client.once("ready", () => resolve()))));

const httpServer = http.createServer();
const io = new Server(httpServer, { transports: ["websocket"], serveClient: false, adapter: createAdapter(pub, sub) });

io.on("connection", (socket) => {
  socket.on("subscribe", (body: { channel: string }, ack?: (reply: unknown) => void) => {
    void socket.join(body.channel);
    ack?.({ ok: true });
  });
  socket.on("publish", (body: { channel: string; data: unknown }, ack?: (reply: unknown) => void) => {
    io.to(body.channel).emit("message", { channel: body.channel, data: body.data, ts: Date.now() });
    ack?.({ ok: true });
  });
});

process.on("message", (message: { type: string }) => {
  if (message.type === "stats") process.send!({ type: "stats", connections: io.engine.clientsCount });
});
// Never outlive the runner.
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));

httpServer.listen(port, "127.0.0.1", () => process.send!({ type: "ready", pid: process.pid }));
