import { z } from "zod";
import { channelSetting, defineProbe, GatewaySession, wsUrlSetting } from "../src/probe-runtime/index.ts";

const settingsSchema = z.strictObject({
  /** @defaultValue the managed gateway's shared URL */
  url: wsUrlSetting.optional(),
  /**
   * Channel to publish on and expect the message back from; null only connects.
   * @defaultValue "pulseboard.probe"
   */
  channel: channelSetting.nullable().default("pulseboard.probe"),
});

/**
 * Opens a WebSocket to the gateway the way a browser would, waits for its
 * welcome frame, then publishes on a channel and waits for the message to
 * come back. Phases: connect (TCP), upgrade (HTTP 101), welcome, subscribe,
 * echo. A connect that never finishes is the "Connecting…" popup users saw:
 * the run's deadline fails it with the phase it was stuck in. A gateway that
 * turns the client away (over_capacity, close 1013) fails with its retry hint.
 */
export default defineProbe({
  kind: "websocket",
  description: "WebSocket connect, welcome frame and publish → echo through the gateway",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    const url = settings.url ?? ctx.targets.gatewayUrl;
    const { session, welcome } = await GatewaySession.open(url, ctx);
    try {
      const details: Record<string, unknown> = { url, node: welcome.node };
      if (settings.channel === null) return { status: "ok", details };
      const channel = settings.channel;
      await ctx.phase("subscribe", () => session.request({ type: "subscribe", channel, id: "s1" }, (f) => f.type === "subscribed"));
      const nonce = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
      await ctx.phase("echo", async () => {
        await session.request({ type: "publish", channel, data: { probe: nonce }, id: "p1" }, (f) => f.type === "ack");
        await session.next((f) => f.type === "message" && f.channel === channel && isNonce(f.data, nonce));
      });
      return { status: "ok", details: { ...details, channel } };
    } finally {
      session.close();
    }
  },
});

function isNonce(data: unknown, nonce: string): boolean {
  return typeof data === "object" && data !== null && (data as { probe?: unknown }).probe === nonce;
}
