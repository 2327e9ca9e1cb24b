#!/usr/bin/env node
// Makes sure the system programs Pulseboard needs are installed:
//   node scripts/system-deps.mjs redis-server [chromium] [mosquitto] [nats-server] [promtool] [openssl]
// Installs a missing one with apt-get when running as root on Debian/Ubuntu;
// elsewhere prints what to run and exits 1.
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import path from "node:path";

const PACKAGES = {
  "redis-server": { apt: "redis-server", brew: "redis", why: "Pulseboard embeds Redis when REDIS_URL and CACHE_REDIS_URL are unset" },
  chromium: { apt: "chromium", brew: "--cask chromium", why: "the status page's browser tests drive a real headless Chromium" },
  mosquitto: { apt: "mosquitto", brew: "mosquitto", why: "the MQTT probes' tests run against a real Mosquitto broker" },
  "nats-server": { apt: "nats-server", brew: "nats-server", why: "the NATS probes' tests run against a real nats-server" },
  promtool: { apt: "prometheus", brew: "prometheus", why: "a test lints /metrics with Prometheus's promtool" },
  openssl: { apt: "openssl", brew: "openssl", why: "tests make self-signed certificates (NATS over TLS, a remote agent with --ca)" },
};

function which(name) {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return path.join(dir, name);
    } catch {}
  }
  return undefined;
}

function run(command, args) {
  process.stderr.write(`system-deps: ${command} ${args.join(" ")}\n`);
  return spawnSync(command, args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }).status === 0;
}

function install(pkg) {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot || !which("apt-get")) return false;
  // Another apt-get (a second copy of the test suite installing the same thing, unattended upgrades) holds
  // dpkg's lock for a while: wait for it (apt says so) instead of failing at once.
  const lock = ["-o", "DPkg::Lock::Timeout=600"];
  const args = [...lock, "install", "-y", "--no-install-recommends", pkg];
  return run("apt-get", args) || (run("apt-get", [...lock, "update"]) && run("apt-get", args));
}

const wanted = process.argv.slice(2);
if (wanted.includes("redis-server") && process.env.REDIS_URL && process.env.CACHE_REDIS_URL && process.argv.includes("--unless-urls")) {
  wanted.splice(wanted.indexOf("redis-server"), 1);
}
let missing = 0;
for (const name of wanted.filter((w) => !w.startsWith("--"))) {
  const spec = PACKAGES[name];
  if (!spec) {
    process.stderr.write(`system-deps: unknown program ${name}\n`);
    process.exit(2);
  }
  if (which(name)) continue;
  process.stderr.write(`system-deps: ${name} is missing (${spec.why}).\n`);
  // Looked for again even when the install failed: the apt-get that held the lock may have installed it.
  install(spec.apt);
  if (which(name)) {
    process.stderr.write(`system-deps: installed ${name}.\n`);
    continue;
  }
  missing++;
  process.stderr.write(
    `system-deps: could not install ${name} here. Install it, then run the command again:\n` +
      `  Debian/Ubuntu:  sudo apt-get install -y ${spec.apt}\n` +
      `  macOS:          brew install ${spec.brew}\n`,
  );
}
process.exit(missing ? 1 : 0);
