import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { REPO_ROOT } from "./config.ts";

/** Screenshots land here (CI keeps the folder as the run's artifacts). */
export const ARTIFACTS = path.join(REPO_ROOT, "test-results");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Flags for a sandboxed, offline CI machine: no background network, no GPU. */
const CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];

/** Debian's Chromium, headless, with the screenshots folder ready. */
export async function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

export interface PageOptions {
  colorScheme?: "light" | "dark";
  /** A 375 px wide touch screen. */
  phone?: boolean;
  /** @defaultValue true */
  javaScript?: boolean;
  /** Refuse every request off this machine (a page of someone else's that asks for a web font), and count only our own pages' console errors. */
  localOnly?: boolean;
}

/** A fresh browser profile, with console errors (CSP violations included) collected. */
export async function openPage(browser: Browser, options: PageOptions = {}): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const common = { colorScheme: options.colorScheme ?? "light", javaScriptEnabled: options.javaScript ?? true } as const;
  const context = await browser.newContext(options.phone ? { ...common, viewport: { width: 375, height: 800 }, isMobile: true, hasTouch: true } : { ...common, viewport: { width: 1200, height: 900 } });
  if (options.localOnly) await context.route("**/*", (route) => (["127.0.0.1", "[::1]"].includes(new URL(route.request().url()).hostname) ? route.continue() : route.abort()));
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (message) => message.type() === "error" && (!options.localOnly || new URL(page.url()).hostname === "127.0.0.1") && problems.push(message.text()));
  page.on("pageerror", (err) => problems.push(err.message));
  return { context, page, problems };
}

/** Signs in to the console at `base` with a token, as a person does: the Token field, then Sign in. */
export async function signInWithToken(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/admin/login`);
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/admin\/incidents$/);
}

/** A role from the CLI (bin/pulseboard.js), its stderr kept in `output`: what an operator runs in production. */
export function startRole(role: string, env: NodeJS.ProcessEnv, output: string[]): ChildProcess {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, "bin/pulseboard.js"), role], { env, stdio: ["ignore", "ignore", "pipe"] });
  child.stderr!.on("data", (chunk: Buffer) => {
    output.push(`${role}: ${chunk.toString()}`);
    if (process.env.TEST_VERBOSE) process.stderr.write(chunk);
  });
  return child;
}

/** SIGTERM, and waits for the exit. */
export async function stopRole(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}
