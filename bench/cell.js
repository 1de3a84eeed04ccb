// One benchmark cell in a fresh process: `node --expose-gc bench/cell.js '<json spec>'`.
// It loads one adapter, proves the adapter enforces the limit, warms it up on fresh
// instances, then times the workload once and prints `RESULT <json>` on stdout (or
// `ERROR <json>`). run.js spawns it; run it by hand to profile one cell with --cpu-prof:
//   node --expose-gc --cpu-prof bench/cell.js '{"workload":"b","adapter":"permits","cap":4,"n":200000}'
// Quick mode passes an array of specs (all cells of one adapter) to save process start-ups.

import { performance } from "node:perf_hooks";
import process from "node:process";
import { setImmediate } from "node:timers";
import { ADAPTERS } from "./adapters.js";

let spec;
let workload;
let cap;
let n;

const gc = globalThis.gc ?? (() => {
  throw new Error("run cells with --expose-gc");
});
const fullGc = () => {
  for (let i = 0; i < 4; i++) gc();
};
const tick = () => new Promise((resolve) => setImmediate(resolve));
const heapUsed = () => process.memoryUsage().heapUsed;

/**
 * Wall time and CPU time (user + system, all threads, so GC helpers count) of the timed
 * section, in ms. Wall time is the headline; CPU time barely moves when other processes
 * compete for the two cores, so it is the cross-check on a noisy machine.
 */
function startTimer() {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(cpu);
    return { wall: performance.now() - wall, cpu: (used.user + used.system) / 1000 };
  };
}
const perSecond = (count, t) => ({ wall: count / (t.wall / 1000), cpu: count / (t.cpu / 1000) });

// The task body of every contended workload: one microtask.
const RESOLVED = Promise.resolve();
const body = async () => {
  await RESOLVED;
};

/** A small seeded PRNG (mulberry32) so every adapter sees the same weights. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function weights(count) {
  const next = prng(0x5eed);
  const out = new Array(count);
  for (let i = 0; i < count; i++) out[i] = 1 + Math.floor(next() * 4);
  return out;
}

function keyNames(count) {
  return Array.from({ length: count }, (_, i) => `host-${i}.example`);
}

// ---- The limit check: max observed concurrency must equal the capacity. -------------------

/** A body that records how many bodies run at once (by weight) and stays busy a few ticks. */
function counter() {
  const c = { active: 0, max: 0, done: 0 };
  // Busy until a macrotask: every slot fills before any body ends, so a limiter that
  // limits correctly shows exactly its capacity, however slowly it starts tasks.
  c.body = (weight = 1) => async () => {
    c.active += weight;
    if (c.active > c.max) c.max = c.active;
    await tick();
    c.active -= weight;
    c.done++;
  };
  return c;
}

async function checkLimit(ad) {
  if (workload === "e-weighted") {
    const run = ad.weighted(cap);
    const c = counter();
    const w = weights(2000);
    await Promise.all(w.map((x) => run(x, c.body(x))));
    return { max: c.max, expected: cap, completed: c.done === w.length };
  }
  if (workload === "e-keyed") {
    const run = ad.keyed(cap);
    const keys = keyNames(20);
    const counters = keys.map(() => counter());
    const tasks = [];
    for (let i = 0; i < 2000; i++) tasks.push(run(keys[i % keys.length], counters[i % keys.length].body()));
    await Promise.all(tasks);
    const max = Math.max(...counters.map((c) => c.max));
    const done = counters.reduce((s, c) => s + c.done, 0);
    return { max, expected: cap, completed: done === 2000 };
  }
  if (workload === "f") {
    const c = counter();
    let active = 0;
    let max = 0;
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const out = await ad.map(
      items,
      async (x) => {
        active++;
        if (active > max) max = active;
        await tick();
        active--;
        c.done++;
        return x * 2;
      },
      cap,
    );
    const inOrder = out.length === items.length && out.every((v, i) => v === i * 2);
    return { max, expected: cap, completed: c.done === items.length && inOrder };
  }
  const run = ad.task(cap);
  const c = counter();
  const count = Math.max(1000, cap * 20);
  const tasks = [];
  for (let i = 0; i < count; i++) tasks.push(run(c.body()));
  await Promise.all(tasks);
  return { max: c.max, expected: cap, completed: c.done === count };
}

// ---- The workloads. Each returns { value, unit } and, for throughput, runs `size` items. --

const throughput = {
  async a(ad, size) {
    const stop = startTimer();
    await ad.uncontended(cap, size);
    return perSecond(size, stop());
  },
  async b(ad, size) {
    const stop = startTimer();
    await ad.contended(cap, size, body);
    return perSecond(size, stop());
  },
  async "e-weighted"(ad, size) {
    const w = weights(size);
    const run = ad.weighted(cap);
    const tasks = new Array(size);
    const stop = startTimer();
    for (let i = 0; i < size; i++) tasks[i] = run(w[i], body);
    await Promise.all(tasks);
    return perSecond(size, stop());
  },
  async "e-keyed"(ad, size) {
    const keys = keyNames(spec.keys);
    const run = ad.keyed(cap);
    const tasks = new Array(size);
    const stop = startTimer();
    for (let i = 0; i < size; i++) tasks[i] = run(keys[i % keys.length], body);
    await Promise.all(tasks);
    return perSecond(size, stop());
  },
  // Issue 12: enqueue `size` waiters with random priorities 0–99 behind a held permit, then drain.
  async p(ad, size) {
    const next = prng(0x9e1);
    const priorities = Array.from({ length: size }, () => (next() * 100) | 0);
    const { t, order, enqueueMs } = await ad.priorityDrain(priorities);
    lastExtra = { enqueuePerSecond: size / (enqueueMs / 1000), drainPerSecond: size / ((t.wall - enqueueMs) / 1000) };
    if (order !== null) {
      if (order.length !== size) throw new Error(`${order.length} of ${size} waiters ran`);
      for (let i = 1; i < size; i++) {
        if (order[i] > order[i - 1]) throw new Error(`priority ${order[i]} served after ${order[i - 1]} (waiter ${i})`);
      }
    }
    return perSecond(size, t);
  },
  async f(ad, size) {
    const items = Array.from({ length: size }, (_, i) => i);
    const fn = async (x) => {
      await RESOLVED;
      return x;
    };
    const stop = startTimer();
    const out = await ad.map(items, fn, cap);
    const t = stop();
    if (out.length !== size || out[size - 1] !== size - 1) throw new Error("map returned wrong results");
    return perSecond(size, t);
  },
};

// Queued waiters that nobody will ever wake are garbage as soon as the limiter is: without
// this module-level reference, optimized code drops the limiter and the heap diff reads 0.
export let keepAlive;

/** (c) Heap bytes per queued waiter: hold the only permit, queue n waiters, diff the heap. */
async function memory(ad) {
  const limiter = ad.waiters(1);
  keepAlive = limiter;
  const { occupy, enqueue } = limiter;
  occupy();
  await tick();
  fullGc();
  const before = heapUsed();
  for (let i = 0; i < n; i++) enqueue();
  fullGc();
  const after = heapUsed();
  const bytes = (after - before) / n;
  return { wall: bytes, cpu: bytes };
}

/** (d) ns per cancel: abort `cancels` waiters from the middle of an n-long queue. */
async function cancellation(ad, length, cancels) {
  const limiter = ad.cancellable(1);
  keepAlive = limiter;
  const { occupy, acquire } = limiter;
  occupy();
  await tick();
  const first = Math.floor((length - cancels) / 2);
  const controllers = new Array(cancels);
  const settled = new Array(cancels);
  let rejected = 0;
  const onReject = (reason) => {
    if (reason?.name === "AbortError") rejected++;
  };
  const onGrant = () => {
    throw new Error("a cancelled waiter was granted");
  };
  for (let i = 0; i < length; i++) {
    if (i >= first && i < first + cancels) {
      const j = i - first;
      const controller = new AbortController();
      controllers[j] = controller;
      settled[j] = acquire(controller.signal).then(onGrant, onReject);
    } else {
      void acquire(undefined);
    }
  }
  const done = Promise.all(settled);
  await tick();
  fullGc();
  const stop = startTimer();
  for (let j = 0; j < cancels; j++) controllers[j].abort();
  await done;
  const t = stop();
  if (rejected !== cancels) throw new Error(`${rejected} of ${cancels} cancelled waiters rejected with an AbortError`);
  return { wall: (t.wall * 1e6) / cancels, cpu: (t.cpu * 1e6) / cancels };
}

/** Jain's fairness index of xs: 1 when all equal, 1/n when one takes everything. */
function jain(xs) {
  const sum = xs.reduce((a, x) => a + x, 0);
  const squares = xs.reduce((a, x) => a + x * x, 0);
  return (sum * sum) / (xs.length * squares);
}

function quantile(xs, q) {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** Issue 12 (s): three saturated tenants 1:2:4: shares, deviation from 1/7, 2/7, 4/7, Jain's index. */
async function shares(ad) {
  const weights = { w1: 1, w2: 2, w4: 4 };
  const r = await ad.fairShares({ cap, weights, workers: spec.workers, grants: n });
  const sumW = Object.values(weights).reduce((a, w) => a + w, 0);
  const out = {};
  const normalised = [];
  let worst = 0;
  for (const [t, w] of Object.entries(weights)) {
    const share = r.got[t] / r.total;
    const ideal = w / sumW;
    const deviation = share / ideal - 1;
    if (Math.abs(deviation) > Math.abs(worst)) worst = deviation;
    out[t] = { share, ideal, deviation, statsGranted: r.statsGranted[t] };
    normalised.push(r.got[t] / w);
  }
  const index = jain(normalised);
  const limit = { max: r.max, expected: cap, completed: r.total === n };
  return { value: { wall: index, cpu: index }, limit, extra: { shares: out, worst, jain: index } };
}

/** Issue 12 (l): the light tenant's wait (ms) beside a heavy tenant, alone, or in a shared FIFO. */
async function light(ad) {
  const r = await ad.lightTenant({ cap, heavy: n, aloneOps: spec.aloneOps });
  const p99 = quantile(r.waits, 0.99);
  const extra = {
    ops: r.waits.length,
    waitP50: quantile(r.waits, 0.5),
    waitP99: p99,
    waitMax: Math.max(...r.waits),
    turnP50: quantile(r.turns, 0.5),
    turnP99: quantile(r.turns, 0.99),
    statsWaitP99: r.statsLight?.wait.p99,
  };
  return { value: { wall: p99, cpu: p99 }, limit: { max: r.max, expected: cap, completed: true }, extra };
}

/** What a throughput workload reports beside its headline (the last, timed, run's). */
let lastExtra = {};

const OWN_CHECK = new Set(["p", "s", "l"]);

async function runOne() {
  const name = spec.adapter;
  const entry = ADAPTERS[name];
  if (entry === undefined) throw new Error(`unknown adapter ${name}`);
  const ad = await entry.load();
  let limit = ad.unlimited === true || OWN_CHECK.has(workload) ? null : await checkLimit(ad);
  if (limit !== null && (limit.max !== limit.expected || !limit.completed)) {
    throw new Error(`limit check failed: max concurrency ${limit.max}, capacity ${limit.expected}, completed ${limit.completed}`);
  }
  let value;
  let extra = {};
  if (workload === "c") {
    value = await memory(ad);
  } else if (workload === "d") {
    const scale = entry.cancelScale ?? 1;
    const length = Math.round(n * scale);
    const cancels = Math.round(spec.cancels * scale);
    extra = { length, cancels };
    value = await cancellation(ad, length, cancels);
  } else if (workload === "s") {
    ({ value, limit, extra } = await shares(ad));
  } else if (workload === "l") {
    ({ value, limit, extra } = await light(ad));
  } else {
    const run = throughput[workload];
    // Warm the JIT on fresh instances so the timed run measures steady-state code.
    if (spec.warmup !== false) await run(ad, Math.max(1000, Math.floor(n / 10)));
    fullGc();
    value = await run(ad, n);
    extra = { ...extra, ...lastExtra };
  }
  process.stdout.write(`RESULT ${JSON.stringify({ ...spec, ...(workload === "d" ? extra : {}), value: value.wall, cpu: value.cpu, limit, extra })}\n`);
}

const specs = [JSON.parse(process.argv[2] ?? "{}")].flat();
for (const s of specs) {
  spec = s;
  ({ workload, cap, n } = s);
  try {
    await runOne();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stdout.write(`ERROR ${JSON.stringify({ ...spec, error: message })}\n`);
    process.exitCode = 1;
  }
}
