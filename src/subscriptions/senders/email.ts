import { sendSmtp, type DeliveryOutcome, type SmtpSettings } from "../../notify/index.ts";
import { confirmationMail, incidentMail, maintenanceMail } from "../mail.ts";
import type { SenderContext, SubscriberSender } from "./types.ts";

/**
 * E-mail subscribers: one mail per incident post and per maintenance notice
 * (component changes are not mailed), through the SMTP server of `subscriptions.email`, with the
 * unsubscribe link in the body and in List-Unsubscribe.
 */
const email: SubscriberSender = {
  type: "email",
  accepts: (post) => post.kind === "incident" || post.kind === "maintenance",
  async post(subscriber, post, ctx) {
    if (post.kind === "component") return { ok: true };
    const settings = settingsOf(ctx);
    if (!settings) return notConfigured;
    const unsubscribe = ctx.links.unsubscribe(subscriber.id);
    const mail = post.kind === "incident" ? incidentMail(post, pageOf(ctx), subscriber.address, unsubscribe) : maintenanceMail(post, pageOf(ctx), subscriber.address, unsubscribe);
    return sendSmtp(settings, { from: settings.from, ...mail }, ctx);
  },
  async confirm(pending, request, ctx) {
    const settings = settingsOf(ctx);
    if (!settings) return notConfigured;
    return sendSmtp(settings, { from: settings.from, ...confirmationMail(pageOf(ctx), pending.address, request.confirm_url, request.expires_at, request.components) }, ctx);
  },
};

const notConfigured: DeliveryOutcome = { ok: false, retry: false, reason: "e-mail subscriptions are no longer configured (subscriptions.email)" };

function settingsOf(ctx: SenderContext): SmtpSettings | undefined {
  return ctx.config.subscriptions.email?.settings as SmtpSettings | undefined;
}

function pageOf(ctx: SenderContext) {
  return { name: ctx.config.page.name, url: ctx.links.base };
}

export default email;
