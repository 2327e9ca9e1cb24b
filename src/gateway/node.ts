import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { newId, type Logger } from "../core/index.ts";
import { parseClientFrame, type ServerFrame } from "./protocol.ts";

export interface GatewayNodeOptions {
  /** Stable id of this node within the fleet (`node-0`, …). */
  nodeId: string;
  /** Shared port of the fleet (cluster-shared when run under the fleet). */
  port: number;
  /** This node's own port, so it can be reached alone; 0 picks a free one. */
  ownPort?: number;
  host?: string;
  /** Interval of the server's WebSocket pings, in ms. */
  heartbeatMs: number;
  log: Logger;
}

interface Client {
  id: string;
  ws: WebSocket;
  channels: Set<string>;
  /** Pings sent since the last pong. */
  missed: number;
}

/**
 * One gateway node: WebSocket pub/sub on /ws, with a serial on every message.
 * (Fan-out across nodes and resume through the cache Redis arrive with the
 * full gateway; this node delivers to its own subscribers.)
 */
export class GatewayNode {
  private readonly servers: http.Server[] = [];
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private readonly channels = new Map<string, Set<Client>>();
  private readonly offsets = new Map<string, number>();
  /** Serials of this node's history start a new epoch each time it starts. */
  private readonly epoch = newId(6);
  private heartbeat?: NodeJS.Timeout;
  private readonly log: Logger;

  constructor(private readonly options: GatewayNodeOptions) {
    this.log = options.log.child({ module: "gateway.node", node: options.nodeId });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024, perMessageDeflate: false });
  }

  /** Starts listening; resolves with the ports actually bound. */
  async start(): Promise<{ port: number; ownPort?: number }> {
    const shared = await this.listen({ port: this.options.port, host: this.options.host });
    let own: number | undefined;
    if (this.options.ownPort !== undefined) {
      own = await this.listen({ port: this.options.ownPort, host: this.options.host, exclusive: true });
    }
    this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatMs);
    this.heartbeat.unref();
    return { port: shared, ownPort: own };
  }

  /** Closes every client with 1001 (going away) and stops listening. */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const client of this.clients) client.ws.close(1001, "node shutting down");
    await Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    setTimeout(() => this.clients.forEach((c) => c.ws.terminate()), 500).unref();
  }

  stats(): { connections: number; channels: number } {
    return { connections: this.clients.size, channels: this.channels.size };
  }

  private listen(options: { port: number; host?: string; exclusive?: boolean }): Promise<number> {
    const server = http.createServer((req, res) => this.http(req, res));
    server.on("upgrade", (req, socket, head) => {
      if (new URL(req.url ?? "/", "http://x").pathname !== "/ws") {
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    });
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(options, () => resolve((server.address() as AddressInfo).port));
    });
  }

  private http(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ node: this.options.nodeId, ...this.stats() }));
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found: WebSocket clients connect to /ws\n");
  }

  private accept(ws: WebSocket): void {
    const client: Client = { id: newId(10), ws, channels: new Set(), missed: 0 };
    this.clients.add(client);
    ws.on("pong", () => (client.missed = 0));
    ws.on("message", (data, isBinary) => {
      if (isBinary) {
        this.send(client, { type: "error", code: "bad_frame", message: "frames are JSON text, not binary" });
        return;
      }
      this.handle(client, data.toString());
    });
    ws.on("close", () => this.drop(client));
    ws.on("error", (err) => this.log.debug({ err: err.message, connection: client.id }, "client socket error"));
    this.send(client, { type: "welcome", node: this.options.nodeId, connection: client.id, heartbeat: this.options.heartbeatMs });
  }

  private handle(client: Client, text: string): void {
    const frame = parseClientFrame(text);
    switch (frame.type) {
      case "error":
        this.send(client, frame);
        return;
      case "ping":
        this.send(client, { type: "pong", id: frame.id });
        return;
      case "subscribe": {
        let members = this.channels.get(frame.channel);
        if (!members) this.channels.set(frame.channel, (members = new Set()));
        members.add(client);
        client.channels.add(frame.channel);
        // Without shared history this node cannot promise a resume from `since`.
        this.send(client, {
          type: "subscribed",
          channel: frame.channel,
          id: frame.id,
          serial: this.serial(this.offsets.get(frame.channel) ?? 0),
          recovered: frame.since === undefined,
        });
        return;
      }
      case "unsubscribe":
        this.leave(client, frame.channel);
        this.send(client, { type: "unsubscribed", channel: frame.channel, id: frame.id });
        return;
      case "publish": {
        const offset = (this.offsets.get(frame.channel) ?? 0) + 1;
        this.offsets.set(frame.channel, offset);
        const message: ServerFrame = { type: "message", channel: frame.channel, serial: this.serial(offset), data: frame.data, ts: Date.now() };
        const text = JSON.stringify(message);
        for (const member of this.channels.get(frame.channel) ?? []) member.ws.send(text);
        this.send(client, { type: "ack", id: frame.id, serial: message.serial });
        return;
      }
    }
  }

  private serial(offset: number): string {
    return `${this.epoch}:${offset}`;
  }

  private send(client: Client, frame: ServerFrame): void {
    if (client.ws.readyState === client.ws.OPEN) client.ws.send(JSON.stringify(frame));
  }

  private leave(client: Client, channel: string): void {
    client.channels.delete(channel);
    const members = this.channels.get(channel);
    members?.delete(client);
    if (members?.size === 0) this.channels.delete(channel);
  }

  private drop(client: Client): void {
    for (const channel of client.channels) this.leave(client, channel);
    this.clients.delete(client);
  }

  /** A peer that has not answered for two intervals is gone: terminate it. */
  private beat(): void {
    for (const client of this.clients) {
      if (client.missed >= 2) {
        client.ws.terminate();
        continue;
      }
      client.missed++;
      client.ws.ping();
    }
  }
}
