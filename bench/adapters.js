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

import process from "node:process";
import {
  NaiveAbortableSemaphore,
  NaiveKeyed,
  NaivePermitSemaphore,
  NaiveSemaphore,
  NaiveWeightedSemaphore,
  naiveMap,
} from "./naive.js";

const noop = () => {};
const RESOLVED = Promise.resolve();
const never = () => new Promise(noop);

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
    pkg: "permits",
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
    pkg: "permits",
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
    pkg: "permits",
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
    pkg: "permits",
    label: "permits map()",
    load: async () => {
      const { map } = await permitsModule();
      return { map: (items, fn, concurrency) => map(items, fn, { concurrency }) };
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
