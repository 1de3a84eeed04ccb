/**
 * limitFetch on Bun and Deno, with their own global fetch, against the loopback
 * server that counts what it serves: the limit holds and a 429 Retry-After is
 * waited out and retried. (Chromium is covered by test/platform/browser.test.ts.)
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/http-server.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const client = fileURLToPath(new URL("./runtimes/client.ts", import.meta.url));
const runtimes = [
  { name: "bun", bin: `${root}node_modules/.bin/bun`, args: [client] },
  // --sloppy-imports maps the sources' ".js" specifiers to their ".ts" files.
  { name: "deno", bin: `${root}node_modules/.bin/deno`, args: ["run", "-A", "--sloppy-imports", client] },
];

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("limitFetch on other runtimes", () => {
  for (const rt of runtimes) {
    it.skipIf(!existsSync(rt.bin))(`${rt.name}: the server sees at most 3 at once; 429 Retry-After is retried`, async () => {
      let refusedOnce = false;
      server = await startTestServer({
        delay: 30,
        respond: (r) => {
          if (r.path !== "/refuse" || refusedOnce) return undefined;
          refusedOnce = true;
          return { status: 429, retryAfter: 1, delay: 0 };
        },
      });
      const url = server.url;
      const out = await new Promise<string>((resolve, reject) => {
        execFile(rt.bin, [...rt.args, url], { timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } }, (error, stdout, stderr) => {
          if (error) reject(new Error(`${rt.name} failed: ${error.message}\n${stderr}`));
          else resolve(stdout);
        });
      });
      const result = JSON.parse(out.trim().split("\n").at(-1)!);
      expect(result).toMatchObject({ ok: true, status: 200, text: "ok\n", retries: 1, inFlight: 0 });
      expect(server.peak).toBe(3);
      const refusals = server.requests.filter((r) => r.path === "/refuse");
      expect(refusals).toHaveLength(2);
      expect(refusals[1]!.start - refusals[0]!.start).toBeGreaterThanOrEqual(990);
    }, 90_000);
  }
});
