/* global console -- present in every runtime this file targets */
// Runs the runtime-neutral contract subset (subset.mjs) against the built
// package in whatever runtime executes this file: Node, Bun or Deno.
//
//   node test/platform/smoke.mjs          bun test/platform/smoke.mjs
//   deno run --allow-read test/platform/smoke.mjs
//
// No test framework on purpose: the point is to exercise the runtime itself,
// not a framework's compatibility layer. Prints one summary line
// "<runtime> <version>: N passed, N failed" and exits non-zero on a failure.
import { runCases } from "./subset.mjs";

const g = /** @type {any} */ (globalThis);
const runtime = g.Deno
  ? `deno ${g.Deno.version.deno}`
  : g.Bun
    ? `bun ${g.Bun.version}`
    : `node ${g.process.versions.node}`;

const exit = (/** @type {number} */ code) => (g.Deno ? g.Deno.exit(code) : g.process.exit(code));
const verbose = (g.Deno ? g.Deno.args : g.process.argv.slice(2)).includes("--verbose");

let permits;
try {
  permits = await import(new URL("../../dist/index.js", import.meta.url).href);
} catch (error) {
  console.log(`${runtime}: cannot import dist/index.js (run npm run build first): ${String(error)}`);
  console.log(`${runtime}: 0 passed, 1 failed`);
  exit(1);
}

/** @type {string[]} */
const lines = [];
const { passed, failed } = await runCases(permits, (line) => lines.push(line));
// Failures are always shown; the per-case list only on --verbose.
for (const line of lines) if (verbose || line.startsWith("  FAIL")) console.log(line);
console.log(`${runtime}: ${passed} passed, ${failed} failed`);
exit(failed === 0 ? 0 : 1);
