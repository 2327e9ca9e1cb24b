import WebSocket, { type ClientOptions } from "ws";

type Frame = Record<string, unknown> & { type: string };

/** A test WebSocket client that queues frames so a test can await the next one it wants. */
export class TestClient {
  readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (raw) => {
      this.frames.push(JSON.parse(raw.toString()) as Frame);
      this.wake();
    });
    ws.on("close", (code, reason) => {
      this.closedWith = { code, reason: reason.toString() };
      this.wake();
    });
  }

  /** Resolves when the connection has closed, with the code and reason. */
  async closed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closedWith) {
      if (Date.now() > deadline) throw new Error(`still open after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.closedWith;
  }

  /** Every `message` frame received so far on `channel`, removed from the queue. */
  takeMessages(channel: string): Frame[] {
    const taken = this.frames.filter((f) => f.type === "message" && f.channel === channel);
    for (const frame of taken) this.frames.splice(this.frames.indexOf(frame), 1);
    return taken;
  }

  /** Why the server closed the connection, once it has. */
  closedWith?: { code: number; reason: string };

  static async connect(url: string, options: ClientOptions = {}): Promise<TestClient> {
    const ws = new WebSocket(url, options);
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return client;
  }

  /** Connects, waits for the welcome, and adds the client to `into` (for closing after the test); the node that welcomed it. */
  static async welcomed(url: string, into: TestClient[]): Promise<{ client: TestClient; node: string }> {
    const client = await TestClient.connect(url);
    into.push(client);
    const welcome = await client.next((f) => f.type === "welcome");
    return { client, node: welcome.node as string };
  }

  send(frame: Record<string, unknown> | string): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Resolves with (and removes) the first frame matching; fails after `timeoutMs`. */
  async next(match: (f: Frame) => boolean = () => true, timeoutMs = 3_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex(match);
      if (index >= 0) return this.frames.splice(index, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; have ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.ws.terminate();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
