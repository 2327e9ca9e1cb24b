import { escapeHtml } from "../notify/index.ts";

/**
 * The HTML of the subscription pages when no renderer is given: small,
 * self-contained, every value escaped, nothing inline a CSP would block.
 * Views (when a renderer is given) get the same data under the same names.
 */

/** What every subscription view gets. */
export interface SubscriptionViewData extends Record<string, unknown> {
  page: { name: string; url: string };
  title: string;
  /** Paragraphs to show. */
  messages: string[];
  /** Problems with what was sent, one per line. */
  issues: string[];
  /** Links to offer, e.g. the unsubscribe link after confirming. */
  links: { label: string; href: string }[];
  /** The subscribe form: shown on the subscribe view. */
  form?: {
    webhook: boolean;
    email: boolean;
    components: { id: string; name: string; group: string | null }[];
  };
  /** A one-button form (confirming an unsubscribe). */
  button?: { action: string; label: string; token: string };
}

/** The view names a renderer is asked for. */
export type SubscriptionView = "subscribe" | "subscription-message";

export function fallbackHtml(view: SubscriptionView, data: SubscriptionViewData): string {
  const e = escapeHtml;
  const body: string[] = [`<h1>${e(data.title)}</h1>`];
  for (const message of data.messages) body.push(`<p>${e(message)}</p>`);
  if (data.issues.length > 0) body.push(`<ul class="issues">${data.issues.map((i) => `<li>${e(i)}</li>`).join("")}</ul>`);
  if (data.button) {
    body.push(
      `<form method="post" action="${e(data.button.action)}"><input type="hidden" name="token" value="${e(data.button.token)}"><button type="submit">${e(data.button.label)}</button></form>`,
    );
  }
  if (view === "subscribe" && data.form) body.push(...forms(data.form));
  if (data.links.length > 0) body.push(`<ul class="links">${data.links.map((l) => `<li><a href="${e(l.href)}">${e(l.label)}</a></li>`).join("")}</ul>`);
  body.push(`<p><a href="${e(data.page.url)}">Back to ${e(data.page.name)}</a></p>`);
  return [
    "<!doctype html>",
    `<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<title>${e(data.title)} · ${e(data.page.name)}</title><link rel="stylesheet" href="/static/style.css"></head>`,
    `<body><main class="subscriptions">`,
    ...body,
    `</main></body></html>`,
  ].join("\n");
}

function forms(form: NonNullable<SubscriptionViewData["form"]>): string[] {
  const e = escapeHtml;
  const boxes = form.components
    .map((c) => `<label><input type="checkbox" name="components" value="${e(c.id)}"> ${e(c.group ? `${c.group} - ${c.name}` : c.name)}</label>`)
    .join("<br>\n");
  const choose = `<fieldset><legend>Components (none ticked: all of them)</legend>\n${boxes}\n</fieldset>`;
  const out: string[] = [];
  if (form.email) {
    out.push(
      `<form method="post" action="/subscriptions"><h2>E-mail</h2><input type="hidden" name="type" value="email">`,
      `<label>E-mail address <input type="email" name="email" required maxlength="254" autocomplete="email"></label>`,
      choose,
      `<button type="submit">Subscribe by e-mail</button></form>`,
    );
  }
  if (form.webhook) {
    out.push(
      `<form method="post" action="/subscriptions"><h2>Webhook</h2><input type="hidden" name="type" value="webhook">`,
      `<p>Your endpoint gets Statuspage-compatible JSON: a POST with <code>meta</code>, <code>page</code> and either <code>incident</code> or <code>component_update</code> and <code>component</code>. First it gets a POST whose <code>subscription_confirmation.confirm_url</code> must be opened (GET or POST) to start the subscription.</p>`,
      `<label>Endpoint URL <input type="url" name="endpoint" required maxlength="2000" placeholder="https://hooks.example.com/statuspage"></label>`,
      choose,
      `<button type="submit">Subscribe a webhook</button></form>`,
    );
  }
  if (out.length === 0) out.push(`<p>This page offers no subscriptions.</p>`);
  return out;
}
