// Baselines: the update rules of Netflix concurrency-limits' AIMDLimit,
// VegasLimit and Gradient2Limit (concurrency-limits-core, com.netflix.
// concurrency.limits.limit), re-implemented here from reading their sources —
// no code copied — with their published defaults, fed as Netflix's
// AbstractLimiter feeds them: one update per sample (no WindowedLimit, which a
// user must add by hand), with the sample's RTT (grant to end), the in-flight
// count at its grant (itself included) and whether it was dropped.
//
// Defaults, and the only two we change (both for every controller alike, the
// scenario's bounds): initial limit 4 (Netflix: AIMD 20, Vegas 20, Gradient2
// 20) and min limit 1 (Netflix: AIMD 20, Gradient2 20 — above the model
// server's knee of 10, which would fail every scenario for a reason that is
// not the algorithm's). Max: AIMD 200, Vegas 1000, Gradient2 200 (theirs).
//
// - AIMD: a drop or an RTT above `timeout` (5 s) → floor(limit × 0.9);
//   otherwise +1 if in flight × 2 ≥ limit.
// - Vegas: no-load RTT = the fastest sample seen, overwritten by the current
//   sample every probeMultiplier (30) × limit × jitter [0.5, 1) samples;
//   queue = ceil(limit × (1 − noLoad / rtt)); drop → −log10(limit);
//   in flight × 2 < limit → hold; queue ≤ log10 → +6·log10 (no slow start,
//   Netflix#35, but this jump); < 3·log10 → +log10; > 6·log10 → −log10;
//   smoothing 1. log10 is Netflix's integer log10, at least 1.
// - Gradient2: long RTT = exponential average over 600 samples (the first 10
//   averaged), cut by 5 % when it is above 2× the sample; in flight < limit/2
//   → hold; gradient = clamp(1.5 × long / rtt, 0.5, 1); limit = limit ×
//   gradient + 4 (the queue term, always added: PR #134), smoothed 0.2.
//   Drops do not enter the rule (only their RTT does).

import { Semaphore } from "permit-pool";
import { random } from "./model.js";

/** Netflix's integer log10 (at least 1; √ above 1000). */
function log10(n) {
  const i = Math.trunc(n);
  return i < 1000 ? Math.max(1, Math.trunc(Math.log10(Math.max(i, 1)))) : Math.trunc(Math.sqrt(i));
}

export class NetflixAimd {
  name = "netflix-aimd";
  constructor({ initial = 4, min = 1, max = 200, backoff = 0.9, timeout = 5_000 } = {}) {
    Object.assign(this, { limit: initial, min, max, backoff, timeout });
  }
  update(rtt, inflight, drop) {
    let limit = this.limit;
    if (drop || rtt > this.timeout) limit = Math.trunc(limit * this.backoff);
    else if (inflight * 2 >= limit) limit += 1;
    this.limit = Math.min(this.max, Math.max(this.min, limit));
  }
  get rttNoLoad() {
    return undefined;
  }
}

export class NetflixVegas {
  name = "netflix-vegas";
  #estimate;
  #noLoad = 0;
  #count = 0;
  #jitter;
  #rand;
  constructor({ initial = 4, max = 1000, smoothing = 1, probeMultiplier = 30, seed = 7 } = {}) {
    this.#estimate = initial;
    this.limit = initial;
    Object.assign(this, { max, smoothing, probeMultiplier });
    this.#rand = random(seed);
    this.#jitter = 0.5 + this.#rand() / 2;
  }
  get rttNoLoad() {
    return this.#noLoad;
  }
  update(rtt, inflight, drop) {
    this.#count++;
    if (this.#jitter * this.probeMultiplier * this.#estimate <= this.#count) {
      // The "probe": the current sample, loaded or not, becomes the no-load RTT.
      this.#jitter = 0.5 + this.#rand() / 2;
      this.#count = 0;
      this.#noLoad = rtt;
      return;
    }
    if (this.#noLoad === 0 || rtt < this.#noLoad) {
      this.#noLoad = rtt;
      return;
    }
    const L = this.#estimate;
    const queue = Math.ceil(L * (1 - this.#noLoad / rtt));
    let next;
    if (drop) next = L - log10(L);
    else if (inflight * 2 < L) return;
    else {
      const lg = log10(L);
      if (queue <= lg) next = L + 6 * lg;
      else if (queue < 3 * lg) next = L + lg;
      else if (queue > 6 * lg) next = L - lg;
      else return;
    }
    next = Math.max(1, Math.min(this.max, next));
    this.#estimate = (1 - this.smoothing) * L + this.smoothing * next;
    this.limit = Math.trunc(this.#estimate);
  }
}

export class NetflixGradient2 {
  name = "netflix-gradient2";
  #estimate;
  #long = 0;
  #longCount = 0;
  #longSum = 0;
  constructor({ initial = 4, min = 1, max = 200, smoothing = 0.2, queueSize = 4, longWindow = 600, tolerance = 1.5 } = {}) {
    this.#estimate = initial;
    this.limit = initial;
    Object.assign(this, { min, max, smoothing, queueSize, longWindow, tolerance });
  }
  get rttNoLoad() {
    return this.#long;
  }
  update(rtt /* , inflight, drop: drops enter only through their RTT */, inflight) {
    if (this.#longCount < 10) {
      this.#longCount++;
      this.#longSum += rtt;
      this.#long = this.#longSum / this.#longCount;
    } else {
      const factor = 2 / (this.longWindow + 1);
      this.#long = this.#long * (1 - factor) + rtt * factor;
    }
    const long = this.#long;
    if (long / rtt > 2) this.#long *= 0.95;
    const L = this.#estimate;
    if (inflight < L / 2) return;
    const gradient = Math.max(0.5, Math.min(1, (this.tolerance * long) / rtt));
    let next = L * gradient + this.queueSize;
    next = L * (1 - this.smoothing) + next * this.smoothing;
    this.#estimate = Math.max(this.min, Math.min(this.max, next));
    this.limit = Math.trunc(this.#estimate);
  }
}

/**
 * A limiter driven by one of the rules above, as Netflix's SimpleLimiter
 * drives it: a permit-pool Semaphore whose capacity follows the rule's limit
 * (`resize` never revokes a permit, as Netflix's limiter never cancels one).
 */
export class RuleLimiter {
  #sem;
  #inFlight = 0;
  constructor(rule, clock) {
    this.rule = rule;
    this.name = rule.name;
    this.clock = clock;
    this.#sem = new Semaphore(rule.limit);
  }
  get limit() {
    return this.rule.limit;
  }
  get inUse() {
    return this.#sem.inUse;
  }
  get rttNoLoad() {
    return this.rule.rttNoLoad;
  }
  close() {
    this.#sem.close();
  }
  async acquire() {
    const inner = await this.#sem.acquire();
    const start = this.clock();
    const inflight = ++this.#inFlight;
    let done = false;
    const end = (sample, drop) => {
      if (done) return;
      done = true;
      this.#inFlight--;
      if (sample) {
        this.rule.update(this.clock() - start, inflight, drop);
        if (this.rule.limit !== this.#sem.capacity) this.#sem.resize(this.rule.limit);
      }
      inner.release();
    };
    return { release: () => end(true, false), drop: () => end(true, true), ignore: () => end(false, false) };
  }
}
