import type { Config } from "../config/index.ts";
import { apiRoutes } from "./routes-api.ts";
import { badgeRoutes } from "./badges.ts";
import { feedRoutes } from "./feeds.ts";
import type { PageRenderer } from "./pages.ts";
import type { PublicRoute, PublicSiteOptions } from "./public-site.ts";
import { CACHE_CONTROL, rendered, renderedJson } from "./rendered.ts";
import { pageRoutes } from "./routes-pages.ts";
import type { StatuspageMapper } from "../status/index.ts";

/** What every public route renders with. */
export interface RouteContext {
  config: Config;
  pages: PageRenderer;
  mapper: StatuspageMapper;
}

/** Every public route of the site, and its answers for "not found" and "not loaded yet". */
export function publicRoutes(ctx: RouteContext): Pick<PublicSiteOptions, "routes" | "notFound" | "unavailable"> {
  const routes: PublicRoute[] = [...pageRoutes(ctx), ...apiRoutes(ctx), ...feedRoutes(ctx), ...badgeRoutes(ctx)];
  const unavailableHtml = rendered("text/html; charset=utf-8", ctx.pages.unavailable(), { status: 503, cacheControl: CACHE_CONTROL.none });
  const unavailableJson = renderedJson({ code: "not_ready", message: "status not loaded yet; retry in a few seconds" }, CACHE_CONTROL.none);
  unavailableJson.status = 503;
  return {
    routes,
    notFound: (snapshot, path) =>
      path.startsWith("/api/")
        ? { ...renderedJson({ code: "not_found", message: `nothing at ${path}` }, CACHE_CONTROL.api), status: 404 }
        : { ...rendered("text/html; charset=utf-8", ctx.pages.notFound(snapshot), { cacheControl: CACHE_CONTROL.page }), status: 404 },
    unavailable: (path) => (path.startsWith("/api/") || path.endsWith(".json") ? unavailableJson : unavailableHtml),
  };
}
