import http from "node:http";
import https from "node:https";
import { checkEgressUrl, egressLookup } from "../../core/index.ts";
import { ProbeFailure } from "../types.ts";
import type { BrokerLoad } from "./types.ts";

/** The fields of a NATS server's `/varz` that say how full it is. */
interface Varz {
  connections?: unknown;
  max_connections?: unknown;
}

/**
 * A NATS server's load from its monitoring port: `/varz`'s `connections`
 * (clients held now, on this server only) and `max_connections`. The
 * request keeps no connection alive and ends with the signal or after
 * `withinMs`; the egress policy applies as to every probe request.
 */
export async function varzLoad(monitorUrl: string, signal: AbortSignal, withinMs: number): Promise<BrokerLoad> {
  const url = new URL("varz", monitorUrl.replace(/\/?$/, "/"));
  const varz = await getJson<Varz>(url, signal, withinMs);
  return { connections: count(varz.connections), limit: count(varz.max_connections), source: "/varz" };
}

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function getJson<T>(url: URL, signal: AbortSignal, withinMs: number): Promise<T> {
  // Credentials in the URL stay out of every message.
  const where = `the NATS monitoring port at ${url.host}`;
  try {
    checkEgressUrl(url);
  } catch (err) {
    return Promise.reject(new ProbeFailure((err as Error).message));
  }
  const client = url.protocol === "https:" ? https : http;
  return new Promise<T>((resolve, reject) => {
    const req = client.get(url, { agent: false, signal, timeout: Math.max(1, withinMs), lookup: egressLookup }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("error", (err) => reject(new ProbeFailure(`${where}: ${err.message}`)));
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(new ProbeFailure(`${where} answered HTTP ${res.statusCode} to GET ${url.pathname}`));
        try {
          resolve(JSON.parse(text) as T);
        } catch {
          reject(new ProbeFailure(`${where} answered GET ${url.pathname} with something that is not JSON: is monitor_url the server's http port?`));
        }
      });
    });
    req.on("timeout", () => req.destroy(new ProbeFailure(`${where} did not answer GET ${url.pathname} within ${Math.round(withinMs)} ms`)));
    req.on("error", (err) => {
      if (err instanceof ProbeFailure) return reject(err);
      if (signal.aborted) return reject(new ProbeFailure(`aborted at the deadline while asking ${where}`));
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ECONNREFUSED") return reject(new ProbeFailure(`${where} refused the connection: is the server's http monitoring port set (http: …) and monitor_url right?`));
      reject(new ProbeFailure(`${where}: ${err.message}`));
    });
  });
}
