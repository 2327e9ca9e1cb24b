import { isIP } from "node:net";

/** Addresses a server listens on that a browser cannot be sent to: the page is then reached as localhost. */
const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]"]);

/**
 * The page's URL when neither PUBLIC_URL nor `page.url` gives one: where the
 * web role itself serves it, `http://<HOST>:<PORT>` (localhost when HOST is
 * unset or all interfaces).
 */
export function servedPageUrl(web: { port: number; host?: string }): string {
  const host = !web.host || WILDCARD_HOSTS.has(web.host) ? "localhost" : isIP(web.host) === 6 ? `[${web.host}]` : web.host;
  return `http://${host}:${web.port}`;
}

/**
 * A warning when `page.url` is a localhost URL on another port than the one
 * the web role serves: every absolute link (summary.json, feeds, e-mails,
 * subscription confirm and unsubscribe links) would then lead nowhere.
 * Undefined when there is nothing to warn about. `config check` prints it
 * and `start` logs it.
 */
export function pageUrlWarning(config: { page: { url: string }; web: { port: number } }): string | undefined {
  const url = new URL(config.page.url);
  if (!isLocalhost(url.hostname)) return undefined;
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  if (port === config.web.port) return undefined;
  return (
    `page.url ${config.page.url} points to port ${port} on this machine, but the status page is served on port ${config.web.port}: ` +
    `links in summary.json, feeds and subscriber messages would not reach it (set PUBLIC_URL, or page.url, to where people reach the page, or leave both unset)`
  );
}

function isLocalhost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" || host === "0.0.0.0" || (isIP(host) === 4 && host.startsWith("127."));
}
