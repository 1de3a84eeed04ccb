/**
 * The built core in a real browser: Debian's Chromium, driven by playwright-core,
 * loads dist/index.js as an ES module from a page served on 127.0.0.1 and runs
 * the runtime-neutral contract subset (subset.mjs: FIFO, abort, timeout, close,
 * run, …) there. Once `permit-pool/http` is built, `limitFetch` is exercised from
 * the page against a loopback server that counts concurrent requests.
 *
 * "No Node-only API in the core" is checked three ways:
 * 1. esbuild bundles dist/index.js for `platform: "browser"` with nothing
 *    external — any `node:*` or package import fails the build;
 * 2. the page traps reads of Node globals (`process`, `Buffer`, `require`,
 *    `setImmediate`, …) while the core loads and runs; only the documented
 *    feature probe of `process` (diagnostics.ts: `process?.getBuiltinModule`)
 *    is allowed;
 * 3. any uncaught error in the page fails the test.
 *
 * Needs dist/ (`npm run build`) and /usr/bin/chromium (`npm test` installs it: scripts/ensure-system-deps.sh).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/http-server.js";
import { cases, type CaseResult } from "./subset.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];
/** Node globals the page traps; reading any of them from the core is reported. */
const nodeGlobals = ["process", "Buffer", "require", "module", "global", "setImmediate", "__dirname", "__filename"];
/** What the core may probe: diagnostics.ts looks for `process.getBuiltinModule` and copes without it. */
const allowedProbes = new Set(["process"]);

const caseNames = cases({}).map((c) => c.name);
const hasHttp = existsSync(join(root, "dist/http/index.js"));

/** Serves the page, dist/ and test/platform/ (read-only, nothing else) from the repository root. */
async function startStaticServer(): Promise<{ server: Server; url: string }> {
  const types: Record<string, string> = { ".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json" };
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)).replace(/^[/\\]+/, "");
    if (path === "" || path === ".") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end("<!doctype html><title>permits</title><p>permits browser test</p>");
      return;
    }
    if (!(path.startsWith(`dist${sep}`) || path.startsWith(`test${sep}platform${sep}`)) || path.includes("..")) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(root, path)).then(
      (body) => {
        res.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream" });
        res.end(body);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("the built core in Chromium", () => {
  let browser: Browser | undefined;
  let page: Page;
  let site: { server: Server; url: string };
  let api: TestServer;
  let results: CaseResult;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(join(root, "dist/index.js"))) throw new Error("dist/index.js is missing: run `npm run build` first");
    if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: apt-get install -y chromium (npm test does, as root: scripts/ensure-system-deps.sh)`);
    site = await startStaticServer();
    // Cross-origin from the page (another port), so answer CORS for the fetch test.
    api = await startTestServer({ delay: 40, headers: { "access-control-allow-origin": "*" } });
    browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs, headless: true });
    page = await browser.newPage();
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    await page.addInitScript((names: string[]) => {
      const touched: string[] = [];
      (globalThis as unknown as { __nodeGlobalsTouched: string[] }).__nodeGlobalsTouched = touched;
      for (const name of names) {
        if (name in globalThis) continue;
        Object.defineProperty(globalThis, name, {
          configurable: true,
          get() {
            if (!touched.includes(name)) touched.push(name);
            return undefined;
          },
        });
      }
    }, nodeGlobals);
    await page.goto(site.url);
    // Passed as source text: a function here would have its import() rewritten by vitest's transform.
    // A core that cannot even load (e.g. it imports node:*) fails every case with the load error.
    results = (await page
      .evaluate(
        `(async () => {
          const permits = await import("/dist/index.js");
          const { runCases } = await import("/test/platform/subset.mjs");
          return runCases(permits);
        })()`,
      )
      .catch((error: unknown) => ({
        passed: 0,
        failed: caseNames.length,
        failures: caseNames.map((name) => ({ name, error: `the core did not load in Chromium: ${String(error)}` })),
      }))) as CaseResult;
  });

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await new Promise((resolve) => site?.server.close(resolve));
  });

  it("runs in a real browser, not a Node shim", async () => {
    const agent = await page.evaluate(() => navigator.userAgent);
    expect(agent).toMatch(/Chrome\/\d+/);
    expect(await page.evaluate(() => typeof (globalThis as { process?: unknown }).process)).toBe("undefined");
  });

  it.each(caseNames)("%s", (name) => {
    const failure = results.failures.find((f) => f.name === name);
    expect(failure?.error).toBeUndefined();
  });

  it("ran every case of the subset", () => {
    expect(results.passed + results.failed).toBe(caseNames.length);
  });

  it("bundles for the browser with no Node built-in and no dependency", async () => {
    const result = await build({
      entryPoints: [join(root, "dist/index.js")],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      logLevel: "silent",
      metafile: true,
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((input) => input.includes("node_modules") || input.startsWith("node:"))).toEqual([]);
  });

  it.skipIf(!hasHttp)("limitFetch bounds concurrent requests from the page to a loopback server", async () => {
    api.reset();
    // Each body is read as soon as its response arrives: a response holds its slot until its body is consumed.
    const outcome = await page.evaluate<{ statuses: number[]; bodies: string[] }>(`(async () => {
      const { limitFetch } = await import("/dist/http/index.js");
      const limited = limitFetch({ concurrency: 2 });
      const results = await Promise.all(Array.from({ length: 6 }, async (_, i) => {
        const response = await limited(${JSON.stringify(api.url)} + "/item/" + i);
        return { status: response.status, body: await response.text() };
      }));
      return { statuses: results.map((r) => r.status), bodies: results.map((r) => r.body) };
    })()`);
    expect(outcome.statuses).toEqual([200, 200, 200, 200, 200, 200]);
    expect(outcome.bodies.every((body) => body.length > 0)).toBe(true);
    expect(api.total).toBe(6);
    expect(api.peak).toBeLessThanOrEqual(2);
    expect(api.peak).toBeGreaterThan(0);
  });

  it("reads no Node-only global, core and http alike (only the documented probe of process)", async () => {
    const touched = await page.evaluate(() => (globalThis as unknown as { __nodeGlobalsTouched: string[] }).__nodeGlobalsTouched);
    expect(touched.filter((name) => !allowedProbes.has(name))).toEqual([]);
  });

  it("throws no uncaught error in the page", () => {
    expect(pageErrors).toEqual([]);
  });
});
