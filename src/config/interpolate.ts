/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string of a parsed YAML
 * tree with values from the environment; `$${` writes a literal `${`.
 * A variable that is unset and has no default is a problem named by its path.
 */
export function interpolateEnv(
  tree: unknown,
  env: Record<string, string | undefined>,
  problems: string[],
  path: string = "",
): unknown {
  if (typeof tree === "string") return interpolateString(tree, env, problems, path);
  if (Array.isArray(tree)) return tree.map((item, i) => interpolateEnv(item, env, problems, `${path}[${i}]`));
  if (tree && typeof tree === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(tree)) {
      out[key] = interpolateEnv(value, env, problems, path ? `${path}.${key}` : key);
    }
    return out;
  }
  return tree;
}

const REFERENCE = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function interpolateString(
  text: string,
  env: Record<string, string | undefined>,
  problems: string[],
  path: string,
): string {
  return text.replace(REFERENCE, (whole, escaped: string, name: string, fallback: string | undefined) => {
    if (escaped) return whole.slice(1);
    const value = env[name];
    if (value !== undefined && value !== "") return value;
    if (fallback !== undefined) return fallback;
    problems.push(`${path || "(root)"}: environment variable ${name} is not set (write \${${name}:-default} to give a default)`);
    return "";
  });
}
