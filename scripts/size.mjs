// Size budget of the core: what a bundler adds to an app that imports
// `permits` — dist/index.js and everything it imports, bundled by esbuild,
// minified, then gzip-compressed (level 9, node:zlib). Prints the figure and
// exits non-zero above the budget.
//
//   node scripts/size.mjs            check the core against the budget
//   node scripts/size.mjs --all      also print (not check) every other subpath export
//
// Budget: 7 kB (7168 bytes) min+gzip for `permits` (5.67 kB when set, with
// RateLimiter; the first cut without it was 3 kB). p-limit is ~1 kB and
// p-queue ~4 kB; we carry more (weights, abort/timeout, close, Lock, map,
// KeyedSemaphore, RateLimiter, errors, diagnostics channels) but a concurrency
// primitive that costs more than a small UI component would not be chosen for
// the browser. Raise it only with a reason in the commit message.
/* global console, process */
import { existsSync } from "node:fs";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { build } from "esbuild";

const BUDGET_BYTES = 7 * 1024;
const root = new URL("../", import.meta.url);

/** @param {string} entry */
async function measure(entry) {
  const result = await build({
    entryPoints: [new URL(entry, root).pathname],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    write: false,
    logLevel: "silent",
    // Subpaths may import their peers (undici, @opentelemetry/api); only our own code is measured.
    packages: "external",
  });
  const code = result.outputFiles[0]?.contents ?? new Uint8Array();
  return {
    min: code.byteLength,
    gzip: gzipSync(code, { level: 9 }).byteLength,
    brotli: brotliCompressSync(code, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).byteLength,
  };
}

/** @param {number} n */
const kb = (n) => `${(n / 1024).toFixed(2)} kB`;

if (!existsSync(new URL("dist/index.js", root))) {
  console.error("size: dist/index.js is missing — run npm run build first");
  process.exit(1);
}

const core = await measure("dist/index.js");
const within = core.gzip <= BUDGET_BYTES;
console.log(
  `size: permits (core) ${kb(core.min)} min, ${kb(core.gzip)} min+gzip (${core.gzip} B), ${kb(core.brotli)} min+brotli — budget ${kb(BUDGET_BYTES)} gzip: ${within ? "ok" : "OVER BUDGET"}`,
);

if (process.argv.includes("--all")) {
  for (const sub of ["http", "redis", "otel"]) {
    const file = `dist/${sub}/index.js`;
    if (!existsSync(new URL(file, root))) continue;
    const s = await measure(file);
    console.log(`size: permits/${sub} ${kb(s.min)} min, ${kb(s.gzip)} min+gzip (includes the core parts it imports; not budgeted)`);
  }
}

process.exit(within ? 0 : 1);
