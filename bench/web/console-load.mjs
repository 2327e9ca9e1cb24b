// The console rows of bench:web: autocannon in a process of its own, one
// connection per signed-in session, each sending its own session cookie (the
// CLI can only send one set of headers to every connection).
//   node bench/web/console-load.mjs URL SECONDS COOKIES_FILE   (one "name=value" cookie a line; prints autocannon's JSON summary)
import { readFileSync } from "node:fs";
import autocannon from "autocannon";

const [url, seconds, cookiesFile] = process.argv.slice(2);
const cookies = readFileSync(cookiesFile, "utf8").split("\n").filter(Boolean);
let next = 0;
// A redirect to the sign-in page (a session that ended) is a fast 303 that measures nothing: it shows up in non2xx.
const result = await autocannon({
  url,
  connections: cookies.length,
  duration: Number(seconds),
  setupClient(client) {
    client.setHeaders({ cookie: cookies[next++ % cookies.length], accept: "text/html" });
  },
});
process.stdout.write(JSON.stringify({ requests: result.requests, latency: result.latency, non2xx: result.non2xx, errors: result.errors, "2xx": result["2xx"] }));
