/* global process */ // Node globals: this is a Node script
// The controller's cost per completed permit: the same acquire + release
// loop on an AdaptiveSemaphore and on a plain Semaphore (both built, from
// dist/), the difference per permit. The loop holds `batch` permits at once
// (taken with tryAcquire, the synchronous path, so the figure is the
// controller's and not the promise machinery's), and the adaptive one runs
// with its default clock, performance.now(): two clock reads per permit are
// part of what it costs. Its windows close every 10 samples (minSamples), so
// the update rule runs once per 10 permits, amortised as it would be in use.
// Rounds alternate between the two. Reported: the difference of the fastest
// rounds (min adaptive − min plain: the least-disturbed run of each, the usual
// estimator of a cost on a shared machine), and the median of the per-round
// differences beside it.

import { AdaptiveSemaphore, Semaphore } from "permit-pool";

function loop(sem, permits, batch) {
  const held = new Array(batch);
  const t0 = process.hrtime.bigint();
  for (let done = 0; done < permits; done += batch) {
    for (let i = 0; i < batch; i++) held[i] = sem.tryAcquire();
    for (let i = 0; i < batch; i++) held[i].release();
  }
  return Number(process.hrtime.bigint() - t0) / permits;
}

/** Nanoseconds per permit: { adaptive, plain, cost } (fastest rounds), medianCost (median of the per-round differences). */
export function controllerCost({ permits = 1_000_000, rounds = 9, batch = 8, algorithm = "gradient2", freeClock = false } = {}) {
  // freeClock: an injected clock that costs almost nothing (a counter that
  // advances 1 µs per read), to separate the controller's own work from the
  // price of performance.now().
  let t = 0;
  const clock = freeClock ? () => (t += 0.001) : undefined;
  const make = () => ({
    adaptive: new AdaptiveSemaphore({ algorithm, initial: batch, min: batch, max: batch, clock }),
    plain: new Semaphore(batch),
  });
  // Warm-up: both paths optimised before anything is timed.
  for (let i = 0; i < 3; i++) {
    const { adaptive, plain } = make();
    loop(adaptive, permits / 4, batch);
    loop(plain, permits / 4, batch);
  }
  const adaptive = [];
  const plain = [];
  const cost = [];
  for (let round = 0; round < rounds; round++) {
    const sems = make();
    const p = loop(sems.plain, permits, batch);
    const a = loop(sems.adaptive, permits, batch);
    plain.push(p);
    adaptive.push(a);
    cost.push(a - p);
  }
  const median = (values) => values.slice().sort((x, y) => x - y)[Math.floor(values.length / 2)];
  const min = (values) => Math.min(...values);
  return { adaptive: min(adaptive), plain: min(plain), cost: min(adaptive) - min(plain), medianCost: median(cost), permits, rounds, batch, algorithm, freeClock };
}
