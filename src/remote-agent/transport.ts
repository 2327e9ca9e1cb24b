import { readFileSync } from "node:fs";
import tls from "node:tls";
import { Agent, ProxyAgent, type Dispatcher } from "undici";
import { ConfigError, describeError, redactUrl } from "../core/index.ts";
import type { ProxyEnv, RemoteAgentSettings } from "./settings.ts";

/** How the agent reaches its server: the undici dispatcher, and in words which proxy and CA it uses. */
export interface Transport {
  dispatcher: Dispatcher;
  /** "HTTPS_PROXY http://proxy:3128/", "none", or "none (NO_PROXY matches …)"; credentials redacted. */
  proxy: string;
  /** Which certificates verify the server. */
  ca: string;
}

/**
 * One dispatcher for the one server the agent talks to. The proxy is chosen
 * here, once, from HTTPS_PROXY / HTTP_PROXY / NO_PROXY with the rules undici's
 * EnvHttpProxyAgent applies, so what the agent logs at start is what it does.
 * A `--ca` file is trusted in addition to the system roots (and to
 * NODE_EXTRA_CA_CERTS, which Node loads by itself).
 */
export function createTransport(settings: Pick<RemoteAgentSettings, "server" | "proxy" | "ca" | "extraCaFile">): Transport {
  const secure = settings.server.protocol === "https:";
  const ca = settings.ca ? [...tls.rootCertificates, ...extraCa(settings.extraCaFile), settings.ca.pem] : undefined;
  const caWords = !secure
    ? "not used (the server URL is plain http)"
    : settings.ca
      ? `--ca ${settings.ca.file}, in addition to the system roots${settings.extraCaFile ? ` and NODE_EXTRA_CA_CERTS ${settings.extraCaFile}` : ""}`
      : settings.extraCaFile
        ? `NODE_EXTRA_CA_CERTS ${settings.extraCaFile}, in addition to the system roots`
        : "the system roots";
  const proxy = proxyFor(settings.server, settings.proxy);
  if (!proxy.url) return { dispatcher: new Agent(ca ? { connect: { ca } } : {}), proxy: proxy.words, ca: caWords };
  try {
    const dispatcher = new ProxyAgent({ uri: proxy.url, ...(ca ? { requestTls: { ca }, proxyTls: { ca } } : {}) });
    return { dispatcher, proxy: proxy.words, ca: caWords };
  } catch (err) {
    throw new ConfigError([`${proxy.variable}: ${redactUrl(proxy.url)} is not a usable proxy URL: ${describeError(err)}`]);
  }
}

/** The proxy for requests to `server`, and in words why. */
export function proxyFor(server: URL, env: ProxyEnv): { url?: string; variable?: string; words: string } {
  const secure = server.protocol === "https:";
  const variable = secure && env.httpsProxy ? "HTTPS_PROXY" : env.httpProxy ? "HTTP_PROXY" : undefined;
  const url = secure ? (env.httpsProxy ?? env.httpProxy) : env.httpProxy;
  if (!url) return { words: "none" };
  const bypass = noProxyMatch(server, env.noProxy ?? "");
  if (bypass) return { words: `none (NO_PROXY entry "${bypass}" matches ${server.host})` };
  if (!/^https?:\/\//i.test(url)) throw new ConfigError([`${variable}: expected an http:// or https:// proxy URL, got "${redactUrl(url)}"`]);
  return { url, variable, words: `${variable} ${redactUrl(url)}` };
}

/** The NO_PROXY entry that matches the server (host, or a parent domain; port when the entry names one), if any. */
function noProxyMatch(server: URL, noProxy: string): string | undefined {
  const hostname = server.hostname.toLowerCase();
  const port = Number(server.port) || (server.protocol === "https:" ? 443 : 80);
  for (const entry of noProxy.split(/[,\s]/).filter(Boolean)) {
    if (entry === "*") return entry;
    const parsed = /^(.+):(\d+)$/.exec(entry);
    const host = (parsed ? parsed[1]! : entry).replace(/^\*?\./, "").toLowerCase();
    if (parsed && Number(parsed[2]) !== port) continue;
    if (hostname === host || hostname.endsWith(`.${host}`)) return entry;
  }
  return undefined;
}

/** NODE_EXTRA_CA_CERTS again: a `ca` option replaces the default store Node had added it to. */
function extraCa(file: string | undefined): string[] {
  if (!file) return [];
  try {
    return [readFileSync(file, "utf8")];
  } catch (err) {
    throw new ConfigError([`NODE_EXTRA_CA_CERTS: cannot read ${file}: ${describeError(err)}`]);
  }
}
