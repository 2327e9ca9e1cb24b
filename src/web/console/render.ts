import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import Handlebars from "handlebars";
import type { Config } from "../../config/index.ts";
import type { ComponentStatus, IncidentStatus } from "../../status/index.ts";
import { COMPONENT_STATUS_LABELS, INCIDENT_STATUS_LABELS } from "../labels.ts";
import { VIEWS_DIR } from "../pages.ts";
import type { ConsoleSession } from "./sessions.ts";

/** The console's sections, in nav order; later pages (playbooks, probes, fleet, …) join here. */
export const CONSOLE_NAV = [{ id: "incidents", href: "/admin/incidents", label: "Incidents" }, { id: "templates", href: "/admin/templates", label: "Templates" }, { id: "playbooks", href: "/admin/playbooks", label: "Playbooks" }, { id: "maintenance", href: "/admin/maintenance", label: "Maintenance" }, { id: "probes", href: "/admin/probes", label: "Probes" }, { id: "fleet", href: "/admin/fleet", label: "Fleet" }, { id: "notifications", href: "/admin/notifications", label: "Notifications" }, { id: "access", href: "/admin/tokens", label: "Tokens & audit" }] as const;
export type ConsoleSection = (typeof CONSOLE_NAV)[number]["id"];

/** What every console page gets besides its own data. */
export interface ConsolePageData extends Record<string, unknown> {
  /** Names the page (the document title adds the console's name). */
  title: string;
  /** The signed-in session, for the nav, the sign-out form and read-only notices. @defaultValue signed out */
  session?: ConsoleSession;
  /** The nav entry to mark as the current one. */
  section?: ConsoleSection;
  /** A short note after an action ("Published."). */
  flash?: string;
}

/**
 * Renders the operator console's pages from views/console/: its own layout
 * (nav, who is signed in, sign out), the public page's stylesheet and
 * themes plus console.css. Every value goes through `{{…}}`, which escapes
 * it; no view uses `{{{…}}}` for anything but the rendered page body.
 */
export class ConsoleRenderer {
  private readonly hbs = Handlebars.create();
  private readonly templates = new Map<string, Handlebars.TemplateDelegate>();
  private readonly layout: Handlebars.TemplateDelegate;
  private readonly timeFormat: Intl.DateTimeFormat;

  constructor(
    private readonly config: () => Config,
    viewsDir: string = path.join(VIEWS_DIR, "console"),
  ) {
    this.timeFormat = new Intl.DateTimeFormat("en-GB", { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: config().page.time_zone, timeZoneName: "short" });
    this.registerHelpers();
    const partialsDir = path.join(viewsDir, "partials");
    for (const file of readdirSync(partialsDir).filter((f) => f.endsWith(".hbs"))) {
      this.hbs.registerPartial(file.replace(/\.hbs$/, ""), readFileSync(path.join(partialsDir, file), "utf8"));
    }
    for (const file of readdirSync(viewsDir).filter((f) => f.endsWith(".hbs") && f !== "layout.hbs")) {
      this.templates.set(file.replace(/\.hbs$/, ""), this.hbs.compile(readFileSync(path.join(viewsDir, file), "utf8")));
    }
    this.layout = this.hbs.compile(readFileSync(path.join(viewsDir, "layout.hbs"), "utf8"));
  }

  /** A console page: `view` (views/console/<view>.hbs) inside the console's layout. */
  page(view: string, data: ConsolePageData): string {
    const template = this.templates.get(view);
    if (!template) throw new Error(`view console/${view}.hbs is missing from views/`);
    const page = this.config().page;
    const session = data.session && { name: data.session.actor.name, scopes: data.session.actor.scopes.join(", "), csrf: data.session.csrf };
    const nav = CONSOLE_NAV.map((entry) => ({ ...entry, current: entry.id === data.section }));
    const context = { ...data, session, nav, pageName: page.name };
    return compact(this.layout({ ...context, body: template(context) }));
  }

  /** A view alone, without the layout: the part of a page its script fetches again (views/console/<view>.hbs). */
  fragment(view: string, data: Record<string, unknown>): string {
    const template = this.templates.get(view);
    if (!template) throw new Error(`view console/${view}.hbs is missing from views/`);
    return compact(template(data));
  }

  private registerHelpers(): void {
    const h = this.hbs;
    h.registerHelper("statusLabel", (status: ComponentStatus) => COMPONENT_STATUS_LABELS[status] ?? status);
    h.registerHelper("incidentStatusLabel", (status: IncidentStatus) => INCIDENT_STATUS_LABELS[status] ?? status);
    h.registerHelper("time", (iso: unknown) => (typeof iso === "string" && iso ? this.timeFormat.format(new Date(iso)) : "never"));
    h.registerHelper("eq", (a: unknown, b: unknown) => a === b);
  }
}

/** Drops the indentation between tags that views carry for readability; escaped text holds no < or >, so what people typed is untouched. */
function compact(html: string): string {
  return html.replace(/>\s*\n\s*</g, "><");
}
