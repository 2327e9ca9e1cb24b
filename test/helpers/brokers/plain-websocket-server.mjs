// A team's own WebSocket server, as the plain WebSocket adapter meets one: a
// process of its own so a test can SIGKILL it. Started by plain-websocket.ts;
// configured by PORT, MODE (echo | speaks-first | chat), TOKEN (the bearer
// the upgrade needs; empty: none) and MAX_CLIENTS (beyond it: close 1013).
// SIGUSR2 locks and unlocks its connection safeguard the way the chat
// outage's did: while locked, every new connection is dropped before its
// upgrade (no reason given) and every connected client goes on as before.
import { WebSocketServer } from "ws";

const port = Number(process.env.PORT);
const mode = process.env.MODE || "echo";
const token = process.env.TOKEN || "";
const maxClients = process.env.MAX_CLIENTS ? Number(process.env.MAX_CLIENTS) : Infinity;

let locked = false;
process.on("SIGUSR2", () => {
  locked = !locked;
  process.stdout.write(`${locked ? "locked" : "unlocked"}\n`);
});

const wss = new WebSocketServer({
  host: "127.0.0.1",
  port,
  perMessageDeflate: false,
  verifyClient: (info, done) => {
    if (locked) return info.req.socket.destroy();
    return !token || info.req.headers.authorization === `Bearer ${token}` ? done(true) : done(false, 401, "Unauthorized");
  },
});

wss.on("connection", (ws) => {
  // wss.clients already holds this one, and still holds those closing.
  if (wss.clients.size > maxClients) {
    ws.close(1013, "server full, retry after 2000 ms");
    return;
  }
  if (mode === "speaks-first") ws.send(JSON.stringify({ type: "hello", server: "demo" }));
  ws.on("message", (data, isBinary) => {
    if (mode !== "chat") {
      ws.send(data, { binary: isBinary });
      return;
    }
    let message;
    try {
      message = JSON.parse(data.toString());
    } catch {
      ws.send(JSON.stringify({ type: "error", message: "expected JSON" }));
      return;
    }
    ws.send(JSON.stringify({ type: "ack", id: message?.id ?? null, received: message }));
  });
});

wss.on("listening", () => process.stdout.write(`listening ${wss.address().port}\n`));
wss.on("error", (err) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
