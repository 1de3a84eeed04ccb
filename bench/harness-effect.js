// Why does "permits ÷ es-toolkit" on the 200,000-task hand-off depend on the harness?
// (issue 12). Runs the same measurement several ways, each in a fresh process, libraries
// rotated per repetition, and prints per way the median tasks/s on wall and CPU time, the
// scavenge pause summed from --trace-gc, and the ratios:
//   node bench/harness-effect.js [--reps 5] [--cap 4]
// Ways: bench/user-style.js with no flags (as a user runs it), with --expose-gc, with
// --single-threaded-gc (no parallel scavenger), and bench/cell.js (the harness of
// `npm run bench`: --expose-gc, a limit check, a warm-up at 1/10 size, a full GC, then
// timed; its body is an async function awaiting a resolved promise).
// npm run build first: it measures dist/.

import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({ options: { reps: { type: "string", default: "5" }, cap: { type: "string", default: "4" } } });
const reps = Number(args.reps);
const cap = Number(args.cap);
const N = 200_000;
const LIBS = ["permits", "es-toolkit", "linked-fifo"];
const WAYS = [
  { name: "user-style, no flags", flags: [] },
  { name: "user-style, --expose-gc", flags: ["--expose-gc"] },
  { name: "user-style, --single-threaded-gc", flags: ["--single-threaded-gc"] },
  { name: "harness (bench/cell.js)", cell: true },
];

function once(way, lib) {
  const argv = way.cell
    ? ["--trace-gc", "--expose-gc", join(here, "cell.js"), JSON.stringify({ workload: "b", adapter: lib, cap, n: N })]
    : ["--trace-gc", ...way.flags, join(here, "user-style.js"), lib, String(cap), String(N)];
  const out = spawnSync(process.execPath, argv, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }).stdout;
  const line = out.split("\n").find((l) => l.startsWith("RESULT "));
  if (line === undefined) throw new Error(`${way.name} ${lib}: no result`);
  const result = JSON.parse(line.slice("RESULT ".length));
  // The harness's scavenges include its limit check and warm-up: read its figure as an upper bound.
  const scavenge = [...out.matchAll(/Scavenge [^,]*MB, ([0-9.]+) \//g)].reduce((s, m) => s + Number(m[1]), 0);
  return { wall: result.value, cpu: result.cpu, scavenge };
}

const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const samples = new Map();
for (let r = 0; r < reps; r++) {
  for (const way of WAYS) {
    const order = [...LIBS.slice(r % LIBS.length), ...LIBS.slice(0, r % LIBS.length)];
    for (const lib of order) {
      const key = `${way.name}|${lib}`;
      if (!samples.has(key)) samples.set(key, []);
      samples.get(key).push(once(way, lib));
    }
  }
  process.stderr.write(`repetition ${r + 1}/${reps}\n`);
}

const m = (way, lib, k) => median(samples.get(`${way.name}|${lib}`).map((s) => s[k]));
const k = (x) => `${(x / 1e3).toFixed(0)}k`;
const lines = [
  `capacity ${cap}, ${N.toLocaleString("en")} tasks, ${reps} rotated repetitions per cell, medians; node ${process.version}`,
  "",
  "| way | permits wall / CPU | es-toolkit wall / CPU | linked-fifo wall / CPU | scavenge ms permits / es-toolkit / linked | permits ÷ es-toolkit wall / CPU | permits ÷ linked wall / CPU |",
  "|---|---:|---:|---:|---:|---:|---:|",
];
for (const way of WAYS) {
  const cell = (lib) => `${k(m(way, lib, "wall"))} / ${k(m(way, lib, "cpu"))}`;
  const sc = LIBS.map((lib) => m(way, lib, "scavenge").toFixed(0)).join(" / ");
  const r = (lib, key) => (m(way, "permits", key) / m(way, lib, key)).toFixed(2);
  lines.push(
    `| ${way.name} | ${cell("permits")} | ${cell("es-toolkit")} | ${cell("linked-fifo")} | ${sc} | ${r("es-toolkit", "wall")}× / ${r("es-toolkit", "cpu")}× | ${r("linked-fifo", "wall")}× / ${r("linked-fifo", "cpu")}× |`,
  );
}
process.stdout.write(`${lines.join("\n")}\n`);
