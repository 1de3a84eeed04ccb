// Size budgets of the core: what a bundler adds to an app that imports
// `permit-pool`, bundled by esbuild, minified, then gzip-compressed (level 9,
// node:zlib). Two figures, each with its budget; exits non-zero above either:
// - the everyday set, `Semaphore`, `Lock`, `limit` and `RateLimiter` (what
//   most apps import; the package has no side effects, so a bundler drops
//   the rest): 8 kB;
// - the whole entry, every export (AdaptiveSemaphore's three algorithms
//   included, which issue 13 puts in the core entry): 12 kB.
//
//   node scripts/size.mjs            check the core against the budget
//   node scripts/size.mjs --all      also print (not check) every other subpath export
//
// Budget: 7 kB (7168 bytes) min+gzip for `permits` (5.67 kB when set, with
// RateLimiter; the first cut without it was 3 kB). p-limit is ~1 kB and
// p-queue ~4 kB; we carry more (weights, abort/timeout, close, Lock, map,
// KeyedSemaphore, RateLimiter, errors, diagnostics channels) but a concurrency
// primitive that costs more than a small UI component would not be chosen for
// the browser. Raise it only with a reason in the commit message. (The whole
// entry was budgeted at 7 kB until AdaptiveSemaphore came in at 2.5 kB; the
// everyday set kept that budget until the scheduler of issue 12 —
// priorities, aging, weighted fair share and per-tenant stats, which every
// Semaphore must offer — came in at 2.1 kB: 7 → 8 kB and 10 → 12 kB.)
/* global console, process */
import { existsSync } from "node:fs";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { build } from "esbuild";

const BUDGET_BYTES = 8 * 1024;
const WHOLE_BUDGET_BYTES = 12 * 1024;
const EVERYDAY = ["Semaphore", "Lock", "limit", "RateLimiter"];
const root = new URL("../", import.meta.url);

/** @param {string} entry @param {string[]} [names] only these exports (tree-shaken) */
async function measure(entry, names) {
  const path = new URL(entry, root).pathname;
  const result = await build({
    ...(names === undefined
      ? { entryPoints: [path] }
      : {
          stdin: {
            contents: `export { ${names.join(", ")} } from ${JSON.stringify(`./${path.split("/").pop()}`)};`,
            resolveDir: new URL(".", new URL(entry, root)).pathname,
          },
        }),
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

const everyday = await measure("dist/index.js", EVERYDAY);
const whole = await measure("dist/index.js");
const within = everyday.gzip <= BUDGET_BYTES && whole.gzip <= WHOLE_BUDGET_BYTES;
const line = (what, s, budget) =>
  `${what} ${kb(s.min)} min, ${kb(s.gzip)} min+gzip (${s.gzip} B), ${kb(s.brotli)} min+brotli — budget ${kb(budget)} gzip: ${s.gzip <= budget ? "ok" : "OVER BUDGET"}`;
console.log(`size: ${line(`permit-pool { ${EVERYDAY.join(", ")} }`, everyday, BUDGET_BYTES)}`);
console.log(`size: ${line("permit-pool (every export)", whole, WHOLE_BUDGET_BYTES)}`);

if (process.argv.includes("--all")) {
  for (const sub of ["http", "redis", "otel"]) {
    const file = `dist/${sub}/index.js`;
    if (!existsSync(new URL(file, root))) continue;
    const s = await measure(file);
    console.log(`size: permit-pool/${sub} ${kb(s.min)} min, ${kb(s.gzip)} min+gzip (includes the core parts it imports; not budgeted)`);
  }
}

process.exit(within ? 0 : 1);
