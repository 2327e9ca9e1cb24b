// The ceiling for bench:web: a bare node:http server answering the same bytes
// the status page answers, with nothing else in the way.
//   node bench/web/bare-server.mjs PORT DIR N   (DIR holds i.body, i.type and i.encoding; served at /i)
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";

const [port, dir, count] = process.argv.slice(2);
const answers = new Map();
for (let i = 0; i < Number(count); i++) {
  const read = (ext) => readFileSync(path.join(dir, `${i}.${ext}`));
  const encoding = read("encoding").toString();
  const headers = { "content-type": read("type").toString(), "content-length": read("body").length, ...(encoding ? { "content-encoding": encoding } : {}) };
  answers.set(`/${i}`, { body: read("body"), headers });
}
http
  .createServer((req, res) => {
    const answer = answers.get(req.url);
    if (!answer) return res.writeHead(404).end();
    res.writeHead(200, answer.headers).end(answer.body);
  })
  .listen(Number(port), "127.0.0.1");
