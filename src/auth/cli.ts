import { parseArgs } from "node:util";
import type { Config } from "../config/index.ts";
import { closeRedis, connectRedis, type RedisTarget } from "../core/index.ts";
import { NARROW_SCOPE_WORDS, SCOPES, SCOPE_WORDS, TokenInputError, TokenStore } from "./tokens.ts";

export const TOKENS_USAGE = `Usage: pulseboard tokens <command>

Admin API tokens with scopes, kept hashed in the control-plane Redis.

Commands:
  create --name NAME --scopes S1,S2   create a token; it is printed once, never again
  list                                every token: id, name, scopes, created, last used, revoked
  revoke ID                           revoke a token at once

Scopes:
${SCOPES.map((s) => `  ${s.padEnd(18)} ${SCOPE_WORDS[s]}`).join("\n")}
${Object.entries(NARROW_SCOPE_WORDS).map(([s, words]) => `  ${s.padEnd(18)} ${words}`).join("\n")}

The control-plane Redis is REDIS_URL (or REDIS_SENTINELS), or the one \`pulseboard start\` embeds
(found through PULSEBOARD_HOME). The bootstrap ADMIN_TOKEN has every scope.`;

/** `pulseboard tokens …`; resolves with the exit status. */
export async function tokensMain(argv: string[], config: Config, target: RedisTarget | undefined, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { name: { type: "string" }, scopes: { type: "string" }, help: { type: "boolean", short: "h" }, config: { type: "string" } },
  });
  const [command, id] = positionals;
  if (values.help || !command) {
    out.write(`${TOKENS_USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (!["create", "list", "revoke"].includes(command)) throw new TokenInputError(`unknown tokens command "${command}"; try create, list or revoke`);
  if (command === "create" && (!values.name || !values.scopes)) throw new TokenInputError("create needs --name NAME and --scopes S1,S2");
  if (command === "revoke" && !id) throw new TokenInputError("revoke needs the id of the token (pulseboard tokens list shows them)");
  if (!target) throw new TokenInputError("no control-plane Redis: set REDIS_URL (or REDIS_SENTINELS and REDIS_SENTINEL_NAME), or run `pulseboard start` first (its embedded Redis is found through PULSEBOARD_HOME)");
  const redis = connectRedis(target, { profile: "command", name: "tokens-cli" });
  try {
    const store = new TokenStore(redis, config.redis.prefix);
    if (command === "create") {
      const { token, record } = await store.create(values.name!, values.scopes!.split(","));
      out.write(`created ${record.id} (${record.name}: ${record.scopes.join(", ")}). The token, shown this once:\n${token}\n`);
      return 0;
    }
    if (command === "list") {
      const tokens = await store.list();
      if (tokens.length === 0) out.write("no tokens (the bootstrap ADMIN_TOKEN is not listed)\n");
      for (const t of tokens) {
        out.write(`${t.id}  ${t.name.padEnd(20)} ${t.scopes.join(",").padEnd(28)} created ${t.created_at}  ${t.last_used_at ? `used ${t.last_used_at}` : "never used"}${t.revoked_at ? `  REVOKED ${t.revoked_at}` : ""}\n`);
      }
      return 0;
    }
    const revoked = await store.revoke(id!);
    if (!revoked) throw new TokenInputError(`no token "${id}"; pulseboard tokens list shows them`);
    out.write(`revoked ${revoked.id} (${revoked.name}) at ${revoked.revoked_at}\n`);
    return 0;
  } finally {
    await closeRedis(redis);
  }
}
