/**
 * Background traffic for bench:recovery: chat rooms whose members stay
 * subscribed through whatever happens, reconnecting and resuming from the
 * last serial they saw, and one publisher per room. Counts what each member
 * missed or got twice of what the gateway acknowledged.
 */
import WebSocket from "ws";

interface Frame {
  type: string;
  channel?: string;
  serial?: string;
  recovered?: boolean;
  id?: string;
  data?: { seq?: number };
}

export interface TrafficTally {
  /** Publishes the gateway acknowledged. */
  acked: number;
  /** Acknowledged messages a member never received (after the drain). */
  lost: number;
  /** Messages a member received more than once. */
  duplicated: number;
  /** Resumes the gateway answered with recovered:false (the member would refetch). */
  unrecovered: number;
  /** Times members reconnected. */
  reconnects: number;
  /** Publishes refused or never acknowledged (not counted as sent). */
  unacked: number;
}

/** One connection that reconnects by itself (after 300–800 ms) until closed. */
class Session {
  private socket?: WebSocket;
  private closed = false;
  opens = 0;

  constructor(
    private readonly url: string,
    private readonly onOpen: (send: (frame: object) => void) => void,
    private readonly onFrame: (frame: Frame) => void,
  ) {
    this.connect();
  }

  send(frame: object): boolean {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  close(): void {
    this.closed = true;
    this.socket?.terminate();
  }

  private connect(): void {
    if (this.closed) return;
    const socket = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: 5_000 });
    this.socket = socket;
    socket.on("message", (raw) => {
      const frame = JSON.parse(raw.toString()) as Frame;
      if (frame.type === "welcome") {
        this.opens++;
        this.onOpen((f) => socket.send(JSON.stringify(f)));
      } else this.onFrame(frame);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      if (this.socket === socket && !this.closed) setTimeout(() => this.connect(), 300 + Math.random() * 500);
    });
  }
}

/** A member of a room: subscribes, resumes with `since` after every reconnect, records each seq it got. */
class Member {
  readonly got = new Map<number, number>();
  lastSerial?: string;
  unrecovered = 0;
  readonly session: Session;

  constructor(url: string, readonly channel: string) {
    this.session = new Session(
      url,
      (send) => send({ type: "subscribe", channel, ...(this.lastSerial ? { since: this.lastSerial } : {}) }),
      (frame) => {
        if (frame.type === "subscribed" && this.lastSerial && frame.recovered === false) this.unrecovered++;
        if (frame.type !== "message" || frame.channel !== channel) return;
        this.lastSerial = frame.serial;
        const seq = frame.data?.seq;
        if (typeof seq === "number") this.got.set(seq, (this.got.get(seq) ?? 0) + 1);
      },
    );
  }
}

/** A room's publisher: one message every `everyMs`, each counted once acknowledged. */
class Publisher {
  readonly acked = new Set<number>();
  unacked = 0;
  private seq = 0;
  private readonly pending = new Map<string, number>();
  private readonly session: Session;
  private readonly timer: NodeJS.Timeout;

  constructor(url: string, channel: string, everyMs: number) {
    this.session = new Session(
      url,
      () => {},
      (frame) => {
        const seq = frame.id === undefined ? undefined : this.pending.get(frame.id);
        if (seq === undefined) return;
        this.pending.delete(frame.id!);
        if (frame.type === "ack") this.acked.add(seq);
        else this.unacked++;
      },
    );
    this.timer = setInterval(() => {
      const seq = ++this.seq;
      const id = `p${seq}`;
      if (this.session.send({ type: "publish", channel, data: { seq }, id })) this.pending.set(id, seq);
      else this.unacked++;
    }, everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  close(): void {
    this.stop();
    this.unacked += this.pending.size;
    this.session.close();
  }
}

/** `rooms` chat rooms of `members` each, one publisher per room at `perSecond` messages per second. */
export class ChatTraffic {
  private readonly members: Member[] = [];
  private readonly publishers: Publisher[] = [];

  constructor(private readonly url: string, private readonly options: { rooms: number; members: number; perSecond: number; prefix: string }) {}

  /** Connects every member, waits until all are subscribed, then starts publishing. */
  async start(): Promise<void> {
    for (let r = 0; r < this.options.rooms; r++) {
      for (let m = 0; m < this.options.members; m++) this.members.push(new Member(this.url, `${this.options.prefix}.room-${r}`));
    }
    const deadline = Date.now() + 15_000;
    while (!this.members.every((m) => m.session.opens > 0)) {
      if (Date.now() > deadline) throw new Error("the chat members did not all connect within 15 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (let r = 0; r < this.options.rooms; r++) this.publishers.push(new Publisher(this.url, `${this.options.prefix}.room-${r}`, 1000 / this.options.perSecond));
  }

  /** Stops publishing, lets members catch up for `drainMs`, closes everything and counts. */
  async stop(drainMs: number): Promise<TrafficTally> {
    for (const publisher of this.publishers) publisher.stop();
    await new Promise((resolve) => setTimeout(resolve, drainMs));
    for (const publisher of this.publishers) publisher.close();
    for (const member of this.members) member.session.close();
    const tally: TrafficTally = { acked: 0, lost: 0, duplicated: 0, unrecovered: 0, reconnects: 0, unacked: 0 };
    this.publishers.forEach((publisher, r) => {
      tally.acked += publisher.acked.size;
      tally.unacked += publisher.unacked;
      for (const member of this.members.filter((m) => m.channel === `${this.options.prefix}.room-${r}`)) {
        for (const seq of publisher.acked) if (!member.got.has(seq)) tally.lost++;
        for (const count of member.got.values()) if (count > 1) tally.duplicated += count - 1;
      }
    });
    for (const member of this.members) {
      tally.unrecovered += member.unrecovered;
      tally.reconnects += Math.max(0, member.session.opens - 1);
    }
    return tally;
  }
}
