/* global setTimeout, setImmediate, performance */ // Node globals: this is a Node script
// The pieces every scenario of `npm run bench:adaptive` runs on: a virtual-time
// event loop, the server model, a seeded random source and a closed-loop load.
//
// Virtual time, honestly: nothing here patches globals. The AdaptiveSemaphore
// reads time only through its `clock` option (adaptive.ts: "The clock, in
// milliseconds (monotonic). For simulations and tests"), and it sets no timers
// of its own; the Semaphore under it sets timers only for `timeout`, which the
// load never passes. So the semaphore under test is the built one from dist/,
// unmodified, and it sees the loop's clock. The loop pops the earliest event,
// sets the clock to its time, runs it, and lets every promise callback that it
// caused run (a macrotask turn) before the next event — so grants that the
// Semaphore hands to queued waiters happen at the virtual instant of the release
// that freed them, as they would in real time with an infinitely fast CPU.

/** A seeded PRNG (mulberry32): the same seed gives the same run, on every machine. */
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Virtual time: a clock and a binary heap of events ordered by (time, insertion). */
export class VirtualTime {
  now = 0;
  #heap = [];
  #seq = 0;
  /** The clock to hand to the semaphore: reads the loop's time. */
  clock = () => this.now;

  /** Runs `fn` at absolute time `t` (never before now). */
  at(t, fn) {
    const heap = this.#heap;
    const item = { t: Math.max(t, this.now), seq: this.#seq++, fn };
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = item;
  }

  #pop() {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) break;
        const r = l + 1;
        const child = r < heap.length && before(heap[r], heap[l]) ? r : l;
        if (!before(heap[child], last)) break;
        heap[i] = heap[child];
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }

  /** Runs every event up to `until` (ms), then sets the clock to `until`. */
  async run(until) {
    const heap = this.#heap;
    await turn();
    while (heap.length > 0 && heap[0].t <= until) {
      const t = heap[0].t;
      this.now = t;
      while (heap.length > 0 && heap[0].t === t) this.#pop().fn();
      await turn(); // every promise callback this instant caused, at this instant
    }
    this.now = until;
  }
}

function before(a, b) {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}

/** Real time with the same interface, for the loopback runs. */
export class RealTime {
  #t0 = performance.now();
  clock = () => performance.now() - this.#t0;
  get now() {
    return this.clock();
  }
  at(t, fn) {
    setTimeout(() => fn(), Math.max(0, t - this.clock()));
  }
}

/**
 * The server model: processor sharing with `capacity` (K) workers' worth of
 * speed. Every request needs `base` ms of work (times `1 ± spread`, seeded);
 * with n ≤ K in service each runs at full speed (latency = base), with n > K
 * each runs at K/n of it — the knee: latency grows linearly with what is in
 * flight past K and throughput stays K/base. A request that arrives while
 * `rejectAbove` are in service is deferred: answered 503 after
 * `rejectLatency` ms, without entering service.
 */
export class Server {
  #time;
  #jobs = []; // { finish (in work units), done }, sorted by finish
  #work = 0; // work units done per job since the start (all jobs progress alike)
  #last = 0;
  #version = 0;
  #rand;

  constructor(time, { base = 100, capacity = 10, rejectAbove = 12, rejectLatency = 5, spread = 0, seed = 1 } = {}) {
    this.#time = time;
    this.base = base;
    this.capacity = capacity;
    this.rejectAbove = rejectAbove;
    this.rejectLatency = rejectLatency;
    this.spread = spread;
    this.#rand = random(seed);
    this.#last = time.now;
  }

  /** Requests in service now. */
  get inService() {
    return this.#jobs.length;
  }

  /** Changes the capacity (K) and the deferral threshold; in-service requests slow down or speed up at once. */
  setCapacity(capacity, rejectAbove = Math.ceil(capacity * 1.2)) {
    this.#advance();
    this.capacity = capacity;
    this.rejectAbove = rejectAbove;
    this.#schedule();
  }

  /** Sends a request: `done(ok)` is called when it is answered (ok false: a 503). */
  request(done) {
    this.#advance();
    const now = this.#time.now;
    if (this.#jobs.length >= this.rejectAbove) {
      this.#time.at(now + this.rejectLatency, () => done(false));
      return;
    }
    const work = this.spread > 0 ? this.base * (1 + this.spread * (2 * this.#rand() - 1)) : this.base;
    const job = { finish: this.#work + work, done };
    const jobs = this.#jobs;
    let i = jobs.length;
    while (i > 0 && jobs[i - 1].finish > job.finish) i--;
    jobs.splice(i, 0, job);
    this.#schedule();
  }

  #rate() {
    const n = this.#jobs.length;
    return n <= this.capacity ? 1 : this.capacity / n;
  }

  #advance() {
    const now = this.#time.now;
    if (this.#jobs.length > 0) this.#work += (now - this.#last) * this.#rate();
    this.#last = now;
  }

  #schedule() {
    const version = ++this.#version;
    if (this.#jobs.length === 0) return;
    const next = this.#jobs[0];
    const at = this.#time.now + Math.max(0, next.finish - this.#work) / this.#rate();
    this.#time.at(at, () => {
      if (version !== this.#version) return;
      this.#advance();
      const finished = [];
      while (this.#jobs.length > 0 && this.#jobs[0].finish <= this.#work + 1e-9) finished.push(this.#jobs.shift());
      this.#schedule();
      for (const job of finished) job.done(true);
    });
  }
}

/**
 * A closed-loop load of `workers` clients, each: acquire a permit, send a
 * request, end the permit by the answer (release on success, drop on a 503),
 * repeat — so with more workers than any limit, work is always queued on the
 * limiter. `record(start, end, ok)` sees every attempt before its permit
 * ends, `after()` right after. `stop()` ends the loop; close the limiter then
 * (the waiting clients leave with its ClosedError).
 */
export function closedLoop(limiter, server, time, workers, record, after = () => {}) {
  let running = true;
  const one = async () => {
    while (running) {
      let permit;
      try {
        permit = await limiter.acquire();
      } catch {
        return; // closed
      }
      if (!running) {
        permit.ignore();
        return;
      }
      const start = time.now;
      const ok = await new Promise((resolve) => server.request(resolve));
      record(start, time.now, ok);
      if (ok) permit.release();
      else permit.drop();
      after();
    }
  };
  for (let i = 0; i < workers; i++) void one();
  return {
    stop() {
      running = false;
    },
  };
}
