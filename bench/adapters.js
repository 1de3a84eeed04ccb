// One adapter per library. Each adapter exposes the workloads its library can express; a
// workload skips adapters that lack its method. Every method builds a fresh limiter, so
// the limit check and the timed run never share state. Loops live inside the adapters so
// each library gets a monomorphic loop around its own natural API, with no shared wrapper
// in between: what is measured is what a user of that library would write.
//
// Shapes:
//   task(cap)          -> (body) => Promise        one limited task (limit check, workload b)
//   uncontended(cap,n) -> Promise                  n sequential acquire/release pairs (a)
//   contended(cap,n,body) -> Promise               n tasks started at once (b)
//   waiters(cap)       -> { occupy, enqueue }      queue waiters and keep them queued (c)
//   cancellable(cap)   -> { occupy, acquire(signal?) } queued waiters that an AbortSignal removes (d)
//   weighted(cap)      -> (weight, body) => Promise (e, weighted)
//   keyed(cap)         -> (key, body) => Promise    (e, keyed)
//   map(items, fn, concurrency) -> Promise<results> (f)

import { performance } from "node:perf_hooks";
import process from "node:process";
import { setImmediate } from "node:timers";
import {
  NaiveAbortableSemaphore,
  NaiveKeyed,
  NaivePermitSemaphore,
  NaiveSemaphore,
  NaiveWeightedSemaphore,
  naiveMap,
} from "./naive.js";
import { LinkedFifoSemaphore } from "./linked-fifo.js";

const noop = () => {};
const RESOLVED = Promise.resolve();
const never = () => new Promise(noop);
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A small seeded PRNG (mulberry32), as in cell.js. */
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

/** Wall and CPU ms of a section, as cell.js's startTimer. */
function startTimer() {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(cpu);
    return { wall: performance.now() - wall, cpu: (used.user + used.system) / 1000 };
  };
}

/**
 * Issue 12, fairness (a): tenants with the given weights, each with `workers` workers
 * looping acquire → one macrotask of work → release until `grants` grants in all. All are
 * saturated (each has more workers than the whole capacity), so the shares are the
 * scheduler's. Counted by this code and, as a cross-check, by `stats().tenants`.
 */
async function fairShares(Semaphore, { cap, weights, workers, grants }) {
  const sem = new Semaphore(cap, { weights: (tenant) => weights[tenant] });
  const got = Object.fromEntries(Object.keys(weights).map((t) => [t, 0]));
  let total = 0;
  let active = 0;
  let max = 0;
  const worker = async (tenant) => {
    while (total < grants) {
      const p = await sem.acquire({ tenant });
      if (total >= grants) {
        p.release();
        return;
      }
      total++;
      got[tenant]++;
      active++;
      if (active > max) max = active;
      await tick();
      active--;
      p.release();
    }
  };
  const all = [];
  // Interleaved start, so no tenant is first in line by construction.
  for (let i = 0; i < workers; i++) for (const tenant of Object.keys(weights)) all.push(worker(tenant));
  await Promise.all(all);
  const stats = sem.stats().tenants ?? {};
  return { got, total, max, statsGranted: Object.fromEntries(Object.keys(weights).map((t) => [t, stats[t]?.granted ?? 0])) };
}

/**
 * Issue 12, fairness (b): a heavy tenant with `heavy` waiters queued at once and a light
 * tenant with one waiter at a time, both holding for one macrotask. mode "fair": tenants on
 * one Semaphore; "fifo": the same without tenants (one shared FIFO); "alone": the light
 * tenant only, `aloneOps` times. The light tenant's wait is acquire() → grant; its turn is
 * acquire() → release (the wait plus its own macrotask of work).
 */
async function lightTenant(Semaphore, { cap, heavy, aloneOps }, mode) {
  const sem = new Semaphore(cap);
  const opt = (tenant) => (mode === "fifo" ? undefined : { tenant });
  let heavyLeft = mode === "alone" ? 0 : heavy;
  let active = 0;
  let max = 0;
  const hold = async (p) => {
    active++;
    if (active > max) max = active;
    await tick();
    active--;
    p.release();
  };
  const heavyTasks = [];
  if (mode === "busy") {
    // The floor: the capacity always held by `cap` loops that re-acquire at once, nobody
    // else queued. The light waiter can only get the next release, whatever the order.
    let stop = false;
    for (let i = 0; i < cap; i++) {
      heavyTasks.push(
        (async () => {
          while (!stop) await hold(await sem.acquire(opt("heavy")));
        })(),
      );
    }
    const waits = [];
    const turns = [];
    await tick();
    for (let i = 0; i < aloneOps; i++) {
      const t0 = performance.now();
      const p = await sem.acquire(opt("light"));
      waits.push(performance.now() - t0);
      await hold(p);
      turns.push(performance.now() - t0);
    }
    stop = true;
    await Promise.all(heavyTasks);
    return { waits, turns, max, statsLight: sem.stats().tenants?.light };
  }
  for (let i = 0; i < heavyLeft; i++) {
    heavyTasks.push(
      sem.acquire(opt("heavy")).then(async (p) => {
        heavyLeft--;
        await hold(p);
      }),
    );
  }
  const waits = [];
  const turns = [];
  // Beside the heavy tenant the light one runs while heavy waiters remain queued.
  for (let i = 0; mode === "alone" ? i < aloneOps : heavyLeft > 0; i++) {
    const t0 = performance.now();
    const p = await sem.acquire(opt("light"));
    waits.push(performance.now() - t0);
    await hold(p);
    turns.push(performance.now() - t0);
  }
  await Promise.all(heavyTasks);
  const tenants = sem.stats().tenants;
  return { waits, turns, max, statsLight: tenants?.light };
}

/** Starts n tasks at once and waits for all of them. */
function startAll(n, one) {
  const tasks = new Array(n);
  for (let i = 0; i < n; i++) tasks[i] = one();
  return Promise.all(tasks);
}

/** Adapters for libraries with acquire()/release() on the semaphore object itself. */
function acquireRelease(make) {
  return {
    task: (cap) => {
      const s = make(cap);
      return async (body) => {
        await s.acquire();
        try {
          await body();
        } finally {
          s.release();
        }
      };
    },
    async uncontended(cap, n) {
      const s = make(cap);
      for (let i = 0; i < n; i++) {
        await s.acquire();
        s.release();
      }
    },
    contended(cap, n, body) {
      const s = make(cap);
      const one = async () => {
        await s.acquire();
        try {
          await body();
        } finally {
          s.release();
        }
      };
      return startAll(n, one);
    },
    waiters(cap) {
      const s = make(cap);
      return {
        occupy: () => void s.acquire(),
        enqueue: () => void s.acquire(),
      };
    },
  };
}

/** Adapters for limiters whose acquire() resolves to a permit with its own release(). */
function acquirePermit(make) {
  return {
    task: (cap) => {
      const s = make(cap);
      return async (body) => {
        const p = await s.acquire();
        try {
          await body();
        } finally {
          p.release();
        }
      };
    },
    async uncontended(cap, n) {
      const s = make(cap);
      for (let i = 0; i < n; i++) {
        const p = await s.acquire();
        p.release();
      }
    },
    contended(cap, n, body) {
      const s = make(cap);
      const one = async () => {
        const p = await s.acquire();
        try {
          await body();
        } finally {
          p.release();
        }
      };
      return startAll(n, one);
    },
    waiters(cap) {
      const s = make(cap);
      return { occupy: () => void s.acquire(), enqueue: () => void s.acquire() };
    },
  };
}

/** Per-key instances of a peer in a Map, created lazily and never deleted (what users write). */
function perKey(makeTask) {
  return (cap) => {
    const byKey = new Map();
    return (key, body) => {
      let run = byKey.get(key);
      if (run === undefined) {
        run = makeTask(cap);
        byKey.set(key, run);
      }
      return run(body);
    };
  };
}

async function permitsModule() {
  // The built package, as users run it (npm run bench builds it first). run.js points
  // PERMITS_DIST at a copy of dist/ taken when the run starts, so a rebuild by someone
  // else in this checkout mid-run cannot change the code under test between cells.
  return import(process.env.PERMITS_DIST ?? "../dist/index.js");
}

export const ADAPTERS = {
  floor: {
    kind: "floor",
    label: "no limiter (floor)",
    load: async () => ({
      unlimited: true,
      task: () => (body) => body(),
      async uncontended(_cap, n) {
        // The floor of a sequential async loop: one awaited promise per iteration.
        for (let i = 0; i < n; i++) await RESOLVED;
      },
      contended: (_cap, n, body) => startAll(n, body),
      weighted: () => (_w, body) => body(),
      keyed: () => (_key, body) => body(),
      map: (items, fn) => Promise.all(items.map(fn)),
    }),
  },

  naive: {
    kind: "naive",
    label: "naive linked FIFO",
    load: async () => {
      const base = acquireRelease((cap) => new NaiveSemaphore(cap));
      return {
        ...base,
        weighted(cap) {
          const s = new NaiveWeightedSemaphore(cap);
          return async (w, body) => {
            await s.acquire(w);
            try {
              await body();
            } finally {
              s.release(w);
            }
          };
        },
        keyed(cap) {
          const k = new NaiveKeyed(cap);
          return (key, body) => k.run(key, body);
        },
        map: naiveMap,
      };
    },
  },

  "naive+permit": {
    kind: "naive",
    label: "naive linked FIFO resolving a permit object",
    load: async () => acquirePermit((cap) => new NaivePermitSemaphore(cap)),
  },

  "linked-fifo": {
    kind: "naive",
    label: "bare linked-list FIFO resolving a releasable object (bench/linked-fifo.js)",
    load: async () => acquirePermit((cap) => new LinkedFifoSemaphore(cap)),
  },

  "naive+signal": {
    kind: "naive",
    label: "naive doubly linked FIFO + AbortSignal listener",
    load: async () => ({
      task: acquireRelease((cap) => new NaiveAbortableSemaphore(cap)).task,
      cancellable(cap) {
        const s = new NaiveAbortableSemaphore(cap);
        return { occupy: () => void s.acquire(undefined), acquire: (signal) => s.acquire(signal) };
      },
    }),
  },

  permits: {
    kind: "permits",
    pkg: "permit-pool",
    label: "permits Semaphore acquire/release",
    load: async () => {
      const { Semaphore, KeyedSemaphore } = await permitsModule();
      return {
        ...acquirePermit((cap) => new Semaphore(cap)),
        cancellable(cap) {
          const s = new Semaphore(cap);
          return {
            occupy: () => void s.acquire(),
            acquire: (signal) => (signal === undefined ? s.acquire() : s.acquire({ signal })),
          };
        },
        weighted(cap) {
          const s = new Semaphore(cap);
          return async (weight, body) => {
            const p = await s.acquire({ weight });
            try {
              await body();
            } finally {
              p.release();
            }
          };
        },
        keyed(cap) {
          const k = new KeyedSemaphore(cap);
          return async (key, body) => {
            const p = await k.acquire(key);
            try {
              await body();
            } finally {
              p.release();
            }
          };
        },
      };
    },
  },

  "permits run()": {
    kind: "permits",
    pkg: "permit-pool",
    label: "permits Semaphore.run(fn)",
    load: async () => {
      const { Semaphore } = await permitsModule();
      return {
        task(cap) {
          const s = new Semaphore(cap);
          return (body) => s.run(body);
        },
        async uncontended(cap, n) {
          const s = new Semaphore(cap);
          for (let i = 0; i < n; i++) await s.run(noop);
        },
        contended(cap, n, body) {
          const s = new Semaphore(cap);
          return startAll(n, () => s.run(body));
        },
      };
    },
  },

  "permits limit()": {
    kind: "permits",
    pkg: "permit-pool",
    label: "permits limit(fn) (p-limit compatible)",
    load: async () => {
      const { limit } = await permitsModule();
      return {
        task: (cap) => limit(cap),
        async uncontended(cap, n) {
          const lim = limit(cap);
          for (let i = 0; i < n; i++) await lim(noop);
        },
        contended(cap, n, body) {
          const lim = limit(cap);
          return startAll(n, () => lim(body));
        },
        waiters(cap) {
          const lim = limit(cap);
          return { occupy: () => void lim(never), enqueue: () => void lim(noop) };
        },
      };
    },
  },

  "permits map()": {
    kind: "permits",
    pkg: "permit-pool",
    label: "permits map()",
    load: async () => {
      const { map } = await permitsModule();
      return { map: (items, fn, concurrency) => map(items, fn, { concurrency }) };
    },
  },

  // ---- Issue 12: scheduling. A seeded PRNG gives every run the same priorities. ----------

  "permits priority": {
    kind: "permits",
    pkg: "permit-pool",
    label: "permits Semaphore, a random priority 0–9 per acquire",
    load: async () => {
      const { Semaphore } = await permitsModule();
      const acquireWith = (make) => {
        const next = prng(0x9e1);
        return (cap) => {
          const s = make(cap);
          return () => s.acquire({ priority: (next() * 10) | 0 });
        };
      };
      const prioritized = acquireWith((cap) => new Semaphore(cap));
      return {
        task(cap) {
          const acquire = prioritized(cap);
          return async (body) => {
            const p = await acquire();
            try {
              await body();
            } finally {
              p.release();
            }
          };
        },
        contended(cap, n, body) {
          const acquire = prioritized(cap);
          const one = async () => {
            const p = await acquire();
            try {
              await body();
            } finally {
              p.release();
            }
          };
          return startAll(n, one);
        },
        waiters(cap) {
          const s = new Semaphore(cap);
          const next = prng(0x9e1);
          return { occupy: () => void s.acquire(), enqueue: () => void s.acquire({ priority: (next() * 10) | 0 }) };
        },
        // Hold the only permit, queue every waiter with its priority, then let them drain.
        async priorityDrain(priorities) {
          const s = new Semaphore(1);
          const held = await s.acquire();
          const order = [];
          const one = async (priority) => {
            const p = await s.acquire({ priority });
            order.push(priority);
            p.release();
          };
          const stop = startTimer();
          const tasks = new Array(priorities.length);
          for (let i = 0; i < priorities.length; i++) tasks[i] = one(priorities[i]);
          const enqueueMs = stop().wall;
          held.release();
          await Promise.all(tasks);
          return { t: stop(), order, enqueueMs };
        },
      };
    },
  },

  // The floor of serving by priority: the least structure that can — one FIFO array of
  // resolvers per priority (a bucket queue: priorities are small integers here), no
  // cancellation, no weights, no stats. Beside "naive" (the same least structure for FIFO),
  // it shows what ordering by priority costs on this machine whoever does it: waiters are
  // resumed out of allocation order, so each hand-off touches memory far from the last.
  "naive priority": {
    kind: "naive",
    label: "naive bucket queue by priority (the floor of serving by priority)",
    load: async () => {
      const make = (cap) => {
        const buckets = [];
        let top = -1;
        let queued = 0;
        let free = cap;
        return {
          acquire(priority) {
            if (free > 0 && queued === 0) {
              free--;
              return RESOLVED;
            }
            return new Promise((resolve) => {
              const b = (buckets[priority] ??= { items: [], head: 0 });
              b.items.push(resolve);
              queued++;
              if (priority > top) top = priority;
            });
          },
          release() {
            if (queued === 0) {
              free++;
              return;
            }
            for (;;) {
              const b = buckets[top];
              if (b !== undefined && b.head < b.items.length) {
                const resolve = b.items[b.head];
                b.items[b.head++] = undefined;
                if (b.head === b.items.length) b.items.length = b.head = 0;
                queued--;
                resolve();
                return;
              }
              top--;
            }
          },
        };
      };
      const prioritized = (cap) => {
        const s = make(cap);
        const next = prng(0x9e1);
        return async (body) => {
          await s.acquire((next() * 10) | 0);
          try {
            return await body();
          } finally {
            s.release();
          }
        };
      };
      return {
        task: prioritized,
        contended(cap, n, body) {
          const s = make(cap);
          const next = prng(0x9e1);
          const one = async () => {
            await s.acquire((next() * 10) | 0);
            try {
              await body();
            } finally {
              s.release();
            }
          };
          return startAll(n, one);
        },
        async priorityDrain(priorities) {
          const s = make(1);
          await s.acquire(0);
          const order = [];
          const one = async (priority) => {
            await s.acquire(priority);
            order.push(priority);
            s.release();
          };
          const stop = startTimer();
          const tasks = new Array(priorities.length);
          for (let i = 0; i < priorities.length; i++) tasks[i] = one(priorities[i]);
          const enqueueMs = stop().wall;
          s.release();
          await Promise.all(tasks);
          return { t: stop(), order, enqueueMs };
        },
      };
    },
  },

  "permits FIFO drain": {
    kind: "permits",
    pkg: "permit-pool",
    label: "permits Semaphore, the same drain with no priority (plain FIFO)",
    load: async () => {
      const { Semaphore } = await permitsModule();
      return {
        async priorityDrain(priorities) {
          const s = new Semaphore(1);
          const held = await s.acquire();
          const one = async () => {
            const p = await s.acquire();
            p.release();
          };
          const stop = startTimer();
          const tasks = new Array(priorities.length);
          for (let i = 0; i < priorities.length; i++) tasks[i] = one();
          const enqueueMs = stop().wall;
          held.release();
          await Promise.all(tasks);
          return { t: stop(), order: null, enqueueMs };
        },
      };
    },
  },

  "permits tenant": {
    kind: "permits",
    pkg: "permit-pool",
    label: "permits Semaphore, every waiter with a tenant",
    load: async () => {
      const { Semaphore } = await permitsModule();
      return {
        task(cap) {
          const s = new Semaphore(cap);
          return async (body) => {
            const p = await s.acquire({ tenant: "acme" });
            try {
              await body();
            } finally {
              p.release();
            }
          };
        },
        waiters(cap) {
          const s = new Semaphore(cap);
          return { occupy: () => void s.acquire(), enqueue: () => void s.acquire({ tenant: "acme" }) };
        },
        fairShares: (spec) => fairShares(Semaphore, spec),
        lightTenant: (spec) => lightTenant(Semaphore, spec, "fair"),
      };
    },
  },

  "permits light busy": {
    kind: "permits",
    pkg: "permit-pool",
    label: "permits Semaphore, the light tenant beside a full capacity with nobody queued (the floor)",
    load: async () => {
      const { Semaphore } = await permitsModule();
      return { lightTenant: (spec) => lightTenant(Semaphore, spec, "busy") };
    },
  },

  "permits light alone": {
    kind: "permits",
    pkg: "permit-pool",
    label: "permits Semaphore, the light tenant with nobody else",
    load: async () => {
      const { Semaphore } = await permitsModule();
      return { lightTenant: (spec) => lightTenant(Semaphore, spec, "alone") };
    },
  },

  "permits FIFO": {
    kind: "permits",
    pkg: "permit-pool",
    label: "permits Semaphore with no tenants (one shared FIFO)",
    load: async () => {
      const { Semaphore } = await permitsModule();
      return { lightTenant: (spec) => lightTenant(Semaphore, spec, "fifo") };
    },
  },

  "p-limit": {
    kind: "peer",
    pkg: "p-limit",
    label: "p-limit",
    load: async () => {
      const { default: pLimit } = await import("p-limit");
      return {
        task: (cap) => pLimit(cap),
        async uncontended(cap, n) {
          const lim = pLimit(cap);
          for (let i = 0; i < n; i++) await lim(noop);
        },
        contended(cap, n, body) {
          const lim = pLimit(cap);
          return startAll(n, () => lim(body));
        },
        waiters(cap) {
          const lim = pLimit(cap);
          return { occupy: () => void lim(never), enqueue: () => void lim(noop) };
        },
        keyed: perKey((cap) => pLimit(cap)),
      };
    },
  },

  "p-limit .map": {
    kind: "peer",
    pkg: "p-limit",
    label: "p-limit limit.map()",
    load: async () => {
      const { default: pLimit } = await import("p-limit");
      return { map: (items, fn, concurrency) => pLimit(concurrency).map(items, fn) };
    },
  },

  "p-queue": {
    kind: "peer",
    pkg: "p-queue",
    label: "p-queue add()",
    // Its queued-abort removal is indexOf + splice, O(queue length) per cancel: at the full
    // size (100,000 cancels in a 10,000,000 queue) that is hours, so (d) runs it at 1/10 size.
    cancelScale: 0.1,
    load: async () => {
      const { default: PQueue } = await import("p-queue");
      const task = (cap) => {
        const q = new PQueue({ concurrency: cap });
        return (body) => q.add(body);
      };
      return {
        task,
        async uncontended(cap, n) {
          const q = new PQueue({ concurrency: cap });
          for (let i = 0; i < n; i++) await q.add(noop);
        },
        contended(cap, n, body) {
          const q = new PQueue({ concurrency: cap });
          return startAll(n, () => q.add(body));
        },
        waiters(cap) {
          const q = new PQueue({ concurrency: cap });
          return { occupy: () => void q.add(never), enqueue: () => void q.add(noop) };
        },
        cancellable(cap) {
          const q = new PQueue({ concurrency: cap });
          return {
            occupy: () => void q.add(never),
            acquire: (signal) => (signal === undefined ? q.add(noop) : q.add(noop, { signal })),
          };
        },
        keyed: perKey(task),
        // Concurrency 1, one task blocking while every prioritized task is added, then drained.
        async priorityDrain(priorities) {
          const q = new PQueue({ concurrency: 1 });
          let unblock;
          void q.add(() => new Promise((resolve) => (unblock = resolve)));
          const order = [];
          const stop = startTimer();
          const tasks = new Array(priorities.length);
          for (let i = 0; i < priorities.length; i++) {
            const priority = priorities[i];
            tasks[i] = q.add(() => void order.push(priority), { priority });
          }
          const enqueueMs = stop().wall;
          unblock();
          await Promise.all(tasks);
          return { t: stop(), order, enqueueMs };
        },
      };
    },
  },

  "async-sema": {
    kind: "peer",
    pkg: "async-sema",
    label: "async-sema Sema",
    load: async () => {
      const { Sema } = await import("async-sema");
      const base = acquireRelease((cap) => new Sema(cap));
      return { ...base, keyed: perKey(base.task) };
    },
  },

  "async-mutex": {
    kind: "peer",
    pkg: "async-mutex",
    label: "async-mutex Semaphore",
    load: async () => {
      const { Semaphore } = await import("async-mutex");
      const task = (cap) => {
        const s = new Semaphore(cap);
        return async (body) => {
          const [, release] = await s.acquire();
          try {
            await body();
          } finally {
            release();
          }
        };
      };
      return {
        task,
        async uncontended(cap, n) {
          const s = new Semaphore(cap);
          for (let i = 0; i < n; i++) {
            const [, release] = await s.acquire();
            release();
          }
        },
        contended(cap, n, body) {
          return startAll(n, task(cap).bind(undefined, body));
        },
        waiters(cap) {
          const s = new Semaphore(cap);
          return { occupy: () => void s.acquire(), enqueue: () => void s.acquire() };
        },
        weighted(cap) {
          const s = new Semaphore(cap);
          return async (weight, body) => {
            const [, release] = await s.acquire(weight);
            try {
              await body();
            } finally {
              release();
            }
          };
        },
        keyed: perKey(task),
      };
    },
  },

  "es-toolkit": {
    kind: "peer",
    pkg: "es-toolkit",
    label: "es-toolkit Semaphore",
    load: async () => {
      const { Semaphore } = await import("es-toolkit");
      const base = acquireRelease((cap) => new Semaphore(cap));
      return { ...base, keyed: perKey(base.task) };
    },
  },

  "@shopify/semaphore": {
    kind: "peer",
    pkg: "@shopify/semaphore",
    label: "@shopify/semaphore",
    load: async () => {
      const { Semaphore } = await import("@shopify/semaphore");
      const task = (cap) => {
        const s = new Semaphore(cap);
        return async (body) => {
          const permit = await s.acquire();
          try {
            await body();
          } finally {
            await permit.release();
          }
        };
      };
      return {
        task,
        async uncontended(cap, n) {
          const s = new Semaphore(cap);
          for (let i = 0; i < n; i++) {
            const permit = await s.acquire();
            await permit.release();
          }
        },
        contended(cap, n, body) {
          return startAll(n, task(cap).bind(undefined, body));
        },
        waiters(cap) {
          const s = new Semaphore(cap);
          return { occupy: () => void s.acquire(), enqueue: () => void s.acquire() };
        },
        keyed: perKey(task),
      };
    },
  },

  "p-map": {
    kind: "peer",
    pkg: "p-map",
    label: "p-map",
    load: async () => {
      const { default: pMap } = await import("p-map");
      return { map: (items, fn, concurrency) => pMap(items, fn, { concurrency }) };
    },
  },
};
