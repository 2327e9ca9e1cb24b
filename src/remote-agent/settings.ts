import { readFileSync } from "node:fs";
import { ConfigError, describeError } from "../core/index.ts";

/** What `pulseboard agent --server …` was given on its command line. */
export interface RemoteAgentArgs {
  location?: string;
  server?: string;
  tokenFile?: string;
  ca?: string;
  buffer?: string;
}

/** Where the agent token comes from: a file re-read after a 401, or the environment. */
export type TokenOrigin = { file: string } | { env: "PULSEBOARD_AGENT_TOKEN"; value: string };

/** Proxy settings from the environment (lowercase names win, as curl and undici have it). */
export interface ProxyEnv {
  httpProxy?: string;
  httpsProxy?: string;
  noProxy?: string;
}

/** A remote agent's settings, parsed once at start from its flags and environment. */
export interface RemoteAgentSettings {
  location: string;
  /** The web role's base URL, ending in "/" (a status page under a sub-path keeps it). */
  server: URL;
  token: TokenOrigin;
  /** `--ca FILE`: its path and PEM text, trusted in addition to the system roots. */
  ca?: { file: string; pem: string };
  /** NODE_EXTRA_CA_CERTS: Node trusts it already; named so the agent can say so. */
  extraCaFile?: string;
  proxy: ProxyEnv;
  /** Results kept while the server cannot take them. @defaultValue 10000 */
  bufferSize: number;
}

const LOCATION = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The most results a buffer may hold: 10,000 is the default; a million results are ~1 GiB. */
const MAX_BUFFER = 1_000_000;

/**
 * Checks the flags and reads what they name (`--ca`), so a wrong flag stops
 * the agent at start with the flag named, never at its first request.
 */
export function remoteAgentSettings(args: RemoteAgentArgs, env: Record<string, string | undefined>): RemoteAgentSettings {
  const problems: string[] = [];
  const location = args.location ?? "";
  if (!args.location) problems.push("--location: name the location this agent probes from (--location eu-west)");
  else if (!LOCATION.test(location)) problems.push(`--location: "${location}" is not a location id (lowercase letters, digits and dashes)`);
  const server = serverUrl(args.server, problems);
  const token = tokenOrigin(args.tokenFile, env.PULSEBOARD_AGENT_TOKEN, problems);
  const ca = args.ca === undefined ? undefined : caFile(args.ca, problems);
  const bufferSize = bufferOf(args.buffer, problems);
  if (problems.length > 0 || !server || !token) throw new ConfigError(problems);
  return {
    location,
    server,
    token,
    ca,
    extraCaFile: env.NODE_EXTRA_CA_CERTS || undefined,
    proxy: {
      httpProxy: env.http_proxy || env.HTTP_PROXY || undefined,
      httpsProxy: env.https_proxy || env.HTTPS_PROXY || undefined,
      noProxy: env.no_proxy ?? env.NO_PROXY ?? undefined,
    },
    bufferSize,
  };
}

function serverUrl(raw: string | undefined, problems: string[]): URL | undefined {
  if (!raw) return void problems.push("--server: give the web role's URL (--server https://status.example.com)");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return void problems.push(`--server: "${raw}" is not a URL (expected https://host[:port][/path])`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return void problems.push(`--server: expected an http(s) URL, got ${url.protocol}`);
  if (url.username || url.password) return void problems.push("--server: put no credentials in the URL; the agent authenticates with its token (--token-file)");
  if (url.search || url.hash) return void problems.push("--server: the URL takes no ?query or #fragment");
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}

function tokenOrigin(file: string | undefined, fromEnv: string | undefined, problems: string[]): TokenOrigin | undefined {
  if (file !== undefined) {
    if (file === "") return void problems.push("--token-file: give the path of the file holding the agent token");
    try {
      if (readFileSync(file, "utf8").trim() === "") return void problems.push(`--token-file: ${file} is empty; it must hold the agent token`);
    } catch (err) {
      return void problems.push(`--token-file: cannot read ${file}: ${describeError(err)}`);
    }
    return { file };
  }
  const value = fromEnv?.trim();
  if (value) return { env: "PULSEBOARD_AGENT_TOKEN", value };
  return void problems.push("--token-file: give the file holding the agent token (or set PULSEBOARD_AGENT_TOKEN); create one with pulseboard tokens create --scopes agent:<location>");
}

function caFile(file: string, problems: string[]): { file: string; pem: string } | undefined {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (err) {
    return void problems.push(`--ca: cannot read ${file}: ${describeError(err)}`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) return void problems.push(`--ca: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return { file, pem };
}

function bufferOf(raw: string | undefined, problems: string[]): number {
  if (raw === undefined) return 10_000;
  const size = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(size) || size < 1 || size > MAX_BUFFER) {
    problems.push(`--buffer: expected a whole number of results from 1 to ${MAX_BUFFER}, got "${raw}"`);
  }
  return size;
}
