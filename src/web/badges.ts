import type { ComponentStatus, Indicator } from "../status/index.ts";
import { COMPONENT_STATUS_LABELS, INDICATOR_SHORT_LABELS } from "./labels.ts";
import type { RouteContext } from "./public-routes.ts";
import type { PublicRoute } from "./public-site.ts";
import { CACHE_CONTROL, rendered, type Rendered } from "./rendered.ts";
import { xmlEscape } from "./xml.ts";

export const SVG_TYPE = "image/svg+xml; charset=utf-8";

/** Message backgrounds; each keeps white text at a contrast of 4.5:1 or more, and the text says the status anyway. */
export const STATUS_COLORS: Record<ComponentStatus, string> = {
  operational: "#2e7d32",
  degraded_performance: "#8a6100",
  partial_outage: "#c2410c",
  major_outage: "#b91c1c",
  under_maintenance: "#1d4ed8",
};

const INDICATOR_COLORS: Record<Indicator, string> = {
  none: STATUS_COLORS.operational,
  minor: STATUS_COLORS.degraded_performance,
  major: STATUS_COLORS.partial_outage,
  critical: STATUS_COLORS.major_outage,
  maintenance: STATUS_COLORS.under_maintenance,
};

/** Background of the label half. */
export const LABEL_COLOR = "#555555";

/** Longer labels are cut with an ellipsis, so a badge stays badge-sized. */
const MAX_TEXT = 48;

export interface Badge {
  label: string;
  message: string;
  /** Background of the message half, as #rrggbb. */
  color: string;
}

/** SVG badges: `/badge.svg` for the page's overall status, `/badge/<component id>.svg` for one component. */
export function badgeRoutes(_ctx: RouteContext): PublicRoute[] {
  return [
    {
      path: "/badge.svg",
      render: (s) => svgResponse({ label: "status", message: INDICATOR_SHORT_LABELS[s.summary.indicator], color: INDICATOR_COLORS[s.summary.indicator] }),
    },
    {
      path: /^\/badge\/([a-z0-9][a-z0-9-]{0,62})\.svg$/,
      render: (s, [id]) => {
        const view = s.summary.components.find((c) => c.config.id === id);
        if (!view) return undefined;
        return svgResponse({ label: view.config.name, message: COMPONENT_STATUS_LABELS[view.status].toLowerCase(), color: STATUS_COLORS[view.status] });
      },
    },
  ];
}

function svgResponse(badge: Badge): Rendered {
  return rendered(SVG_TYPE, badgeSvg(badge), { cacheControl: CACHE_CONTROL.badge, cors: true });
}

/**
 * A flat badge in the shields.io style: grey label, coloured message, 20 px
 * high, each half as wide as its text (estimated from Verdana 11 px widths)
 * plus padding. One image to assistive technology: `role="img"`, a `<title>`
 * and an aria-label saying "label: message".
 */
export function badgeSvg(badge: Badge): string {
  const label = fit(badge.label);
  const message = fit(badge.message);
  const labelText = Math.round(textWidth(label));
  const messageText = Math.round(textWidth(message));
  const labelWidth = labelText + 10;
  const messageWidth = messageText + 10;
  const width = labelWidth + messageWidth;
  const title = xmlEscape(`${label}: ${message}`);
  const text = (value: string, center: number, length: number) =>
    `<text aria-hidden="true" x="${center}" y="15" fill="#010101" fill-opacity=".3" textLength="${length}">${xmlEscape(value)}</text>` +
    `<text x="${center}" y="14" textLength="${length}">${xmlEscape(value)}</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" viewBox="0 0 ${width} 20" role="img" aria-label="${title}">`,
    `<title>${title}</title>`,
    `<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`,
    `<clipPath id="r"><rect width="${width}" height="20" rx="3" fill="#fff"/></clipPath>`,
    `<g clip-path="url(#r)"><rect width="${labelWidth}" height="20" fill="${LABEL_COLOR}"/><rect x="${labelWidth}" width="${messageWidth}" height="20" fill="${badge.color}"/><rect width="${width}" height="20" fill="url(#s)"/></g>`,
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="11">`,
    text(label, labelWidth / 2, labelText),
    text(message, labelWidth + messageWidth / 2, messageText),
    `</g></svg>`,
    "",
  ].join("\n");
}

function fit(text: string): string {
  const chars = [...text.trim()];
  return chars.length <= MAX_TEXT ? chars.join("") : `${chars.slice(0, MAX_TEXT - 1).join("")}…`;
}

/** Verdana 11 px advance widths of printable ASCII (space to `~`), in px. */
const ASCII_WIDTHS = [
  3.87, 4.33, 5.05, 9, 7, 11.84, 7.99, 2.95, 4.99, 4.99, 7, 9, 4, 4.99, 4, 4.99, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 4.99, 4.99, 9, 9, 9, 6, 11, 7.52, 7.54,
  7.68, 8.48, 6.96, 6.32, 8.53, 8.27, 4.63, 5, 7.62, 6.12, 9.27, 8.23, 8.66, 6.63, 8.66, 7.65, 7.52, 6.78, 8.05, 7.52, 10.88, 7.54, 6.77, 7.54, 4.99, 4.99,
  4.99, 9, 7, 7, 6.61, 6.87, 5.73, 6.87, 6.55, 3.87, 6.87, 6.96, 3.02, 3.79, 6.51, 3.02, 10.7, 6.96, 6.68, 6.87, 6.87, 4.69, 5.73, 4.33, 6.96, 6.51,
  8.96, 6.51, 6.51, 5.78, 6.98, 4.99, 6.98, 9,
];

/** Estimated width of `text` in Verdana 11 px: ASCII from the table, wide scripts and emoji as 11 px, anything else as 7 px. */
export function textWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code >= 0x20 && code <= 0x7e) width += ASCII_WIDTHS[code - 0x20]!;
    else if (code >= 0x1100 && /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Hangul}\p{Extended_Pictographic}]/u.test(char)) width += 11;
    else width += 7;
  }
  return width;
}
