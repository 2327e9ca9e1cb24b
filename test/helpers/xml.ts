import { SaxesParser } from "saxes";

/** One element of a parsed document: enough to assert on feeds and SVG. */
export interface XmlElement {
  /** The qualified name as written, like `atom:link`. */
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own character data (entities decoded, CDATA included), children's not. */
  text: string;
}

/**
 * Parses a document with saxes, a conforming XML 1.0 parser: any
 * well-formedness error, including a character XML does not allow, throws.
 */
export function parseXml(source: string): XmlElement {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let error: Error | undefined;
  parser.on("error", (err) => {
    error ??= err;
  });
  parser.on("opentag", (tag) => {
    const element: XmlElement = { name: tag.name, attributes: {}, children: [], text: "" };
    for (const [name, attribute] of Object.entries(tag.attributes)) element.attributes[name] = attribute.value;
    stack.at(-1)?.children.push(element);
    root ??= element;
    stack.push(element);
  });
  parser.on("closetag", () => {
    stack.pop();
  });
  const addText = (text: string) => {
    const current = stack.at(-1);
    if (current) current.text += text;
  };
  parser.on("text", addText);
  parser.on("cdata", addText);
  parser.write(source).close();
  if (error) throw error;
  if (!root) throw new Error("no root element");
  return root;
}

/** The first child element named `name` (throws when there is none). */
export function child(element: XmlElement, name: string): XmlElement {
  const found = element.children.find((c) => c.name === name);
  if (!found) throw new Error(`<${element.name}> has no <${name}>; it has ${element.children.map((c) => c.name).join(", ") || "no children"}`);
  return found;
}

/** Every child element named `name`. */
export function children(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}
