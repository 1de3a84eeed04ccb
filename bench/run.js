// `npm run bench` — every workload of issue 3 against permits, its peers and two baselines.
//
//   node bench/run.js                      full run, table on stdout
//   node bench/run.js --quick              seconds: proves every adapter runs and limits
//   node bench/run.js --out bench/RESULTS.md --json bench/.tmp/results.json
//   node bench/run.js --only b,c --adapters permits,naive,es-toolkit --runs 3
//   node bench/run.js --from-json bench/.tmp/results.json --out bench/RESULTS.md   (re-render only)
//   node bench/run.js --set scheduling --runs 5   issue 12's cells instead (priority, fair share, FIFO path,
//                                                 the user-style hand-off); RESULTS.md "Scheduling (issue 12)"
//
// Each cell (workload × adapter × capacity) runs in a fresh `node --expose-gc` process
// (bench/cell.js), `--runs` times. Runs are interleaved — round 1 of every cell, then
// round 2 — so a burst of load on this shared machine spreads over all libraries instead
// of landing on one. Each cell first proves its limiter holds the limit; a cell that
// fails that check or crashes is reported as failed, never timed.

import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem, release, type as osType } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { parseArgs } from "node:util";
import { ADAPTERS } from "./adapters.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    only: { type: "string" },
    adapters: { type: "string" },
    out: { type: "string" },
    json: { type: "string" },
    parallel: { type: "string" },
    "from-json": { type: "string" },
    "slow-runs": { type: "string", default: "2" },
    set: { type: "string", default: "issue3" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (args.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n\n")[0] + "\n");
  process.exit(0);
}

const quick = args.quick;
// Quick mode divides every size by 100: small enough for seconds, big enough to queue.
const scale = quick ? 0.01 : 1;
const runs = Number(args.runs ?? (quick ? 1 : 5));
const parallel = Number(args.parallel ?? (quick ? 2 : 1));
const slowRuns = Number(args["slow-runs"]);
const size = (n) => Math.max(100, Math.round(n * scale));

const PEERS = ["p-limit", "p-queue", "async-sema", "async-mutex", "es-toolkit", "@shopify/semaphore"];
const HIGHER = "higher";
const LOWER = "lower";

/** The workloads of issue 3, each with the adapters that can express it. */
const WORKLOADS = [
  {
    id: "a",
    title: "(a) uncontended: sequential acquire/release (or run) pairs, capacity free",
    cap: 1,
    n: 1_000_000,
    unit: "ops/s",
    better: HIGHER,
    adapters: ["floor", "naive", "naive+permit", "permits", "permits run()", "permits limit()", ...PEERS],
  },
  ...[1, 4, 64].map((cap) => ({
    id: "b",
    title: `(b) contended hand-off: 200,000 tasks started at once, capacity ${cap}, body one microtask`,
    cap,
    n: 200_000,
    unit: "tasks/s",
    better: HIGHER,
    adapters: ["floor", "naive", "naive+permit", "permits", "permits run()", "permits limit()", ...PEERS],
  })),
  {
    id: "c",
    title: "(c) memory: heap bytes per queued waiter (no signal), 1,000,000 waiters",
    cap: 1,
    n: 1_000_000,
    unit: "B/waiter",
    better: LOWER,
    memory: true,
    adapters: ["naive", "permits", "permits limit()", ...PEERS],
  },
  ...[1_000_000, 10_000_000].map((n) => ({
    id: "d",
    title: `(d) cancellation: abort 100,000 waiters from the middle of a ${n.toLocaleString("en")}-long queue`,
    cap: 1,
    n,
    cancels: 100_000,
    unit: "ns/cancel",
    better: LOWER,
    memory: true,
    adapters: ["naive+signal", "permits", "p-queue"],
  })),
  {
    id: "e-weighted",
    title: "(e) weighted: 200,000 tasks with random weights 1–4 on capacity 8",
    cap: 8,
    n: 200_000,
    unit: "tasks/s",
    better: HIGHER,
    adapters: ["floor", "naive", "permits", "async-mutex"],
  },
  {
    id: "e-keyed",
    title: "(e) keyed: 200,000 tasks over 10,000 keys, capacity 2 per key",
    cap: 2,
    n: 200_000,
    keys: 10_000,
    unit: "tasks/s",
    better: HIGHER,
    adapters: ["floor", "naive", "permits", ...PEERS],
  },
  {
    id: "f",
    title: "(f) map() over 1,000,000 items at concurrency 16, body one microtask",
    cap: 16,
    n: 1_000_000,
    unit: "items/s",
    better: HIGHER,
    adapters: ["floor", "naive", "permits map()", "p-map", "p-limit .map"],
  },
];

// `--set scheduling`: the targets of issue 12 (priority, fair share, the FIFO path beside
// them, and the benchmark written the way users write one), in one run with the peers.
const FIFO = ["permits", "es-toolkit", "naive+permit", "linked-fifo"];
const SCHEDULING = [
  {
    id: "p",
    title: "(p) priority: 100,000 waiters with random priorities 0–99 queued behind a held permit (capacity 1), then drained",
    cap: 1,
    n: 100_000,
    unit: "waiters/s",
    better: HIGHER,
    adapters: ["permits priority", "permits FIFO drain", "naive priority", "p-queue"],
  },
  ...[1, 4, 64].map((cap) => ({
    id: "b",
    title: `(b) contended hand-off: 200,000 tasks started at once, capacity ${cap}, body one microtask`,
    cap,
    n: 200_000,
    unit: "tasks/s",
    better: HIGHER,
    adapters: [...FIFO, "permits priority", "naive", "naive priority"],
  })),
  ...[1, 4, 64].map((cap) => ({
    id: "u",
    title: `(u) written the way users write it: 200,000 tasks at once, capacity ${cap}, \`await null\` body; a fresh \`node\` per run (no --expose-gc, no warm-up)`,
    cap,
    n: 200_000,
    unit: "tasks/s",
    better: HIGHER,
    script: "user-style.js",
    adapters: ["permits", "es-toolkit", "linked-fifo"],
  })),
  {
    id: "s",
    title: "(s) fair share: tenants weighted 1:2:4, 16 workers each looping acquire → one macrotask → release, capacity 8, 70,000 grants",
    cap: 8,
    n: 70_000,
    workers: 16,
    unit: "Jain index",
    better: HIGHER,
    adapters: ["permits tenant"],
  },
  {
    id: "l",
    title: "(l) a light tenant (1 waiter at a time) beside a heavy one with 10,000 queued, capacity 4, each holding one macrotask: light p99 wait",
    cap: 4,
    n: 10_000,
    aloneOps: 2_000,
    unit: "ms",
    better: LOWER,
    adapters: ["permits tenant", "permits light alone", "permits light busy", "permits FIFO"],
  },
  {
    id: "c",
    title: "(c) memory: heap bytes per queued waiter (no signal), 200,000 waiters",
    cap: 1,
    n: 200_000,
    unit: "B/waiter",
    better: LOWER,
    memory: true,
    adapters: ["naive", "permits", "permits priority", "permits tenant"],
  },
];
const scheduling = args.set === "scheduling";
if (!["issue3", "scheduling"].includes(args.set)) throw new Error(`--set is issue3 or scheduling, got ${args.set}`);

const onlyWorkloads = args.only?.split(",");
const onlyAdapters = args.adapters?.split(",");
for (const a of onlyAdapters ?? []) if (!(a in ADAPTERS)) throw new Error(`unknown adapter ${a}`);

const cells = [];
for (const w of scheduling ? SCHEDULING : WORKLOADS) {
  if (onlyWorkloads && !onlyWorkloads.some((o) => w.id === o || w.id.startsWith(`${o}-`))) continue;
  for (const adapter of w.adapters) {
    if (onlyAdapters && !onlyAdapters.includes(adapter)) continue;
    // (c) divides by 10 only: a heap diff over fewer waiters drowns in GC noise.
    const n = w.id === "c" && quick ? Math.round(w.n / 10) : size(w.n);
    const spec = { workload: w.id, adapter, cap: w.cap, n, warmup: !quick };
    if (w.cancels !== undefined) spec.cancels = size(w.cancels);
    if (w.keys !== undefined) spec.keys = quick ? 100 : w.keys;
    if (w.workers !== undefined) spec.workers = w.workers;
    if (w.aloneOps !== undefined) spec.aloneOps = size(w.aloneOps);
    cells.push({ w, spec, samples: [], cpuSamples: [], loads: [], seconds: [], failures: [], limit: null, meta: null, extras: [] });
  }
}

/**
 * Runs a batch of cells in one fresh process: one cell per process in a full run; in quick
 * mode all cells of one adapter share a process, which saves start-ups and still proves
 * every adapter and workload (the numbers of a quick run mean nothing anyway).
 */
function runBatch(batch) {
  const flags = ["--expose-gc"];
  // 10,000,000 queued waiters need more than the default ~4 GB heap.
  if (batch.some((cell) => cell.w.memory)) flags.push("--max-old-space-size=16384");
  const specs = batch.map((cell) => cell.spec);
  // A cell written the way users write one (workload u) runs its own script, one cell per
  // process, with no flags at all: no --expose-gc, no warm-up, no limit check beforehand.
  const script = batch[0].w.script;
  const argv = script !== undefined
    ? [join(here, script), batch[0].spec.adapter, String(batch[0].spec.cap), String(batch[0].spec.n)]
    : [...flags, join(here, "cell.js"), JSON.stringify(specs.length === 1 ? specs[0] : specs)];
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, {
      cwd: root,
      env: { ...process.env, PERMITS_DIST: snapshot.url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => {
      const lines = out.split("\n").filter((l) => l.startsWith("RESULT ") || l.startsWith("ERROR "));
      batch.forEach((cell, i) => {
        const line = lines[i];
        if (line === undefined) {
          const last = err.trim().split("\n").filter((l) => /Error|heap/i.test(l)).pop();
          cell.failures.push((last ?? `process exited with ${code} before this cell`).slice(0, 200));
        } else if (line.startsWith("ERROR ")) {
          cell.failures.push(JSON.parse(line.slice("ERROR ".length)).error);
        } else {
          const result = JSON.parse(line.slice("RESULT ".length));
          cell.samples.push(result.value);
          cell.cpuSamples.push(result.cpu);
          cell.loads.push(loadavg()[0]);
          cell.seconds.push((performance.now() - t0) / 1000);
          cell.limit = result.limit;
          cell.meta = result;
          cell.extras.push(result.extra ?? {});
        }
      });
      resolve();
    });
  });
}

async function runAll() {
  const t0 = performance.now();
  const loads = [];
  for (let round = 0; round < runs; round++) {
    loads.push(loadavg()[0]);
    let batches;
    if (quick) {
      const byAdapter = new Map();
      for (const cell of cells) {
        if (cell.w.script !== undefined) continue;
        byAdapter.set(cell.spec.adapter, [...(byAdapter.get(cell.spec.adapter) ?? []), cell]);
      }
      batches = [...byAdapter.values(), ...cells.filter((cell) => cell.w.script !== undefined).map((cell) => [cell])];
    } else {
      // A peer's cell that takes over 15 s (async-mutex and @shopify/semaphore shift() a
      // 200,000-long array per wake-up in (b); p-queue splices its array per cancel in (d))
      // runs `--slow-runs` times: at 10–200× slower than the rest, more runs change nothing.
      // Rotated: round r starts each workload's adapters at the r-th, so no library always
      // runs first (or right after the same neighbour) in its group.
      batches = rotated(cells, round)
        .filter((cell) => ADAPTERS[cell.spec.adapter].kind !== "peer" || cell.samples.length < slowRuns || !cell.seconds.some((t) => t > 15))
        .map((cell) => [cell]);
    }
    const workers = Array.from({ length: parallel }, async () => {
      for (let batch = batches.shift(); batch !== undefined; batch = batches.shift()) {
        await runBatch(batch);
        if (!quick) process.stderr.write(".");
      }
    });
    await Promise.all(workers);
    if (!quick) process.stderr.write(` round ${round + 1}/${runs} done (load ${loadavg()[0].toFixed(2)})\n`);
    // Save after every round, so a long run that must be stopped still leaves its results.
    if (round < runs - 1) save([...loads, loadavg()[0]], (performance.now() - t0) / 1000);
  }
  loads.push(loadavg()[0]);
  return loads;
}

function rotated(list, round) {
  const byGroup = new Map();
  for (const cell of list) {
    const key = `${cell.w.id}|${cell.w.cap}|${cell.w.n}`;
    if (!byGroup.has(key)) byGroup.set(key, []);
    byGroup.get(key).push(cell);
  }
  return [...byGroup.values()].flatMap((g) => g.map((_, i) => g[(i + round) % g.length]));
}

// ---- Statistics and formatting. --------------------------------------------------------------

function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmt(x, unit) {
  if (x === undefined || !Number.isFinite(x)) return "—";
  if (unit === "B/waiter") return x.toFixed(0);
  if (unit === "ns/cancel") return x.toFixed(0);
  if (unit === "Jain index") return x.toFixed(4);
  if (unit === "ms") return x.toFixed(3);
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(0)}k`;
  return x.toFixed(0);
}

const ratio = (x) => (x === undefined || !Number.isFinite(x) ? "—" : `${x.toFixed(2)}×`);

function versionOf(pkg) {
  try {
    return JSON.parse(readFileSync(join(root, "node_modules", pkg, "package.json"), "utf8")).version;
  } catch {
    return "?";
  }
}

function stat(cell, kind = "wall") {
  const xs = kind === "cpu" ? cell?.cpuSamples : cell?.samples;
  return xs !== undefined && xs.length > 0 ? median(xs) : undefined;
}

/** Group cells by workload instance (same id, cap and n). */
function groups() {
  const byKey = new Map();
  for (const cell of cells) {
    const key = `${cell.w.id}|${cell.w.cap}|${cell.w.n}`;
    if (!byKey.has(key)) byKey.set(key, { w: cell.w, cells: [] });
    byKey.get(key).cells.push(cell);
  }
  return [...byKey.values()];
}

/** "How far ahead permits is": > 1 means permits is better, whichever direction is better. */
function ahead(w, permits, other) {
  if (permits === undefined || other === undefined) return undefined;
  return w.better === HIGHER ? permits / other : other / permits;
}

function primaryPermits(w) {
  if (w.id === "f") return "permits map()";
  if (w.id === "p") return "permits priority";
  if (w.id === "s" || w.id === "l") return "permits tenant";
  return "permits";
}

function table(g) {
  const { w } = g;
  const find = (name) => g.cells.find((c) => c.spec.adapter === name);
  const floor = stat(find("floor"));
  const naive = stat(find("naive") ?? find("naive+signal"));
  const permits = stat(find(primaryPermits(w)));
  const lines = [
    `### ${w.title}`,
    "",
    `| adapter | median ${w.unit} | min–max | runs | CPU-time based | max concurrency / cap | × floor | × naive | ${primaryPermits(w)} ahead by |`,
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const c of g.cells) {
    const m = stat(c);
    const name = c.meta?.length !== undefined && c.meta.length !== c.spec.n
      ? `${c.spec.adapter} (at 1/10: ${c.meta.cancels.toLocaleString("en")} of ${c.meta.length.toLocaleString("en")})`
      : c.spec.adapter;
    if (m === undefined) {
      lines.push(`| ${name} | FAILED: ${c.failures[0] ?? "no result"} | | | | | | | |`);
      continue;
    }
    const range = c.samples.length > 1 ? `${fmt(Math.min(...c.samples), w.unit)}–${fmt(Math.max(...c.samples), w.unit)}` : "";
    const lim = c.limit === null ? "unlimited" : `${c.limit.max} / ${c.limit.expected}`;
    const vsFloor = w.better === HIGHER && floor !== undefined ? m / floor : undefined;
    const vsNaive = naive !== undefined ? m / naive : undefined;
    const isPermits = c.spec.adapter === primaryPermits(w);
    lines.push(
      `| ${name} | ${fmt(m, w.unit)} | ${range} | ${c.samples.length} | ${w.memory && w.id === "c" ? "" : fmt(stat(c, "cpu"), w.unit)} | ${lim} | ${ratio(vsFloor)} | ${ratio(vsNaive)} | ${isPermits ? "" : ratio(ahead(w, permits, m))} |`,
    );
  }
  lines.push("");
  return lines.join("\n");
}

/** The targets of issue 3, each as measured in this run. */
function targets(kind) {
  const all = groups();
  const get = (id, cap, name, n) => {
    const g = all.find((x) => x.w.id === id && (cap === undefined || x.w.cap === cap) && (n === undefined || x.w.n === n));
    return g && stat(g.cells.find((c) => c.spec.adapter === name), kind);
  };
  const fastestPeer = (id, cap) => {
    let best;
    for (const p of PEERS) {
      const v = get(id, cap, p);
      if (v !== undefined && (best === undefined || v > best.v)) best = { p, v };
    }
    return best;
  };
  const rows = [];
  const row = (target, measured, pass) => rows.push({ target, measured, verdict: pass === undefined ? "—" : pass ? "met" : "**missed**" });
  {
    const p = get("a", 1, "permits");
    const f = fastestPeer("a", 1);
    const r = f && p !== undefined ? p / f.v : undefined;
    row("(a) permits ≥ fastest peer", `${ratio(r)} ${f?.p ?? ""}`, r && r >= 1);
    const run = get("a", 1, "permits run()");
    const rr = f && run !== undefined ? run / f.v : undefined;
    row("(a) permits run() ≥ fastest peer", `${ratio(rr)} ${f?.p ?? ""}`, rr && rr >= 1);
    // Why acquire() cannot get there: a fresh permit per acquisition, resolved as an object.
    const shape = get("a", 1, "naive+permit");
    const fs = f && shape !== undefined ? shape / f.v : undefined;
    row("(a) naive+permit (the floor of acquire() resolving a permit) ÷ fastest peer", `${ratio(fs)} ${f?.p ?? ""}`, undefined);
    const ps = p !== undefined && shape !== undefined ? p / shape : undefined;
    row("(a) permits ÷ naive+permit", ratio(ps), undefined);
  }
  for (const cap of [1, 4, 64]) {
    const p = get("b", cap, "permits");
    const f = fastestPeer("b", cap);
    const n = get("b", cap, "naive");
    const l = get("b", cap, "permits limit()");
    const pl = get("b", cap, "p-limit");
    const r1 = f && p !== undefined ? p / f.v : undefined;
    row(`(b) cap ${cap}: permits ≥ 1.3× fastest peer`, `${ratio(r1)} ${f?.p ?? ""}`, r1 && r1 >= 1.3);
    const r2 = p !== undefined && n !== undefined ? p / n : undefined;
    row(`(b) cap ${cap}: permits ≥ 0.95× naive`, ratio(r2), r2 && r2 >= 0.95);
    const r3 = l !== undefined && pl !== undefined ? l / pl : undefined;
    row(`(b) cap ${cap}: limit() ≥ 2× p-limit`, ratio(r3), r3 && r3 >= 2);
    const shape = get("b", cap, "naive+permit");
    const r4 = p !== undefined && shape !== undefined ? p / shape : undefined;
    row(`(b) cap ${cap}: permits ÷ naive+permit (the same FIFO resolving a permit object)`, ratio(r4), undefined);
  }
  {
    const b = get("c", 1, "permits");
    row("(c) permits ≤ 250 B per waiter (no signal)", b === undefined ? "—" : `${b.toFixed(0)} B`, b !== undefined && b <= 250);
  }
  {
    const small = get("d", 1, "permits", 1_000_000);
    const big = get("d", 1, "permits", 10_000_000);
    const nSmall = get("d", 1, "naive+signal", 1_000_000);
    const nBig = get("d", 1, "naive+signal", 10_000_000);
    // O(1) shows as the same growth as the naive doubly linked list's: both pay the larger
    // heap's GC at 10×; an O(n) removal (p-queue) grows 10× or more.
    const flat = small !== undefined && big !== undefined ? big / small : undefined;
    const nflat = nSmall !== undefined && nBig !== undefined ? nBig / nSmall : undefined;
    const rel = flat !== undefined && nflat !== undefined ? flat / nflat : undefined;
    row("(d) permits ns/cancel at 10× queue ÷ at 1×", ratio(flat), undefined);
    row("(d) naive+signal ns/cancel at 10× queue ÷ at 1× (same GC growth, O(1))", ratio(nflat), undefined);
    row("(d) permits flat (O(1)): its growth ÷ naive+signal's growth ≤ 1.2", ratio(rel), rel !== undefined && rel <= 1.2);
    const r1 = small !== undefined && nSmall !== undefined ? small / nSmall : undefined;
    const r2 = big !== undefined && nBig !== undefined ? big / nBig : undefined;
    row("(d) permits ≤ 1.2× naive+signal, 1,000,000 queue", ratio(r1), r1 !== undefined && r1 <= 1.2);
    row("(d) permits ≤ 1.2× naive+signal, 10,000,000 queue", ratio(r2), r2 !== undefined && r2 <= 1.2);
  }
  {
    const p = get("f", 16, "permits map()");
    const m = get("f", 16, "p-map");
    const r = p !== undefined && m !== undefined ? p / m : undefined;
    row("(f) permits map() ≥ 1.5× p-map", ratio(r), r && r >= 1.5);
  }
  return rows;
}

/** Median of one number in each run's `extra` of a cell. */
function extraMedian(cell, pick) {
  const xs = (cell?.extras ?? []).map(pick).filter((x) => typeof x === "number" && Number.isFinite(x));
  return xs.length > 0 ? median(xs) : undefined;
}

/** The targets of issue 12 (in-process), each as measured in this run. */
function schedulingTargets(kind) {
  const all = groups();
  const cellOf = (id, cap, name) => all.find((x) => x.w.id === id && (cap === undefined || x.w.cap === cap))?.cells.find((c) => c.spec.adapter === name);
  const get = (id, cap, name) => stat(cellOf(id, cap, name), kind);
  const div = (a, b) => (a !== undefined && b !== undefined ? a / b : undefined);
  const rows = [];
  const row = (target, measured, pass) => rows.push({ target, measured, verdict: pass === undefined ? "—" : pass ? "met" : "**missed**" });
  {
    const r = div(get("p", 1, "permits priority"), get("p", 1, "p-queue"));
    row("(p) priority enqueue + drain: permits ≥ 10× p-queue", ratio(r), r !== undefined && r >= 10);
    const e = div(extraMedian(cellOf("p", 1, "permits priority"), (x) => x.enqueuePerSecond), extraMedian(cellOf("p", 1, "p-queue"), (x) => x.enqueuePerSecond));
    row("(p) enqueue phase only (p-queue's O(n) insertion): permits ÷ p-queue", ratio(e), undefined);
    const d = div(extraMedian(cellOf("p", 1, "permits priority"), (x) => x.drainPerSecond), extraMedian(cellOf("p", 1, "p-queue"), (x) => x.drainPerSecond));
    row("(p) drain phase only: permits ÷ p-queue", ratio(d), undefined);
    const f = div(get("p", 1, "permits priority"), get("p", 1, "permits FIFO drain"));
    row("(p) the same drain: priority ÷ plain FIFO permits", ratio(f), undefined);
    const n = div(get("p", 1, "naive priority"), get("p", 1, "p-queue"));
    row("(p) the floor of the first ratio: naive bucket queue by priority ÷ p-queue", ratio(n), undefined);
    const m = div(get("p", 1, "permits priority"), get("p", 1, "naive priority"));
    row("(p) permits priority ÷ that floor", ratio(m), undefined);
  }
  for (const cap of [1, 4, 64]) {
    const r = div(get("b", cap, "permits priority"), get("b", cap, "permits"));
    row(`(b) cap ${cap}: hand-off with random priorities ≥ 0.8× FIFO permits`, ratio(r), r !== undefined && r >= 0.8);
    const f = div(get("b", cap, "naive priority"), get("b", cap, "naive"));
    row(`(b) cap ${cap}: the floor of that ratio: naive bucket queue by priority ÷ naive FIFO`, ratio(f), undefined);
  }
  {
    const c = cellOf("s", 8, "permits tenant");
    const worst = extraMedian(c, (x) => Math.abs(x.worst));
    row("(s) 1:2:4 shares within ±5 % of 1/7, 2/7, 4/7 (worst tenant's relative deviation)", worst === undefined ? "—" : `${(worst * 100).toFixed(2)} %`, worst !== undefined && worst <= 0.05);
    const shares = ["w1", "w2", "w4"].map((t) => extraMedian(c, (x) => x.shares?.[t]?.share));
    row("(s) shares achieved (median per tenant)", shares.map((x) => (x === undefined ? "—" : x.toFixed(4))).join(" : "), undefined);
    const j = get("s", 8, "permits tenant");
    row("(s) Jain's index on weight-normalised throughput ≥ 0.99", j === undefined ? "—" : j.toFixed(4), j !== undefined && j >= 0.99);
  }
  {
    const fair = cellOf("l", 4, "permits tenant");
    const alone = cellOf("l", 4, "permits light alone");
    const ms = (x) => (x === undefined ? "—" : `${x.toFixed(3)} ms`);
    const w = div(get("l", 4, "permits tenant"), get("l", 4, "permits light alone"));
    row("(l) light tenant's p99 wait beside 10,000 heavy ÷ its p99 wait alone ≤ 2×", `${ratio(w)} (${ms(get("l", 4, "permits tenant"))} ÷ ${ms(get("l", 4, "permits light alone"))})`, w !== undefined && w <= 2);
    const tf = extraMedian(fair, (x) => x.turnP99);
    const ta = extraMedian(alone, (x) => x.turnP99);
    const t = div(tf, ta);
    row("(l) the same on its turn (acquire → release, the wait plus its own macrotask of work)", `${ratio(t)} (${ms(tf)} ÷ ${ms(ta)})`, undefined);
    const fl = div(get("l", 4, "permits tenant"), get("l", 4, "permits light busy"));
    row("(l) the floor: its p99 wait beside a full capacity with nobody else queued (it can only get the next release); beside the 10,000 ÷ that", `${ratio(fl)} (${ms(get("l", 4, "permits tenant"))} ÷ ${ms(get("l", 4, "permits light busy"))})`, undefined);
    row("(l) shared FIFO (no tenants): the light waiter's wait behind the 10,000", ms(get("l", 4, "permits FIFO")), undefined);
    row("(l) light operations served while the heavy queue drained", String(extraMedian(fair, (x) => x.ops) ?? "—"), undefined);
  }
  {
    const b = (name) => get("c", 1, name);
    const fmtB = (x) => (x === undefined ? "—" : `${x.toFixed(0)} B`);
    row("(c) plain FIFO waiter stays at 224 B", fmtB(b("permits")), b("permits") !== undefined && b("permits") <= 224.5);
    row("(c) waiter with a priority ≤ 300 B", fmtB(b("permits priority")), b("permits priority") !== undefined && b("permits priority") <= 300);
    row("(c) waiter with a tenant ≤ 300 B", fmtB(b("permits tenant")), b("permits tenant") !== undefined && b("permits tenant") <= 300);
  }
  for (const cap of [1, 4, 64]) {
    const r1 = div(get("b", cap, "permits"), get("b", cap, "es-toolkit"));
    row(`(b) cap ${cap}: permits ≥ 1.0× es-toolkit`, ratio(r1), r1 !== undefined && r1 >= 1);
    const r2 = div(get("b", cap, "permits"), get("b", cap, "naive+permit"));
    row(`(b) cap ${cap}: permits ≥ 0.85× naive+permit`, ratio(r2), r2 !== undefined && r2 >= 0.85);
  }
  for (const cap of [1, 4, 64]) {
    const r1 = div(get("u", cap, "permits"), get("u", cap, "es-toolkit"));
    row(`(u) cap ${cap}: user-style, permits ≥ 1.0× es-toolkit`, ratio(r1), r1 !== undefined && r1 >= 1);
    const r2 = div(get("u", cap, "permits"), get("u", cap, "linked-fifo"));
    row(`(u) cap ${cap}: user-style, permits ÷ bare linked FIFO`, ratio(r2), undefined);
  }
  return rows;
}

/** Which core was measured: the commit, and whether src/ had uncommitted changes when built. */
function sourceState() {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = (path) => execFileSync("git", ["status", "--porcelain", "--", path], { cwd: root, encoding: "utf8" }).trim() !== "";
    if (dirty("src/core")) return `commit ${head} with uncommitted changes in src/core/`;
    return `commit ${head}, src/core/ as committed${dirty("src") ? " (uncommitted work elsewhere in src/)" : ""}`;
  } catch {
    return "commit unknown";
  }
}

function report(loads, started, seconds) {
  const cpu = cpus();
  const peers = [...PEERS, "p-map"].map((p) => `${p} ${versionOf(p)}`).join(", ");
  const head = [
    `# permits benchmark${scheduling ? ": scheduling (issue 12)" : ""}${quick ? " (quick mode: sizes ÷100, 1 run — proves the harness, not speed)" : ""}`,
    "",
    `- Command: \`npm run bench${argv.length > 0 ? ` -- ${argv.join(" ")}` : ""}\` (builds, then \`node bench/run.js\`), started ${started.toISOString()}, took ${seconds.toFixed(0)} s`,
    `- Machine: ${cpu.length} × ${cpu[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${osType()} ${release()}`,
    `- Node ${process.version} (V8 ${process.versions.v8}); each cell in a fresh \`node --expose-gc\` process${scheduling ? " (the (u) cells: a fresh `node` with no flags, bench/user-style.js)" : ""}, up to ${runsDone} run(s) per cell (see "runs"), interleaved and rotated`,
    `- permits ${versionOf("../")} (built dist/ of ${source}), peers: ${peers}`,
    `- 1-minute load average at the start of each round and at the end: ${loads.map((l) => l.toFixed(2)).join(", ")} (${cpu.length} cores shared with other work: see min–max for the noise)`,
    "- Ratios: × floor and × naive are this row ÷ the baseline (for ops/s higher is better; for B and ns lower is better).",
    "  \"ahead by\" is > 1 when permits is better than that row, whichever direction is better.",
    "- naive+permit is the naive FIFO resolving a fresh permit object per acquisition, as `permits` must (for `using` and a",
    "  harmless second release): the floor of that shape. Where the missed targets' time goes: [PROFILES.md](PROFILES.md)",
    "  (`npm run bench:profile`).",
    "",
    "## Targets",
    "",
    "Measured on wall time (the headline) and, as a cross-check on a shared machine, on the",
    "CPU time of the same runs (user + system of the cell process, GC threads included).",
    "",
    `| target (issue ${scheduling ? 12 : 3}) | wall time | | CPU time | |`,
    "|---|---:|---|---:|---|",
    ...(scheduling ? schedulingTargets : targets)("wall").map((row, i) => {
      const cpuRow = (scheduling ? schedulingTargets : targets)("cpu")[i];
      return `| ${row.target} | ${row.measured} | ${row.verdict} | ${cpuRow.measured} | ${cpuRow.verdict} |`;
    }),
    "",
    "## Results",
    "",
  ].join("\n");
  return head + groups().map(table).join("\n");
}

// Every cell measures the same build: a copy of dist/ taken now (see adapters.js).
const snapshot = { dir: join(here, ".tmp", `dist-${process.pid}`), url: "" };
if (args["from-json"] === undefined) {
  if (!existsSync(join(root, "dist", "index.js"))) throw new Error("dist/index.js is missing: run `npm run build` (npm run bench does)");
  cpSync(join(root, "dist"), snapshot.dir, { recursive: true });
  snapshot.url = pathToFileURL(join(snapshot.dir, "index.js")).href;
  process.on("exit", () => rmSync(snapshot.dir, { recursive: true, force: true }));
}

let started = new Date();
let source = sourceState();
let runsDone = runs;
// The arguments that shape the measurement (not where the output goes), for the report.
let argv = process.argv.slice(2).filter((a, i, all) => !["--out", "--json", "--from-json"].includes(a) && !["--out", "--json", "--from-json"].includes(all[i - 1] ?? ""));
let loads;
let seconds;
if (args["from-json"] === undefined) {
  const t0 = performance.now();
  loads = await runAll();
  seconds = (performance.now() - t0) / 1000;
} else {
  // Re-render a saved run (after a fix to the report, or to merge nothing new in).
  const saved = JSON.parse(readFileSync(args["from-json"], "utf8"));
  ({ loads, seconds, source } = saved);
  runsDone = saved.runs;
  argv = saved.argv ?? [];
  started = new Date(saved.started);
  for (const cell of cells) {
    const s = saved.cells.find((c) => c.workload === cell.spec.workload && c.adapter === cell.spec.adapter && c.cap === cell.spec.cap && c.n === cell.spec.n);
    if (s === undefined) continue;
    Object.assign(cell, { samples: s.samples, cpuSamples: s.cpu, loads: s.loads, seconds: s.seconds, failures: s.failures, limit: s.limit, meta: s.meta });
  }
}
process.stdout.write(save(loads, seconds));
const failed = cells.filter((c) => c.failures.length > 0);
if (failed.length > 0) {
  process.stderr.write(`\n${failed.length} cell(s) failed: ${failed.map((c) => `${c.spec.workload}/${c.spec.adapter}`).join(", ")}\n`);
  process.exitCode = 1;
}

function save(loadsSoFar, secondsSoFar) {
  const md = report(loadsSoFar, started, secondsSoFar);
  if (args.out !== undefined) writeFileSync(args.out, md);
  if (args.json !== undefined) {
    mkdirSync(dirname(args.json), { recursive: true });
    const data = cells.map((c) => ({
      ...c.spec,
      title: c.w.title,
      unit: c.w.unit,
      samples: c.samples,
      cpu: c.cpuSamples,
      loads: c.loads,
      seconds: c.seconds,
      failures: c.failures,
      limit: c.limit,
      meta: c.meta,
    }));
    const saved = { quick, runs, argv, started, seconds: secondsSoFar, source, loads: loadsSoFar, cells: data };
    writeFileSync(args.json, JSON.stringify(saved, null, 2));
  }
  return md;
}
