import dns from "node:dns";
import net from "node:net";

/**
 * What outbound requests to addresses people configure (webhooks, http
 * probes, subscriber URLs, playbook webhooks) may reach. Link-local and
 * cloud-metadata addresses are refused unless allowed: a webhook URL must
 * not become a way to read the machine's cloud credentials. Loopback and
 * private networks stay allowed; self-hosted receivers live there.
 */
export interface EgressPolicy {
  allowLinkLocal: boolean;
}

let policy: EgressPolicy = { allowLinkLocal: false };

/** Set once per process from the config (`egress.allow_link_local`). */
export function setEgressPolicy(next: EgressPolicy): void {
  policy = { ...next };
}

/** Why an address may not be reached under the current policy, or undefined when it may. */
export function refusedAddress(address: string): string | undefined {
  if (policy.allowLinkLocal) return undefined;
  const ip = address.replace(/^::ffff:/i, "");
  if (net.isIPv4(ip)) {
    const [a, b] = ip.split(".").map(Number) as [number, number];
    if (ip === "100.100.100.200") return "a cloud metadata address";
    if (a === 169 && b === 254) return ip === "169.254.169.254" ? "the cloud metadata address" : "a link-local address";
    if (a === 0) return "an unroutable address";
    return undefined;
  }
  if (net.isIPv6(ip)) {
    const lower = ip.toLowerCase();
    if (lower === "fd00:ec2::254") return "the cloud metadata address";
    if (/^fe[89ab][0-9a-f]:/.test(lower)) return "a link-local address";
  }
  return undefined;
}

/** An outbound request refused by the egress policy; the message names the host and why. */
export class EgressRefused extends Error {
  override name = "EgressRefused";
  readonly code = "EGRESS_REFUSED";
}

/**
 * A `lookup` for http(s).request that checks every address a host name
 * resolves to (and literal addresses) against the policy, at connect time:
 * a name that resolves to the metadata address is refused, whatever the URL
 * said. Set `egress: { allow_link_local: true }` to allow them.
 */
export const egressLookup: net.LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, "", 0);
    const list = addresses as dns.LookupAddress[];
    for (const entry of list) {
      const why = refusedAddress(entry.address);
      if (why) return callback(new EgressRefused(`${hostname} resolves to ${entry.address}, ${why}; outbound requests may not go there (allow it with egress: { allow_link_local: true })`), "", 0);
    }
    if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
    const first = list[0]!;
    callback(null, first.address, first.family);
  });
};

/**
 * Refuses a URL whose host is a literal address the policy forbids (Node
 * connects to literal addresses without a lookup, so egressLookup never
 * sees them). Host names are checked by egressLookup when they resolve.
 */
export function checkEgressUrl(url: URL): void {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!net.isIP(host)) return;
  const why = refusedAddress(host);
  if (why) throw new EgressRefused(`${host} is ${why}; outbound requests may not go there (allow it with egress: { allow_link_local: true })`);
}

/**
 * For clients that take no `lookup` (fetch): checks the URL's host, literal
 * or resolved, before the request. A name could resolve elsewhere a moment
 * later; http(s).request with egressLookup checks at connect time instead.
 */
export async function checkEgressHost(url: URL): Promise<void> {
  checkEgressUrl(url);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (net.isIP(host) || policy.allowLinkLocal) return;
  const addresses = await dns.promises.lookup(host, { all: true });
  for (const entry of addresses) {
    const why = refusedAddress(entry.address);
    if (why) throw new EgressRefused(`${host} resolves to ${entry.address}, ${why}; outbound requests may not go there (allow it with egress: { allow_link_local: true })`);
  }
}
