/* global process, console, performance */ // Node globals: this is a Node script
// `npm run bench:adaptive` — issue 13's measured targets for AdaptiveSemaphore.
//
//   node bench/adaptive/run.js                    everything: simulation, real time, cost; SVGs to docs/
//   node bench/adaptive/run.js --out bench/RESULTS-adaptive.md
//   node bench/adaptive/run.js --strict           exit 1 if an asserted check fails (default: always 0)
//   node bench/adaptive/run.js --quick --no-real --no-cost --svg-dir /tmp/x --json /tmp/x/r.json
//                                                 seconds: short phases (the smoke test)
//   node bench/adaptive/run.js --only gradient2,static-10,netflix-gradient2   fewer controllers
//
// 1. Simulation on virtual time (model.js): a processor-sharing server with a
//    no-load latency of 100 ms, a knee at K = 10 in flight and 503s above 12,
//    a closed-loop load of 300 clients (always work queued), and three phases
//    of 60 s: capacity 10, then 3 (503s above 4), then 10 again. Every
//    controller — ours (gradient2, vegas, aimd), static limits 2/10/50, the
//    Netflix rules (netflix.js) — runs the same phases on its own server.
//    Then the creep case (PR #134: the knee server without 503s, 11 minutes)
//    and the drift case (the same with ±30 % service-time noise: Netflix#37,
//    #165). Deterministic: the same figures on every run and machine.
// 2. The capacity scenario in real time against a loopback HTTP server
//    (real.js), shorter phases, fewer checks.
// 3. The controller's cost per permit (cost.js).
//
// Targets are the issue's ranges, asserted for the default algorithm
// (gradient2); vegas and aimd are measured against the same ranges and
// marked, but not asserted (see RESULTS-adaptive.md for why they cannot meet
// some by design). Comparisons: each of ours against its Netflix peer,
// "better or equal" on every figure (goodput: within 1 %).

import { writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { controllerCost } from "./cost.js";
import { realTime } from "./real.js";
import {
  BASE,
  CONTROLLERS,
  deferredShare,
  firstTime,
  KNEE,
  limitAt,
  NETFLIX,
  OURS,
  PEER,
  percentile,
  settleTime,
  simulate,
  STATIC,
  successes,
  windowsBetween,
} from "./sim.js";
import { chart } from "./svg.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");

const { values: args } = parseArgs({
  options: {
    strict: { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    "no-real": { type: "boolean", default: false },
    "no-cost": { type: "boolean", default: false },
    "no-svg": { type: "boolean", default: false },
    "svg-dir": { type: "string" },
    out: { type: "string" },
    json: { type: "string" },
    only: { type: "string" },
  },
});

const quick = args.quick;
const S = quick ? 10_000 : 60_000; // phase length (ms)
const LONG = quick ? 60_000 : 600_000; // creep and drift: after the first minute (quick: 10 s)
const SETTLE = quick ? 10_000 : 60_000;
const names = args.only ? args.only.split(",") : [...OURS, ...STATIC, ...NETFLIX];
for (const name of names) if (!(name in CONTROLLERS)) throw new RangeError(`--only: unknown controller ${name}`);
const has = (name) => names.includes(name);

const checks = [];
/** Records a check: `asserted` ones count for --strict. */
function check(section, name, figure, target, pass, asserted = true) {
  checks.push({ section, name, figure, target, pass, asserted });
  const mark = pass ? "PASS" : asserted ? "FAIL" : "MISS (not asserted)";
  console.log(`${mark.padEnd(20)} ${section} · ${name}: ${figure} (target ${target})`);
}

const ms = (v) => (v === undefined || Number.isNaN(v) ? "—" : `${Math.round(v)} ms`);
const sec = (v) => (v === undefined || v === Infinity ? "never" : `${(v / 1000).toFixed(2)} s`);
const pct = (v) => `${(v * 100).toFixed(2)} %`;
const rate = (v) => `${v.toFixed(1)}/s`;

// --- 1. Simulation: capacity 10 → 3 → 10 --------------------------------------------------
const phases = [
  { until: S, capacity: 10 },
  { until: 2 * S, capacity: 3 },
  { until: 3 * S, capacity: 10 },
];
const PH = [
  ["steady (K = 10)", 0, S],
  ["capacity 3", S, 2 * S],
  ["restored (K = 10)", 2 * S, 3 * S],
];
const inRange = (limit) => limit >= 0.85 * KNEE && limit <= 1.2 * KNEE;

console.log(`# simulation: ${names.join(", ")}; phases of ${S / 1000} s`);
const runs = {};
const figures = {};
for (const name of names) {
  const t0 = performance.now();
  const run = await simulate(name, phases);
  runs[name] = run;
  const conv = firstTime(run, 0, S, inRange);
  const steadyFrom = conv ?? S / 6;
  const steady = successes(run, steadyFrom, S);
  const down = firstTime(run, S, 2 * S, (l) => l <= 4);
  const up = firstTime(run, 2 * S, 3 * S, (l) => l >= 9);
  const windowed = run.windowTimes.length > 0;
  const settled = (from, until, test) => {
    const t = settleTime(run, from, until, test);
    return t === undefined ? undefined : t - from;
  };
  figures[name] = {
    settle: settled(0, S, inRange),
    settleDown: settled(S, 2 * S, (l) => l <= 4),
    settleUp: settled(2 * S, 3 * S, (l) => l >= 9),
    conv,
    convWindows: windowed && conv !== undefined ? windowsBetween(run, 0, conv) : undefined,
    steadyP99: percentile(steady.rtts, 99),
    deferredAfter: deferredShare(run, steadyFrom, S),
    phases: PH.map(([label, from, until]) => {
      const s = successes(run, from, until);
      return { label, goodput: s.goodput, p99: percentile(s.rtts, 99), deferred: deferredShare(run, from, until) };
    }),
    down: down === undefined ? undefined : down - S,
    downWindows: windowed && down !== undefined ? windowsBetween(run, S, down) : undefined,
    up: up === undefined ? undefined : up - 2 * S,
    upWindows: windowed && up !== undefined ? windowsBetween(run, 2 * S, up) : undefined,
    windows: run.windowTimes.length,
  };
  console.log(`  ${name}: ${Math.round(performance.now() - t0)} ms wall`);
}

// The best static limit per phase: the highest goodput; within 1 %, the lower p99.
const best = PH.map((_, i) => {
  let pick;
  for (const name of STATIC.filter(has)) {
    const f = figures[name].phases[i];
    if (pick === undefined) pick = { name, ...f };
    else if (f.goodput > pick.goodput * 1.01 || (f.goodput >= pick.goodput * 0.99 && f.p99 < pick.p99)) pick = { name, ...f };
  }
  return pick;
});

for (const name of OURS.filter(has)) {
  const f = figures[name];
  const asserted = name === "gradient2";
  const section = `sim ${name}`;
  check(section, "limit reaches [0.85 K, 1.2 K] from initial 4", f.conv === undefined ? "never" : `${f.convWindows} windows (${sec(f.conv)})`, "≤ 20 windows", f.conv !== undefined && f.convWindows <= 20, asserted);
  check(section, "steady p99 after convergence", `${ms(f.steadyP99)} = ${(f.steadyP99 / BASE).toFixed(2)}× no-load`, "≤ 1.5× no-load (150 ms)", f.steadyP99 <= 1.5 * BASE, asserted);
  check(section, "deferred (503) after convergence", pct(f.deferredAfter), "≤ 1 %", f.deferredAfter <= 0.01, asserted);
  check(section, "capacity 10 → 3: limit ≤ 4", f.down === undefined ? "never" : `${f.downWindows} windows (${sec(f.down)})`, "≤ 5 windows", f.down !== undefined && f.downWindows <= 5, asserted);
  check(section, "restored 3 → 10: limit ≥ 9", f.up === undefined ? "never" : `${f.upWindows} windows (${sec(f.up)})`, "≤ 20 windows", f.up !== undefined && f.upWindows <= 20, asserted);
  PH.forEach(([label], i) => {
    const b = best[i];
    if (b === undefined) return;
    const p = f.phases[i];
    check(section, `${label}: goodput vs best static (${b.name}, ${rate(b.goodput)})`, `${rate(p.goodput)} = ${(p.goodput / b.goodput).toFixed(3)}×`, "≥ 0.95×", p.goodput >= 0.95 * b.goodput, asserted);
    check(section, `${label}: p99 vs best static (${b.name}, ${ms(b.p99)})`, `${ms(p.p99)} = ${(p.p99 / b.p99).toFixed(2)}×`, "≤ 1.25×", p.p99 <= 1.25 * b.p99, asserted);
  });
}

/** "Better or equal": [label, ours, theirs, lower is better?, format]. Goodput within 1 % counts as equal. */
function compare(section, label, mine, theirs, lowerBetter, format, tolerance = 0) {
  let pass;
  if (mine === undefined || Number.isNaN(mine)) pass = theirs === undefined || Number.isNaN(theirs);
  else if (theirs === undefined || Number.isNaN(theirs)) pass = true;
  else pass = lowerBetter ? mine <= theirs * (1 + tolerance) + 1e-9 : mine >= theirs * (1 - tolerance) - 1e-9;
  check(section, label, `${format(mine)} vs ${format(theirs)}`, lowerBetter ? "≤ theirs" : tolerance > 0 ? `≥ theirs − ${tolerance * 100} %` : "≥ theirs", pass);
}

for (const name of OURS.filter(has)) {
  const peer = PEER[name];
  if (!has(peer)) continue;
  const a = figures[name];
  const b = figures[peer];
  const section = `sim ${name} vs ${peer}`;
  compare(section, "time to reach [0.85 K, 1.2 K] (first entry)", a.conv ?? Infinity, b.conv ?? Infinity, true, sec);
  compare(section, "time to settle in [0.85 K, 1.2 K] (stays to the phase's end)", a.settle ?? Infinity, b.settle ?? Infinity, true, sec);
  compare(section, "steady p99", a.steadyP99, b.steadyP99, true, ms);
  compare(section, "deferred after convergence", a.deferredAfter, b.deferredAfter, true, pct, 0);
  PH.forEach(([label], i) => {
    compare(section, `${label}: goodput`, a.phases[i].goodput, b.phases[i].goodput, false, rate, 0.01);
    compare(section, `${label}: p99`, a.phases[i].p99, b.phases[i].p99, true, ms);
    compare(section, `${label}: deferred`, a.phases[i].deferred, b.phases[i].deferred, true, pct);
  });
  compare(section, "capacity 10 → 3: time to limit ≤ 4 (first)", a.down ?? Infinity, b.down ?? Infinity, true, sec);
  compare(section, "capacity 10 → 3: time to settle ≤ 4", a.settleDown ?? Infinity, b.settleDown ?? Infinity, true, sec);
  compare(section, "restored: time to limit ≥ 9 (first)", a.up ?? Infinity, b.up ?? Infinity, true, sec);
  compare(section, "restored: time to settle ≥ 9", a.settleUp ?? Infinity, b.settleUp ?? Infinity, true, sec);
}

// --- Creep (PR #134) and drift (Netflix#37, #165) ------------------------------------------
// Both on the knee server without 503s: latency is the only signal, so aimd
// (loss-based: it needs drops) has nothing to act on and grows to max —
// measured, not compared. Creep: the limit settles past the knee, where the
// gradient (no-load ÷ RTT) is about 0.8, and must stay there. Drift: ±30 %
// noise on every service time; the no-load RTT estimate must stay near the
// true 100 ms (the fastest single sample is 70 ms, a loaded one 200+).
const longPhases = [{ until: SETTLE + LONG, capacity: 10, rejectAbove: Infinity }];
const longNames = names.filter((n) => !STATIC.includes(n));
const longRuns = { creep: {}, drift: {} };
const longFigures = { creep: {}, drift: {} };
const SPREAD = 0.3;
const noLoadP99 = BASE * (1 + SPREAD * (2 * 0.99 - 1));
for (const kind of ["creep", "drift"]) {
  console.log(`# ${kind}: ${longNames.join(", ")}; ${(SETTLE + LONG) / 60_000} simulated minutes`);
  for (const name of longNames) {
    const run = await simulate(name, longPhases, kind === "drift" ? { spread: SPREAD, seed: 11 } : { seed: 5 });
    longRuns[kind][name] = run;
    const s = run.series;
    const late = (values) => values.filter((_, i) => s.t[i] >= SETTLE && !Number.isNaN(values[i]));
    let lo = limitAt(run, SETTLE);
    let hi = lo;
    for (const [at, limit] of run.changes) if (at > SETTLE) [lo, hi] = [Math.min(lo, limit), Math.max(hi, limit)];
    const su = successes(run, SETTLE, SETTLE + LONG);
    const noLoad = late(s.noLoad);
    // The range the limit took once it had first reached 0.85 K: the creep shows here.
    const reached = firstTime(run, 0, SETTLE + LONG, (limit) => limit >= 0.85 * KNEE);
    let rlo = reached === undefined ? undefined : limitAt(run, reached);
    let rhi = rlo;
    if (reached !== undefined) for (const [at, limit] of run.changes) if (at > reached) [rlo, rhi] = [Math.min(rlo, limit), Math.max(rhi, limit)];
    longFigures[kind][name] = {
      reached,
      reachedMin: rlo,
      reachedMax: rhi,
      settled: limitAt(run, SETTLE),
      min: lo,
      max: hi,
      end: limitAt(run, SETTLE + LONG),
      goodput: su.goodput,
      p50: percentile(su.rtts, 50),
      p99: percentile(su.rtts, 99),
      noLoadMin: noLoad.length > 0 ? Math.min(...noLoad) : undefined,
      noLoadMax: noLoad.length > 0 ? Math.max(...noLoad) : undefined,
    };
  }
}
for (const name of OURS.filter((n) => has(n) && n !== "aimd")) {
  const c = longFigures.creep[name];
  const d = longFigures.drift[name];
  const asserted = name === "gradient2";
  check(`creep ${name}`, `limit over ${LONG / 60_000} min after settling at ${c.settled}`, `${c.min}–${c.max} (gradient ${(BASE / c.p50).toFixed(2)})`, "within ±10 % of the settled limit", c.min >= 0.9 * c.settled && c.max <= 1.1 * c.settled, asserted);
  check(`drift ${name}`, "no-load RTT estimate (true: 100 ms)", `${ms(d.noLoadMin)}–${ms(d.noLoadMax)}`, "within ±15 %", d.noLoadMin >= 85 && d.noLoadMax <= 115, asserted);
  check(`drift ${name}`, "p99 latency", `${ms(d.p99)} = ${(d.p99 / noLoadP99).toFixed(2)}× the server's own p99 (${ms(noLoadP99)})`, "≤ 1.5×", d.p99 <= 1.5 * noLoadP99, asserted);
  const peer = PEER[name];
  if (!has(peer)) continue;
  const pc = longFigures.creep[peer];
  const pd = longFigures.drift[peer];
  const swing = (f) => (f.reached === undefined ? Infinity : (f.reachedMax - f.reachedMin) / KNEE);
  const range = (f) => (f.reached === undefined ? "never reached" : `${f.reachedMin}–${f.reachedMax}`);
  check(
    `creep ${name} vs ${peer}`,
    "limit range once it first reached 0.85 K, (max − min) ÷ K",
    `${range(c)} (${(swing(c) * 100).toFixed(0)} %) vs ${range(pc)} (${(swing(pc) * 100).toFixed(0)} %)`,
    "≤ theirs",
    swing(c) <= swing(pc),
  );
  compare(`creep ${name} vs ${peer}`, "p99", c.p99, pc.p99, true, ms);
  compare(`creep ${name} vs ${peer}`, "goodput", c.goodput, pc.goodput, false, rate, 0.01);
  const err = (f) => Math.max(Math.abs(f.noLoadMin - BASE), Math.abs(f.noLoadMax - BASE)) / BASE;
  compare(`drift ${name} vs ${peer}`, "worst no-load RTT error", err(d), err(pd), true, pct);
  compare(`drift ${name} vs ${peer}`, "p99", d.p99, pd.p99, true, ms);
  compare(`drift ${name} vs ${peer}`, "goodput", d.goodput, pd.goodput, false, rate, 0.01);
}

// --- Pictures -------------------------------------------------------------------------
const svgDir = args["svg-dir"] ?? join(root, "docs");
const svgs = [];
if (!args["no-svg"]) {
  mkdirSync(svgDir, { recursive: true });
  const pick = (set, list) => list.filter((n) => set[n] !== undefined).map((n) => ({ label: n, series: set[n].series, dashed: n.startsWith("netflix") }));
  const pictures = [
    {
      file: "adaptive-capacity.svg",
      title: "Capacity 10 → 3 → 10 (simulation: knee K = 10, 503s above 12 / 4)",
      subtitle: "ours (solid), Netflix rules with their defaults (dashed); from initial 4; first 12 s of each phase; clipped at 30",
      segments: quick ? undefined : [[0, 12_000], [S - 2_000, S + 10_000], [2 * S - 2_000, 2 * S + 10_000]],
      runs: pick(runs, ["gradient2", "vegas", "aimd", "netflix-gradient2", "netflix-vegas", "netflix-aimd"]),
      marks: [
        { at: S, label: "capacity 3" },
        { at: 2 * S, label: "capacity 10" },
      ],
      limitMax: 30,
      latencyMax: 400,
    },
    {
      file: "adaptive-creep.svg",
      title: "Creep (Netflix PR #134): knee server without 503s",
      subtitle: "latency is the only signal; Netflix Gradient2's queue term walks the limit up to its max (200; clipped at 60)",
      runs: pick(longRuns.creep, ["gradient2", "vegas", "netflix-gradient2", "netflix-vegas"]),
      marks: [{ at: SETTLE, label: "settled" }],
      limitMax: 60,
      latencyMax: 600,
    },
    {
      file: "adaptive-drift.svg",
      title: "Drift (Netflix#37, #165): ±30 % noise on every service time",
      subtitle: "ours (gradient2) and Netflix Vegas, whose reference is the fastest sample, overwritten by a loaded one at each probe",
      runs: pick(longRuns.drift, ["gradient2", "netflix-vegas"]),
      marks: [{ at: SETTLE, label: "settled" }],
      limitMax: 40,
      latencyMax: 300,
      noLoad: true,
    },
  ];
  for (const picture of pictures) {
    if (picture.runs.length === 0) continue;
    const file = join(svgDir, picture.file);
    writeFileSync(file, chart(picture));
    svgs.push(file);
  }
  console.log(`# pictures: ${svgs.map((f) => relative(root, f)).join(", ")}`);
}

// --- 2. Real time ---------------------------------------------------------------------
let real;
let realDelay;
if (!args["no-real"]) {
  const R = quick ? 3_000 : 6_000;
  const realPhases = [
    { until: R, capacity: 10 },
    { until: R + 4_000, capacity: 3 },
    { until: 2 * R + 4_000, capacity: 10 },
  ];
  const algorithms = [...OURS.filter(has), "static-10"];
  console.log(`# real time, loopback HTTP: ${algorithms.join(", ")} at once; phases ${R / 1000} s, 4 s, ${R / 1000} s`);
  const result = await realTime(algorithms, realPhases);
  real = result.runs;
  realDelay = result.loopDelay;
  console.log(`  event-loop delay over the run: p50 ${realDelay.p50.toFixed(1)} ms, p99 ${realDelay.p99.toFixed(1)} ms, max ${realDelay.max.toFixed(1)} ms`);
  const bounds = [
    [0, R],
    [R, R + 4_000],
    [R + 4_000, 2 * R + 4_000],
  ];
  const reference = real.find((r) => r.name === "static-10");
  reference.phases.forEach((p, i) => {
    const [from, until] = bounds[i];
    p.goodput = (p.ok * 1000) / (until - from);
    p.p99 = percentile(p.rtts, 99);
  });
  for (const run of real) {
    if (run === reference) continue;
    const asserted = run.name === "gradient2";
    const conv = firstTime(run, 0, R, inRange);
    const down = firstTime(run, R, R + 4_000, (l) => l <= 4);
    const up = firstTime(run, R + 4_000, 2 * R + 4_000, (l) => l >= 9);
    const section = `real ${run.name}`;
    const w = (from, t) => windowsBetween(run, from, t);
    check(section, "limit reaches [0.85 K, 1.2 K]", conv === undefined ? "never" : `${w(0, conv)} windows (${sec(conv)})`, "≤ 20 windows", conv !== undefined && w(0, conv) <= 20, asserted);
    check(section, "capacity 10 → 3: limit ≤ 4", down === undefined ? "never" : `${w(R, down)} windows (${sec(down - R)})`, "≤ 5 windows", down !== undefined && w(R, down) <= 5, asserted);
    check(section, "restored: limit ≥ 9", up === undefined ? "never" : `${w(R + 4_000, up)} windows (${sec(up - R - 4_000)})`, "≤ 20 windows", up !== undefined && w(R + 4_000, up) <= 20, asserted);
    run.phases.forEach((p, i) => {
      const [from, until] = bounds[i];
      const goodput = (p.ok * 1000) / (until - from);
      p.goodput = goodput;
      p.p99 = percentile(p.rtts, 99);
      p.deferredShare = p.deferred / Math.max(1, p.ok + p.deferred);
      const ref = reference.phases[i];
      check(
        section,
        `${PH[i][0]}: goodput vs static-10 in the same run (${rate(ref.goodput)}, p99 ${ms(ref.p99)})`,
        `${rate(goodput)} = ${(goodput / ref.goodput).toFixed(2)}×, p99 ${ms(p.p99)}, deferred ${pct(p.deferredShare)}`,
        "≥ 0.9×",
        goodput >= 0.9 * ref.goodput,
        asserted,
      );
    });
  }
}

// --- 3. Cost ----------------------------------------------------------------------------
let cost;
let clockRead;
if (!args["no-cost"]) {
  console.log("# controller cost: tryAcquire + release, 8 held at once, AdaptiveSemaphore − Semaphore");
  cost = ["gradient2", "vegas", "aimd"].flatMap((algorithm) =>
    [false, true].map((freeClock) => controllerCost({ algorithm, freeClock, permits: quick ? 50_000 : 1_000_000, rounds: quick ? 3 : 15 })),
  );
  for (const c of cost) {
    const what = c.freeClock ? "the controller alone (injected counter clock)" : "default clock (performance.now(), 2 reads per permit)";
    check(
      `cost ${c.algorithm}`,
      `per completed permit, ${what}`,
      `${c.cost.toFixed(0)} ns (fastest rounds: adaptive ${c.adaptive.toFixed(0)} ns − plain ${c.plain.toFixed(0)} ns; median of rounds ${c.medianCost.toFixed(0)} ns)`,
      "≤ 50 ns",
      c.cost <= 50,
      c.algorithm === "gradient2",
    );
  }
  const reads = 2_000_000;
  const t0 = performance.now();
  let sink = 0;
  for (let i = 0; i < reads; i++) sink += performance.now();
  clockRead = ((performance.now() - t0) * 1e6) / reads;
  console.log(`  one performance.now() read: ${clockRead.toFixed(0)} ns${sink > 0 ? "" : " "}`);
}

// --- Report -----------------------------------------------------------------------------
const failed = checks.filter((c) => c.asserted && !c.pass);
const missed = checks.filter((c) => !c.asserted && !c.pass);
console.log(`\n${checks.length} checks: ${checks.filter((c) => c.pass).length} pass, ${failed.length} asserted fail, ${missed.length} not-asserted miss`);

const environment = `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "?"}, load average ${loadavg()
  .map((v) => v.toFixed(2))
  .join(" ")} at the end (shared machine)`;

if (args.json) {
  mkdirSync(dirname(args.json), { recursive: true });
  const strip = (set) => Object.fromEntries(Object.entries(set).map(([k, v]) => [k, v]));
  writeFileSync(
    args.json,
    JSON.stringify({ quick, phaseMs: S, checks, figures: strip(figures), long: longFigures, best, real: real?.map(({ name, phases: p }) => ({ name, phases: p.map(({ rtts: _rtts, ...rest }) => rest) })), realDelay, cost, clockRead, svgs, environment }, null, 1),
  );
}

if (args.out) {
  writeFileSync(args.out, report());
  console.log(`# wrote ${relative(process.cwd(), args.out)}`);
}

function report() {
  const lines = [];
  const mark = (c) => (c.pass ? "PASS" : c.asserted ? "**MISS**" : "miss (not asserted)");
  lines.push(
    "# `npm run bench:adaptive` — results",
    "",
    "Issue 13's measured targets for `AdaptiveSemaphore`. Regenerate with",
    "",
    "```sh",
    "npm run bench:adaptive -- --out bench/RESULTS-adaptive.md",
    "```",
    "",
    `Environment: ${environment}. The simulation is deterministic (virtual time, seeded noise): its figures do not depend on the machine. The real-time and cost figures do.`,
    "",
    "How it is measured: `bench/adaptive/` (model.js: the server model, the virtual-time loop and the load; netflix.js: the baselines; sim.js, real.js, cost.js; run.js: the checks). Targets are asserted for the default algorithm, `gradient2`; `vegas` and `aimd` rows show the same ranges, not asserted. A comparison passes when ours is better or equal (goodput: within 1 %).",
    "",
    `Summary: ${checks.length} checks, ${checks.filter((c) => c.pass).length} pass, ${failed.length} asserted **MISS**, ${missed.length} not-asserted miss.`,
    "",
    "### Reading the misses",
    "",
    "- *First-entry times against the Netflix rules.* Netflix's limiter feeds its rule every sample (unless the user wraps it in `WindowedLimit`), so it moves within one round trip and is first to *enter* a range; ours moves once per window of at least 10 samples (`minSamples`, the issue's contract: a trickle of samples never moves the limit), which at a limit of 3–4 is three round trips. The *settle* rows beside them show what follows: a rule that never leaves the range settles when it enters it, one that overshoots does not settle at all.",
    "- *`vegas` and `aimd` deferrals.* On this server 503s start 20 % past the knee. Vegas keeps 3–6 requests queued at the resource by definition (its alpha and beta), and AIMD must see a drop to find the limit (one per cycle of +1 per window): both pay about 2 % refused, which is why neither is the default (docs/choosing-limits.md).",
    "- *Real time.* One process drives all controllers and the model servers; on a loaded machine its timers fire late (the event-loop delay is printed), which adds latency to every request alike. The goodput check is relative to a static limit run alongside for that reason.",
    "- *Cost.* The default clock is `performance.now()`, read at the grant and at the end of every permit; the injected-clock rows separate the controller's own work from those two reads.",
    "",
  );
  const sections = [...new Set(checks.map((c) => c.section.split(" ")[0]))];
  const titles = { sim: "Simulation: capacity 10 → 3 → 10", creep: "Creep (PR #134)", drift: "Drift (Netflix#37, #165)", real: "Real time, loopback HTTP", cost: "Controller cost" };
  const notes = {
    real:
      realDelay === undefined
        ? ""
        : `The event loop of the benchmark process was late by p50 ${realDelay.p50.toFixed(1)} ms, p99 ${realDelay.p99.toFixed(1)} ms (max ${realDelay.max.toFixed(0)} ms) during this run: every timer of the model server fires that late, so latencies and goodput here measure the machine as much as the controller; the goodput check is therefore relative to a static limit of 10 run at the same time against an identical server.`,
    cost:
      clockRead === undefined
        ? ""
        : `One \`performance.now()\` read took ${clockRead.toFixed(0)} ns in this run; the adaptive permit reads the clock twice (grant, end), so the default-clock rows include about ${(2 * clockRead).toFixed(0)} ns of clock. The injected-clock rows are the controller's own work.`,
  };
  for (const key of sections) {
    lines.push(`## ${titles[key] ?? key}`, "");
    if (notes[key]) lines.push(notes[key], "");
    lines.push("| where | check | figure | target | |", "|---|---|---|---|---|");
    for (const c of checks.filter((c) => c.section.split(" ")[0] === key)) {
      lines.push(`| ${c.section} | ${c.name} | ${c.figure} | ${c.target} | ${mark(c)} |`);
    }
    lines.push("");
  }
  lines.push("## Every controller, simulation", "", "| controller | reach [8.5, 12] | steady p99 | deferred after | " + PH.map(([l]) => `${l}: goodput / p99 / deferred`).join(" | ") + " | → ≤ 4 | → ≥ 9 | settled in range / ≤ 4 / ≥ 9 |", "|---|---|---|---|" + PH.map(() => "---|").join("") + "---|---|---|");
  for (const name of names) {
    const f = figures[name];
    const w = (n) => (n === undefined ? "" : ` (${n} w)`);
    lines.push(
      `| ${name} | ${sec(f.conv)}${w(f.convWindows)} | ${ms(f.steadyP99)} | ${pct(f.deferredAfter)} | ` +
        f.phases.map((p) => `${rate(p.goodput)} / ${ms(p.p99)} / ${pct(p.deferred)}`).join(" | ") +
        ` | ${sec(f.down)}${w(f.downWindows)} | ${sec(f.up)}${w(f.upWindows)} | ${sec(f.settle)} / ${sec(f.settleDown)} / ${sec(f.settleUp)} |`,
    );
  }
  lines.push("", "## Creep and drift, every controller", "", "| case | controller | settled | min–max after | end | goodput | p50 | p99 | no-load estimate |", "|---|---|---|---|---|---|---|---|---|");
  for (const kind of ["creep", "drift"]) {
    for (const [name, f] of Object.entries(longFigures[kind])) {
      lines.push(`| ${kind} | ${name} | ${f.settled} | ${f.min}–${f.max} | ${f.end} | ${rate(f.goodput)} | ${ms(f.p50)} | ${ms(f.p99)} | ${f.noLoadMin === undefined ? "—" : `${ms(f.noLoadMin)}–${ms(f.noLoadMax)}`} |`);
    }
  }
  lines.push("", "## Pictures", "", ...svgs.map((f) => `- docs/${f.split(/[\\/]/).pop()}`), "");
  return lines.join("\n");
}

if (args.strict && failed.length > 0) process.exitCode = 1;
