import http from "node:http";

/** How often the status page is read while a scenario runs. */
const POLL_MS = 250;
/**
 * How long every component must stay operational before that counts as
 * recovered. One lucky round of probes (each landing on the healthy node of
 * two, say) turns the page green for a second while the fault still holds;
 * a scenario that ended its fault on that blip would credit the stack with a
 * repair it never made.
 */
export const STEADY_MS = 3_000;

interface ComponentView {
  name: string;
  status: string;
}

/** One change of one component, as the public API showed it. */
export interface StatusChange {
  at: number;
  component: string;
  from: string;
  to: string;
}

/**
 * Watches the public status page while a scenario runs, as a customer
 * would: reads /api/v2/components.json every 250 ms and keeps every change,
 * the first moment anything left `operational` (detected), the first moment
 * after that when everything was operational again and stayed so for
 * STEADY_MS (recovered, dated from the start of that stretch), and how many
 * reads got a 200.
 */
export class StatusWatcher {
  readonly changes: StatusChange[] = [];
  detectedAt?: number;
  recoveredAt?: number;
  reads = 0;
  answered = 0;
  private last = new Map<string, string>();
  /** Since when every component has been operational after a detection, while that is still under STEADY_MS. */
  private greenSince?: number;
  private timer?: NodeJS.Timeout;
  private inFlight = false;

  constructor(private readonly pageUrl: string) {}

  /** Reads the page once (the baseline), then keeps reading. */
  async start(): Promise<Map<string, string>> {
    await this.read();
    this.timer = setInterval(() => void this.read(), POLL_MS);
    return new Map(this.last);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** From now on, detection and recovery are counted from a clean slate. */
  reset(): void {
    this.detectedAt = undefined;
    this.recoveredAt = undefined;
    this.greenSince = undefined;
    this.changes.length = 0;
    this.reads = 0;
    this.answered = 0;
  }

  get allOperational(): boolean {
    return this.last.size > 0 && [...this.last.values()].every((s) => s === "operational");
  }

  /** Went bad since the reset and is all operational again. */
  get recovered(): boolean {
    return this.recoveredAt !== undefined;
  }

  /** The worst status each component reached since the reset. */
  worst(): Map<string, string> {
    const order = ["operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"];
    const worst = new Map([...this.last.keys()].map((name) => [name, "operational"]));
    for (const change of this.changes) {
      if (order.indexOf(change.to) > order.indexOf(worst.get(change.component) ?? "operational")) worst.set(change.component, change.to);
    }
    return worst;
  }

  /** The status line: each component that is not operational. */
  describe(): string {
    const bad = [...this.last].filter(([, status]) => status !== "operational");
    return bad.length === 0 ? "all operational" : bad.map(([name, status]) => `${name} ${status.replace(/_/g, " ")}`).join(", ");
  }

  private async read(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    this.reads++;
    try {
      const body = await getJson(new URL("/api/v2/components.json", this.pageUrl));
      if (!body) return;
      this.answered++;
      const now = Date.now();
      for (const component of (body as { components?: ComponentView[] }).components ?? []) {
        const before = this.last.get(component.name);
        if (before !== undefined && before !== component.status) this.changes.push({ at: now, component: component.name, from: before, to: component.status });
        this.last.set(component.name, component.status);
      }
      if (!this.allOperational) {
        this.detectedAt ??= now;
        this.greenSince = undefined;
      } else if (this.detectedAt !== undefined && this.recoveredAt === undefined) {
        this.greenSince ??= now;
        if (now - this.greenSince >= STEADY_MS) this.recoveredAt = this.greenSince;
      }
    } finally {
      this.inFlight = false;
    }
  }
}

/** GET a JSON document; undefined for anything but a 200 with JSON within 2 s. */
export function getJson(url: URL, headers: Record<string, string> = {}): Promise<unknown> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 2_000, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("error", () => resolve(undefined));
      res.on("end", () => {
        if (res.statusCode !== 200) return resolve(undefined);
        try {
          resolve(JSON.parse(text));
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}
