import { answeringOf, defineProbe, echo, openClient, realtimeChannelSetting, realtimeSettings, runClock } from "../src/probe-runtime/index.ts";

const settingsSchema = realtimeSettings("websocket", [], {
  /**
   * Channel (room, topic, subject) to publish on and expect the message back
   * from; null only connects. Plain WebSocket has no channels: it sends and
   * expects as its `websocket:` block says.
   * @defaultValue "pulseboard.probe"
   */
  channel: realtimeChannelSetting.nullable().default("pulseboard.probe"),
});

/**
 * Opens a connection to the broker the way a browser or app would, waits
 * for its handshake, then publishes on a channel and waits for the message
 * to come back. Phases: connect (TCP), upgrade (HTTP 101, where the
 * protocol runs over WebSocket), the handshake (`welcome` on our gateway,
 * `handshake` elsewhere), subscribe, echo. A connect that never finishes is
 * the "Connecting…" popup users saw: the run's deadline fails it with the
 * phase it was stuck in. A broker that turns the client away fails with its
 * own reason (close 1013 and its retry hint, CONNACK code, connect_error).
 */
export default defineProbe({
  kind: "websocket",
  description: "Connect, handshake and publish → echo through the broker (our gateway, plain WebSocket, Socket.IO, MQTT or NATS)",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    const clock = runClock(ctx);
    const url = settings.url ?? ctx.targets.gatewayUrl;
    const client = await openClient(settings, { url }, ctx);
    try {
      const details: Record<string, unknown> = { url, protocol: settings.protocol, ...client.info };
      if (settings.channel === null || answeringOf(client)?.connectOnly) return { status: "ok", details };
      const channel = settings.channel;
      if (settings.adapter.capabilities.channels) await ctx.phase("subscribe", () => client.subscribe(channel));
      await ctx.phase("echo", () => echo(client, channel, clock.left()));
      return { status: "ok", details: settings.adapter.capabilities.channels ? { ...details, channel } : details };
    } finally {
      client.close();
    }
  },
});
