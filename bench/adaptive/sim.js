// The scenarios of `npm run bench:adaptive` on virtual time (see model.js for
// how the clock is faked), and the controllers they compare: ours (the built
// AdaptiveSemaphore from dist/, all three algorithms), static limits (the
// built Semaphore), and the Netflix rules of netflix.js.

import { AdaptiveSemaphore, Semaphore } from "permit-pool";
import { closedLoop, random, Server, VirtualTime } from "./model.js";
import { NetflixAimd, NetflixGradient2, NetflixVegas, RuleLimiter } from "./netflix.js";

export const BASE = 100; // ms: the model server's no-load latency
export const KNEE = 10; // K: in flight after which latency grows
export const REJECT = 12; // deferral (503) above this many in service
export const WORKERS = 300; // closed-loop clients: more than any limit, so work is always queued
const SAMPLE_EVERY = 100; // ms between points of the time series

/** Every controller the scenarios know, by name: `(clock) => limiter`. */
export const CONTROLLERS = {
  gradient2: (clock) => ours("gradient2", clock),
  vegas: (clock) => ours("vegas", clock),
  aimd: (clock) => ours("aimd", clock),
  "static-2": () => fixed(2),
  "static-10": () => fixed(10),
  "static-50": () => fixed(50),
  "netflix-aimd": (clock) => new RuleLimiter(new NetflixAimd(), clock),
  "netflix-vegas": (clock) => new RuleLimiter(new NetflixVegas(), clock),
  "netflix-gradient2": (clock) => new RuleLimiter(new NetflixGradient2(), clock),
};
export const OURS = ["gradient2", "vegas", "aimd"];
export const STATIC = ["static-2", "static-10", "static-50"];
export const NETFLIX = ["netflix-gradient2", "netflix-vegas", "netflix-aimd"];
/** Which Netflix rule each of ours is compared with. */
export const PEER = { gradient2: "netflix-gradient2", vegas: "netflix-vegas", aimd: "netflix-aimd" };

/** The scenario's bounds for every adaptive controller: from 4, between 1 and 200; everything else default. */
function ours(algorithm, clock) {
  const sem = new AdaptiveSemaphore({ algorithm, initial: 4, min: 1, max: 200, clock });
  return {
    name: algorithm,
    sem,
    get limit() {
      return sem.limit;
    },
    get inUse() {
      return sem.inUse;
    },
    get rttNoLoad() {
      return sem.stats().rttNoLoad;
    },
    get windows() {
      const stats = sem.stats();
      return stats.windows + stats.skippedWindows;
    },
    acquire: () => sem.acquire(),
    close: () => sem.close(),
  };
}

function fixed(n) {
  const sem = new Semaphore(n);
  return {
    name: `static-${n}`,
    limit: n,
    get inUse() {
      return sem.inUse;
    },
    rttNoLoad: undefined,
    async acquire() {
      const permit = await sem.acquire();
      const end = () => permit.release();
      return { release: end, drop: end, ignore: end };
    },
    close: () => sem.close(),
  };
}

/**
 * Runs one controller through `phases` ([{ until, capacity, rejectAbove }],
 * consecutive, from t = 0) on a fresh server and virtual clock, and returns
 * what happened: per phase the successes' RTTs, deferrals and attempts; every
 * limit change; the times windows closed (ours); and a time series.
 * Math.random (used by AdaptiveSemaphore for epoch jitter only) is a seeded
 * PRNG for the run, so every run is the same.
 */
export async function simulate(name, phases, { spread = 0, seed = 1 } = {}) {
  const realRandom = Math.random;
  Math.random = random(seed);
  try {
    const time = new VirtualTime();
    const first = phases[0];
    const server = new Server(time, {
      base: BASE,
      capacity: first.capacity,
      rejectAbove: first.rejectAbove ?? REJECT,
      spread,
      seed: seed + 1,
    });
    const limiter = CONTROLLERS[name](time.clock);
    const stats = phases.map((phase, i) => ({
      from: i === 0 ? 0 : phases[i - 1].until,
      until: phase.until,
      rtts: [], // successes' round-trip times (ms)
      ends: [], // and when each ended
      deferred: 0,
      attempts: 0,
    }));
    const buckets = Math.ceil(phases[phases.length - 1].until / SAMPLE_EVERY) + 1;
    const attemptsAt = new Uint32Array(buckets); // attempts ended per 100 ms
    const deferredAt = new Uint32Array(buckets); // of them 503s
    let phaseIndex = 0;
    const changes = [[0, limiter.limit]];
    const windowTimes = [];
    const counted = limiter.windows !== undefined;
    let windows = counted ? limiter.windows : 0;
    let lastLimit = limiter.limit;
    const series = { t: [], limit: [], limitMin: [], limitMax: [], inFlight: [], latency: [], noLoad: [] };
    let bucketLo = limiter.limit;
    let bucketHi = limiter.limit;
    let bucketSum = 0;
    let bucketCount = 0;

    const record = (start, end, ok) => {
      const phase = stats[phaseIndex];
      phase.attempts++;
      const bucket = Math.floor(end / SAMPLE_EVERY);
      attemptsAt[bucket]++;
      if (ok) {
        phase.rtts.push(end - start);
        phase.ends.push(end);
        bucketSum += end - start;
        bucketCount++;
      } else {
        phase.deferred++;
        deferredAt[bucket]++;
      }
    };
    const after = () => {
      const limit = limiter.limit;
      if (limit !== lastLimit) {
        lastLimit = limit;
        changes.push([time.now, limit]);
        if (limit < bucketLo) bucketLo = limit;
        if (limit > bucketHi) bucketHi = limit;
      }
      if (counted) {
        const now = limiter.windows;
        for (; windows < now; windows++) windowTimes.push(time.now);
      }
    };
    const load = closedLoop(limiter, server, time, WORKERS, record, after);
    for (let i = 1; i < phases.length; i++) {
      const { capacity, rejectAbove } = phases[i];
      time.at(phases[i - 1].until, () => {
        phaseIndex = i;
        server.setCapacity(capacity, rejectAbove ?? Math.ceil(capacity * 1.2));
      });
    }
    const end = phases[phases.length - 1].until;
    const sample = () => {
      series.t.push(time.now);
      series.limit.push(limiter.limit);
      series.limitMin.push(Math.min(bucketLo, limiter.limit));
      series.limitMax.push(Math.max(bucketHi, limiter.limit));
      bucketLo = bucketHi = limiter.limit;
      series.inFlight.push(limiter.inUse);
      series.latency.push(bucketCount > 0 ? bucketSum / bucketCount : NaN);
      series.noLoad.push(limiter.rttNoLoad ?? NaN);
      bucketSum = 0;
      bucketCount = 0;
      if (time.now + SAMPLE_EVERY <= end) time.at(time.now + SAMPLE_EVERY, sample);
    };
    time.at(0, sample);
    await time.run(end);
    load.stop();
    limiter.close();
    return { name, phases: stats, changes, windowTimes, series, end, attemptsAt, deferredAt };
  } finally {
    Math.random = realRandom;
  }
}

/** The p-th percentile (0–100) of `values` (nearest rank), or NaN for none. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** The limit in force at time `t`. */
export function limitAt(run, t) {
  let limit = run.changes[0][1];
  for (const [at, value] of run.changes) {
    if (at > t) break;
    limit = value;
  }
  return limit;
}

/** The first time at or after `from` (and before `until`) when `test(limit)` holds, or undefined. */
export function firstTime(run, from, until, test) {
  if (test(limitAt(run, from))) return from;
  for (const [at, value] of run.changes) if (at > from && at < until && test(value)) return at;
  return undefined;
}

/**
 * The time from which `test(limit)` holds without a break until `until` (the
 * limit settled), or undefined if it does not hold at `until`.
 */
export function settleTime(run, from, until, test) {
  let since = test(limitAt(run, from)) ? from : undefined;
  for (const [at, value] of run.changes) {
    if (at <= from || at >= until) continue;
    if (!test(value)) since = undefined;
    else if (since === undefined) since = at;
  }
  return since;
}

/** Windows (ours) closed in (from, t]. */
export function windowsBetween(run, from, t) {
  let n = 0;
  for (const at of run.windowTimes) if (at > from && at <= t) n++;
  return n;
}

/** The time the `n`-th window after `from` closed, or Infinity. */
export function nthWindow(run, from, n) {
  let seen = 0;
  for (const at of run.windowTimes) if (at > from && ++seen === n) return at;
  return Infinity;
}

/** Deferred (503) share of the attempts that ended in [from, until). */
export function deferredShare(run, from, until) {
  let attempts = 0;
  let deferred = 0;
  for (let b = Math.floor(from / SAMPLE_EVERY); b < Math.ceil(until / SAMPLE_EVERY); b++) {
    attempts += run.attemptsAt[b] ?? 0;
    deferred += run.deferredAt[b] ?? 0;
  }
  return attempts === 0 ? 0 : deferred / attempts;
}

/** Successes' RTTs that ended in [from, until), and the goodput there (per second). */
export function successes(run, from, until) {
  const rtts = [];
  for (const phase of run.phases) {
    if (phase.until <= from || phase.from >= until) continue;
    for (let i = 0; i < phase.ends.length; i++) if (phase.ends[i] >= from && phase.ends[i] < until) rtts.push(phase.rtts[i]);
  }
  return { rtts, goodput: (rtts.length * 1000) / (until - from) };
}
