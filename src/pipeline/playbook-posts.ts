import { Queue } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";
import { stableId } from "../core/index.ts";
import type { NotificationEvent } from "../notify/index.ts";
import type { ChannelPost, ChannelPoster } from "../playbooks/index.ts";
import type { Incident, IncidentUpdate } from "../status/index.ts";
import { deliveryOptions } from "./outbox.ts";
import { bullPrefix, QUEUE, type NotifyJob } from "./queues.ts";

/**
 * Playbook posts (approval requests, notify steps, escalations) go to chosen
 * channels through the notify queue, with its retries and dead-letter list,
 * but not through the outbox: they are not timeline entries, and some (an
 * approve link) must never be public. Each is keyed, so posting again sends
 * nothing twice.
 */
export function playbookPoster(options: { config: () => Config; connection: Redis }): ChannelPoster & { close(): Promise<void> } {
  const queue = new Queue<NotifyJob>(QUEUE.notify, { connection: options.connection, prefix: bullPrefix(options.config().redis.prefix) });
  return {
    async post(post: ChannelPost): Promise<void> {
      const config = options.config();
      const known = new Set(config.notifications.channels.map((c) => c.id));
      const event = eventOf(config, post);
      for (const channel of post.channels.filter((c) => known.has(c))) {
        await queue.add("post", { event, channel, seq: 0, after: 0, direct: true }, { ...deliveryOptions(config), jobId: `playbook.${stableId(post.key)}.${channel}` });
      }
    },
    close: () => queue.close(),
  };
}

function eventOf(config: Config, post: ChannelPost): NotificationEvent {
  const at = new Date().toISOString();
  const pageUrl = config.page.url.replace(/\/$/, "");
  const incident = post.incident ?? standIn(post, at);
  const update: IncidentUpdate = {
    id: stableId(`playbook-post:${post.key}`),
    status: incident.status,
    body: post.body,
    created_at: at,
    display_at: at,
    affected_components: [],
    author: { kind: "automatic", name: post.author ?? "Pulseboard playbooks" },
  };
  return {
    id: `msg_${update.id}`,
    type: "incident.updated",
    occurred_at: at,
    page: { name: config.page.name, url: pageUrl },
    incident,
    update,
    incident_url: post.incident ? `${pageUrl}/incidents/${incident.id}` : pageUrl,
    urgency: post.urgency,
  };
}

/** An incident-shaped stand-in for a post about a run that has no incident (yet). */
function standIn(post: ChannelPost, at: string): Incident {
  return {
    id: stableId(`playbook-standin:${post.key}`),
    name: post.title,
    status: "investigating",
    impact: "none",
    automatic: true,
    created_at: at,
    updated_at: at,
    started_at: at,
    monitoring_at: null,
    resolved_at: null,
    components: {},
    updates: [],
    postmortem: null,
    revision: 0,
  };
}
