import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { configFrom, problemsOf } from "../helpers/config.ts";

const BASE = `
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
`;

describe("admin.session_idle (how long an idle console session lives)", () => {
  it("defaults to 30 minutes and reads a duration", async () => {
    assert.equal((await configFrom(BASE)).admin.sessionIdleMs, 30 * 60_000);
    assert.equal((await configFrom(`${BASE}admin: { session_idle: 2h }\n`)).admin.sessionIdleMs, 2 * 3_600_000);
  });

  it("refuses what is not a duration, or is outside 1m to 7d, naming the setting", async () => {
    assert.deepEqual(await problemsOf(`${BASE}admin: { session_idle: 30 }\n`), ['admin.session_idle: expected a duration like "30m", got 30']);
    assert.deepEqual(await problemsOf(`${BASE}admin: { session_idle: "half an hour" }\n`), ['admin.session_idle: expected a duration like "30m", got "half an hour"']);
    for (const value of ["10s", "8d"]) {
      assert.deepEqual(await problemsOf(`${BASE}admin: { session_idle: ${value} }\n`), ["admin.session_idle: must be from 1m to 7d (an idle console session is signed out after it)"]);
    }
    assert.deepEqual(await problemsOf(`${BASE}admin: { session_idel: 1h }\n`), ['admin: Unrecognized key: "session_idel" (did you mean "session_idle"?)']);
  });
});
