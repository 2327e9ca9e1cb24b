/**
 * Characters XML 1.0 does not allow anywhere, even escaped: C0 controls other
 * than tab, line feed and carriage return, lone surrogates, U+FFFE and U+FFFF.
 * With the `u` flag a valid surrogate pair is one code point and does not match.
 */
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/gu;

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

/**
 * Text people typed, safe as XML character data or an attribute value:
 * characters XML cannot carry are dropped, markup characters escaped (so
 * `]]>` and `<script>` stay text).
 */
export function xmlEscape(text: string): string {
  return text.replace(NOT_XML, "").replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** The same escaping for HTML that is then embedded as text (feed content), where `'` needs no entity. */
export function htmlEscape(text: string): string {
  return text.replace(NOT_XML, "").replace(/[&<>"]/g, (c) => ENTITIES[c]!);
}
