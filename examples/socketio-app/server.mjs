// A small Socket.IO chat backend, the kind a team runs behind its own
// frontend: clients join rooms and publish into them. Pulseboard's
// socket.io probes watch it (examples/socketio.yaml), and its tests run it
// as real processes. Plain JavaScript, so `node server.mjs` runs it.
//
// Environment:
//   PORT         the port to listen on (required)
//   HOST         the address to listen on (default 127.0.0.1)
//   NODE_ID      this node's name, for logs and /healthz (default "node")
//   REDIS_URL    when set, nodes fan out through @socket.io/redis-adapter;
//                else the in-memory adapter (one node)
//   APP_TOKEN    when set, a client must connect with auth.token equal to it
//   MAX_CLIENTS  when set, connections beyond this many are refused
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

const port = Number(process.env.PORT);
const host = process.env.HOST || "127.0.0.1";
const nodeId = process.env.NODE_ID || "node";
const redisUrl = process.env.REDIS_URL || "";
const appToken = process.env.APP_TOKEN || "";
const maxClients = process.env.MAX_CLIENTS ? Number(process.env.MAX_CLIENTS) : Infinity;

if (!Number.isInteger(port) || port <= 0) fatal("PORT must be a port number");
if (Number.isNaN(maxClients) || maxClients < 0) fatal("MAX_CLIENTS must be a number of clients");

function log(message, fields = {}) {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), node: nodeId, message, ...fields })}\n`);
}

function fatal(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const http = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ ok: true, node: nodeId, clients: io.of("/").sockets.size }));
    return;
  }
  res.writeHead(404).end();
});

const io = new Server(http, {
  // A client that loses its network for up to 2 minutes gets its rooms back and every message it missed.
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000 },
  ...(redisUrl ? { adapter: redisAdapter(redisUrl) } : {}),
});

/**
 * The Redis adapter's pub and sub clients. Redis going away must not take
 * this node down, nor its local delivery (the adapter emits to local
 * clients itself, and only publishes for the other nodes):
 * - errors on the clients are logged;
 * - the adapter never awaits its publish and subscribe commands, so each
 *   gets a catch here, or a command failing while Redis is down would be an
 *   unhandled rejection and end the process;
 * - a publish gives up after two reconnection attempts: a message for the
 *   other nodes seconds late is of no use to a chat, and an outage must not
 *   queue them without bound.
 * While Redis is paused (CLIENT PAUSE) its connection stays up: publishes
 * wait for it, and go out when it answers again.
 */
function redisAdapter(url) {
  const pubClient = new Redis(url, { maxRetriesPerRequest: 2 });
  const subClient = pubClient.duplicate();
  for (const [role, client] of [["pub", pubClient], ["sub", subClient]]) {
    client.on("error", (err) => log("redis error", { role, error: err.message }));
    for (const command of ["publish", "subscribe", "psubscribe"]) catchFailures(client, command, role);
  }
  return createAdapter(pubClient, subClient);
}

function catchFailures(client, command, role) {
  const send = client[command].bind(client);
  client[command] = (...args) => {
    const sent = send(...args);
    sent.catch((err) => log(`redis ${command} failed: cross-node delivery lost`, { role, error: err.message }));
    return sent;
  };
}

io.use((socket, next) => {
  if (appToken && socket.handshake.auth?.token !== appToken) return next(new Error("invalid token"));
  next();
});

// The connection limit, the way apps implement one: refuse in a middleware, before the client joins.
io.use((socket, next) => {
  if (io.of("/").sockets.size >= maxClients) return next(new Error("server full"));
  next();
});

io.on("connection", (socket) => {
  socket.on("subscribe", (channel, ack) => {
    if (typeof channel !== "string" || channel === "") return reply(ack, { ok: false, error: "channel must be a non-empty string" });
    socket.join(channel);
    reply(ack, { ok: true });
  });
  socket.on("publish", (channel, payload, ack) => {
    if (typeof channel !== "string" || channel === "") return reply(ack, { ok: false, error: "channel must be a non-empty string" });
    io.to(channel).emit("message", payload, channel);
    reply(ack, { ok: true });
  });
});

function reply(ack, answer) {
  if (typeof ack === "function") ack(answer);
}

io.engine.on("connection_error", (err) => log("connection error", { code: err.code, error: err.message }));

http.on("error", (err) => fatal(`cannot listen on ${host}:${port}: ${err.message}`));
http.listen(port, host, () => process.stdout.write(`listening ${http.address().port}\n`));

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.once(signal, () => {
    io.close(() => process.exit(0));
    // Clients that do not close in time are not waited for.
    setTimeout(() => process.exit(0), 2_000).unref();
  });
}
