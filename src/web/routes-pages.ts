import type { RouteContext } from "./public-routes.ts";
import type { PublicRoute } from "./public-site.ts";
import { CACHE_CONTROL, rendered } from "./rendered.ts";

const HTML = "text/html; charset=utf-8";

/** The status page's HTML: home, one incident or maintenance, history by month, and the theme. */
export function pageRoutes({ pages }: RouteContext): PublicRoute[] {
  return [
    { path: "/", render: (s) => rendered(HTML, pages.home(s), { cacheControl: CACHE_CONTROL.page }) },
    {
      path: /^\/incidents\/([\w-]{1,64})$/,
      render: (s, [id]) => {
        const incident = s.summary.recent.find((i) => i.id === id) ?? s.summary.unresolved.find((i) => i.id === id);
        if (incident) return rendered(HTML, pages.incident(s, incident), { cacheControl: CACHE_CONTROL.page });
        const maintenance = s.data.maintenances.find((m) => m.id === id) ?? s.summary.maintenances.find((m) => m.id === id);
        return maintenance ? rendered(HTML, pages.maintenance(s, maintenance), { cacheControl: CACHE_CONTROL.page }) : undefined;
      },
    },
    {
      path: "/history",
      query: ["page"],
      render: (s, _params, query) => {
        if (query.page !== undefined && !/^[1-9]\d*$/.test(query.page)) {
          const message = `The history has no page “${query.page}”: the page parameter takes a whole number from 1.`;
          return rendered(HTML, pages.badRequest(s, message), { status: 400, cacheControl: CACHE_CONTROL.page });
        }
        const html = pages.history(s, query.page === undefined ? 1 : Number(query.page));
        return html === undefined ? undefined : rendered(HTML, html, { cacheControl: CACHE_CONTROL.page });
      },
    },
    { path: "/theme.css", render: () => rendered("text/css; charset=utf-8", pages.themeCss(), { cacheControl: CACHE_CONTROL.feed }) },
  ];
}
