// Run by test/http/runtimes.test.ts under Bun and Deno (TypeScript sources, no build):
// limitFetch with the runtime's own global fetch against the loopback test server.
import { limitFetch } from "../../../src/http/index.js";

const url = (globalThis as { process?: { argv: string[] } }).process?.argv.at(-1) ?? "";
const f = limitFetch({ concurrency: 3, retries: 1 });
const t0 = performance.now();
const bodies = await Promise.all(Array.from({ length: 12 }, async (_, i) => (await f(`${url}/r${i}`)).text()));
const refused = await f(`${url}/refuse`);
console.log(
  JSON.stringify({
    ok: bodies.every((b) => b === "ok\n"),
    status: refused.status,
    text: await refused.text(),
    retries: f.stats().retries,
    inFlight: f.stats().inFlight,
    ms: Math.round(performance.now() - t0),
  }),
);
