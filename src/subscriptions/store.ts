import { randomBytes } from "node:crypto";
import type { Result } from "ioredis";
import type { RedisConnection as Redis } from "../core/index.ts";
import { ReplicaWait, UpstreamError, checkExec, type Logger } from "../core/index.ts";
import { addressHash, SubscriptionKeys } from "./keys.ts";
import { LinkSigner } from "./links.ts";
import type { PendingSubscription, Subscriber } from "./model.ts";

/** How long a stored post outlives its last possible retry. */
const POST_TTL_S = 8 * 86_400;
/** Dead letters kept. */
const DEAD_KEPT = 10_000;

/**
 * Writes a confirmed subscription: the pending record must still be the one
 * read, and the address must still belong to the subscriber read (or none).
 * KEYS: pending, subscribers hash, addresses hash
 * ARGV: pending JSON as read, address hash, expected subscriber id or "", subscriber id, subscriber JSON, pending JSON marked confirmed
 * Returns "ok", "gone" (the pending record expired) or "conflict" (retry).
 */
const CONFIRM_LUA = `
local pending = redis.call("GET", KEYS[1])
if not pending then return "gone" end
if pending ~= ARGV[1] then return "conflict" end
local current = redis.call("HGET", KEYS[3], ARGV[2])
if (current or "") ~= ARGV[3] then return "conflict" end
redis.call("HSET", KEYS[2], ARGV[4], ARGV[5])
redis.call("HSET", KEYS[3], ARGV[2], ARGV[4])
redis.call("SET", KEYS[1], ARGV[6], "KEEPTTL")
return "ok"
`;

/**
 * Removes a subscriber and its address entry (when the address still points to it).
 * KEYS: subscribers hash, addresses hash
 * ARGV: subscriber id, address hash
 * Returns 1 when it removed one.
 */
const REMOVE_LUA = `
local removed = redis.call("HDEL", KEYS[1], ARGV[1])
if redis.call("HGET", KEYS[2], ARGV[2]) == ARGV[1] then
  redis.call("HDEL", KEYS[2], ARGV[2])
end
return removed
`;

/** Subscribers, pending subscriptions and delivery bookkeeping in the control-plane Redis. */
export class SubscriberStore {
  readonly keys: SubscriptionKeys;
  private signer?: Promise<LinkSigner>;
  /** A confirmed subscription is answered only once a replica has it, when there is one. */
  private readonly replicas: ReplicaWait;

  constructor(
    readonly redis: Redis,
    prefix: string,
    options: { log?: Logger } = {},
  ) {
    this.keys = new SubscriptionKeys(prefix);
    this.replicas = new ReplicaWait(redis, { key: this.keys.base, log: options.log?.child({ module: "subscriptions.store" }) });
    redis.defineCommand("pulseboardConfirmSubscription", { numberOfKeys: 3, lua: CONFIRM_LUA });
    redis.defineCommand("pulseboardRemoveSubscriber", { numberOfKeys: 2, lua: REMOVE_LUA });
  }

  /**
   * The signer of links: keyed by `secret` when configured, else by a random
   * key made once and kept in Redis, so every web and worker process agrees.
   */
  linkSigner(secret?: string): Promise<LinkSigner> {
    if (secret) return Promise.resolve(new LinkSigner(Buffer.from(secret, "utf8")));
    this.signer ??= (async () => {
      await this.redis.set(this.keys.linkKey, randomBytes(32).toString("base64"), "NX");
      const key = await this.redis.get(this.keys.linkKey);
      if (!key) throw new UpstreamError("the subscription link key could not be read from Redis");
      return new LinkSigner(Buffer.from(key, "base64"));
    })().catch((err: unknown) => {
      this.signer = undefined;
      throw err;
    });
    return this.signer;
  }

  /** Counts one use of a limited resource in a window; returns the count so far. */
  async hit(key: string, windowMs: number): Promise<number> {
    // The window starts with the first use; SET NX before INCR works on any Redis (PEXPIRE NX needs 7).
    const answers = await this.redis.multi().set(key, "0", "PX", windowMs, "NX").incr(key).exec().then(checkExec);
    return Number(answers[1]![1]);
  }

  async savePending(pending: PendingSubscription, ttlMs: number): Promise<void> {
    await this.redis.set(this.keys.pending(pending.id), JSON.stringify(pending), "PX", ttlMs);
    await this.replicas.afterWrite(`pending subscription ${pending.id}`);
  }

  /** The pending record and its JSON exactly as stored (for the confirm check). */
  async pending(id: string): Promise<{ pending: PendingSubscription; raw: string } | undefined> {
    const raw = await this.redis.get(this.keys.pending(id));
    return raw ? { pending: JSON.parse(raw) as PendingSubscription, raw } : undefined;
  }

  /** The subscriber at an address, if any. */
  async subscriberAt(type: string, address: string): Promise<Subscriber | undefined> {
    const id = await this.redis.hget(this.keys.addresses, addressHash(type, address));
    return id ? this.subscriber(id) : undefined;
  }

  /** Writes a confirmation atomically; see CONFIRM_LUA. */
  async confirm(raw: string, pending: PendingSubscription, expectedId: string | undefined, subscriber: Subscriber): Promise<"ok" | "gone" | "conflict"> {
    const marked: PendingSubscription = { ...pending, confirmed_as: subscriber.id };
    const answer = await this.redis.pulseboardConfirmSubscription(
      this.keys.pending(pending.id),
      this.keys.subscribers,
      this.keys.addresses,
      raw,
      addressHash(subscriber.type, subscriber.address),
      expectedId ?? "",
      subscriber.id,
      JSON.stringify(subscriber),
      JSON.stringify(marked),
    );
    if (answer === "ok") await this.replicas.afterWrite(`subscriber ${subscriber.id}`);
    return answer as "ok" | "gone" | "conflict";
  }

  async subscriber(id: string): Promise<Subscriber | undefined> {
    const json = await this.redis.hget(this.keys.subscribers, id);
    return json ? (JSON.parse(json) as Subscriber) : undefined;
  }

  /** Every confirmed subscriber, oldest first. */
  async subscribers(): Promise<Subscriber[]> {
    const all = Object.values(await this.redis.hgetall(this.keys.subscribers)).map((json) => JSON.parse(json) as Subscriber);
    return all.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  /** Removes a subscriber and its delivery bookkeeping in component threads; returns whether there was one. */
  async remove(id: string, componentIds: string[] = []): Promise<boolean> {
    const subscriber = await this.subscriber(id);
    if (!subscriber) return false;
    const removed = await this.redis.pulseboardRemoveSubscriber(this.keys.subscribers, this.keys.addresses, id, addressHash(subscriber.type, subscriber.address));
    if (componentIds.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const component of componentIds) {
        pipeline.hdel(this.keys.queued(`component:${component}`), id);
        pipeline.hdel(this.keys.delivered(`component:${component}`), id);
      }
      await pipeline.exec();
    }
    return removed === 1;
  }

  async savePost(id: string, post: unknown): Promise<void> {
    await this.redis.set(this.keys.post(id), JSON.stringify(post), "EX", POST_TTL_S);
  }

  async post<T>(id: string): Promise<T | undefined> {
    const json = await this.redis.get(this.keys.post(id));
    return json ? (JSON.parse(json) as T) : undefined;
  }

  async addDeadLetter(letter: unknown): Promise<void> {
    await this.redis.multi().lpush(this.keys.dead, JSON.stringify(letter)).ltrim(this.keys.dead, 0, DEAD_KEPT - 1).exec().then(checkExec);
  }

  async deadLetters<T>(limit = 100): Promise<T[]> {
    return (await this.redis.lrange(this.keys.dead, 0, limit - 1)).map((json) => JSON.parse(json) as T);
  }
}


declare module "ioredis" {
  interface RedisCommander<Context> {
    pulseboardConfirmSubscription(...args: string[]): Result<string, Context>;
    pulseboardRemoveSubscriber(...args: string[]): Result<number, Context>;
  }
}
