/* global setTimeout -- present in every runtime this file targets */
// A runtime-neutral subset of the core contract: plain ECMAScript, no imports,
// no test framework, no Node globals. The same cases run on Bun and Deno
// (test/platform/smoke.mjs) and inside Chromium (test/platform/browser.test.ts),
// against the built dist/index.js that users actually import.
//
// The full contract lives in test/core (vitest); this file only proves that the
// behaviours users notice first — FIFO, abort, timeout, close, run — hold in
// every runtime the core claims to support.

/** @param {unknown} condition @param {string} message @returns {asserts condition} */
function ok(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

/** @param {unknown} actual @param {unknown} expected @param {string} message */
function equal(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (!Object.is(actual, expected) && a !== e) throw new Error(`assertion failed: ${message}: expected ${e}, got ${a}`);
}

/** Resolves with what `promise` rejects with; fails if it resolves. @param {Promise<unknown>} promise @param {string} message */
async function rejection(promise, message) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error(`assertion failed: ${message}: expected a rejection`);
}

/** Lets every queued microtask (and one macrotask turn) run. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * The cases, as `{ name, fn }`, bound to one copy of the package.
 * @param {any} permits the namespace of `permits` (dist/index.js)
 * @returns {{ name: string, fn: () => Promise<void> }[]}
 */
export function cases(permits) {
  const { Semaphore, Lock, limit, map, KeyedSemaphore, RateLimiter, Limiter, ClosedError, PermitsError } = permits;
  return [
    {
      name: "exports the core API",
      fn: async () => {
        for (const name of ["Semaphore", "Lock", "limit", "map", "KeyedSemaphore", "RateLimiter", "Limiter", "ClosedError", "PermitsError"]) {
          ok(typeof permits[name] === "function", `${name} is exported as a function`);
        }
      },
    },
    {
      name: "grants waiters in FIFO order",
      fn: async () => {
        const sem = new Semaphore(1);
        const first = await sem.acquire();
        /** @type {(string | number)[]} */
        const order = [];
        const waiters = [0, 1, 2].map((i) =>
          sem.acquire().then((/** @type {any} */ permit) => {
            order.push(i);
            return permit;
          }),
        );
        equal(sem.queued, 3, "three waiters queued");
        first.release();
        for (const waiter of waiters) (await waiter).release();
        equal(order, [0, 1, 2], "grant order");
        equal(sem.inUse, 0, "nothing held at the end");
      },
    },
    {
      name: "a heavy waiter at the head is not overtaken by a lighter one",
      fn: async () => {
        const sem = new Semaphore(2);
        const held = await sem.acquire();
        /** @type {(string | number)[]} */
        const order = [];
        const heavy = sem.acquire({ weight: 2 }).then((/** @type {any} */ p) => (order.push("heavy"), p));
        const light = sem.acquire({ weight: 1 }).then((/** @type {any} */ p) => (order.push("light"), p));
        await tick();
        equal(order, [], "the free permit is not given to the light waiter behind the heavy one");
        equal(sem.tryAcquire(1), undefined, "tryAcquire does not barge past the queue");
        held.release();
        (await heavy).release();
        (await light).release();
        equal(order, ["heavy", "light"], "grant order");
      },
    },
    {
      name: "an aborted waiter rejects with signal.reason and leaves the queue",
      fn: async () => {
        const sem = new Semaphore(1);
        const held = await sem.acquire();
        const controller = new AbortController();
        const waiting = sem.acquire({ signal: controller.signal });
        const reason = new Error("stop");
        controller.abort(reason);
        equal(await rejection(waiting, "aborted acquire"), reason, "rejects with exactly the reason");
        equal(sem.queued, 0, "the waiter left the queue");
        held.release();
        equal(sem.available, 1, "no permit leaked");
      },
    },
    {
      name: "an already-aborted signal rejects even when a permit is free",
      fn: async () => {
        const sem = new Semaphore(1);
        const error = await rejection(sem.acquire({ signal: AbortSignal.abort() }), "pre-aborted acquire");
        ok(error instanceof DOMException && error.name === "AbortError", "rejects with the platform's AbortError");
        equal(sem.inUse, 0, "nothing held");
      },
    },
    {
      name: "an elapsed timeout rejects with a TimeoutError DOMException",
      fn: async () => {
        const sem = new Semaphore(1);
        const held = await sem.acquire();
        const error = /** @type {any} */ (await rejection(sem.acquire({ timeout: 10 }), "timed-out acquire"));
        ok(error instanceof DOMException, "a DOMException");
        equal(error.name, "TimeoutError", "named TimeoutError");
        equal(sem.queued, 0, "the waiter left the queue");
        held.release();
        equal(sem.available, 1, "no permit leaked");
      },
    },
    {
      name: "close rejects waiters and later acquires; held permits still release",
      fn: async () => {
        const sem = new Semaphore(1);
        const held = await sem.acquire();
        const waiting = sem.acquire();
        sem.close();
        const error = /** @type {any} */ (await rejection(waiting, "waiter after close"));
        ok(error instanceof ClosedError, "a ClosedError");
        ok(error instanceof PermitsError, "a PermitsError");
        equal(error.code, "ERR_PERMITS_CLOSED", "stable code");
        ok(sem.closed, "closed is true");
        ok((await rejection(sem.acquire(), "acquire after close")) instanceof ClosedError, "later acquire rejects");
        held.release();
        equal(sem.inUse, 0, "the held permit released");
      },
    },
    {
      name: "close(reason) rejects waiters with exactly the reason",
      fn: async () => {
        const sem = new Semaphore(1);
        const held = await sem.acquire();
        const waiting = sem.acquire();
        const reason = new Error("shutting down");
        sem.close(reason);
        equal(await rejection(waiting, "waiter after close(reason)"), reason, "exactly the reason");
        held.release();
      },
    },
    {
      name: "run returns the result and releases however fn ends",
      fn: async () => {
        const sem = new Semaphore(2);
        equal(await sem.run(async () => 42), 42, "async result");
        equal(await sem.run(() => "sync"), "sync", "sync result");
        const boom = new Error("boom");
        equal(await rejection(sem.run(async () => { throw boom; }), "async throw"), boom, "async error rethrown");
        equal(await rejection(sem.run(() => { throw boom; }), "sync throw"), boom, "sync error rethrown");
        equal(sem.inUse, 0, "every run released its permit");
      },
    },
    {
      name: "a permit releases exactly once, also through Symbol.dispose",
      fn: async () => {
        const sem = new Semaphore(2);
        const a = await sem.acquire();
        const b = await sem.acquire();
        a.release();
        a.release();
        equal(sem.inUse, 1, "a second release does not free someone else's permit");
        ok(typeof b[Symbol.dispose] === "function", "Permit has Symbol.dispose");
        b[Symbol.dispose]();
        equal(sem.inUse, 0, "dispose released");
        const c = await sem.acquire();
        ok(typeof c[Symbol.asyncDispose] === "function", "Permit has Symbol.asyncDispose");
        await c[Symbol.asyncDispose]();
        equal(sem.inUse, 0, "asyncDispose released");
      },
    },
    {
      name: "bad input fails synchronously with RangeError/TypeError",
      fn: async () => {
        for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          let thrown;
          try {
            new Semaphore(bad);
          } catch (error) {
            thrown = error;
          }
          ok(thrown instanceof RangeError || thrown instanceof TypeError, `new Semaphore(${bad}) throws`);
        }
        const sem = new Semaphore(1);
        let thrown;
        try {
          void sem.acquire({ weight: 2 });
        } catch (error) {
          thrown = error;
        }
        ok(thrown instanceof RangeError, "a weight above the capacity throws a RangeError synchronously");
      },
    },
    {
      name: "onIdle resolves when nothing is held or queued",
      fn: async () => {
        const sem = new Semaphore(1);
        const held = await sem.acquire();
        let idle = false;
        const done = sem.onIdle().then(() => (idle = true));
        await tick();
        equal(idle, false, "not idle while held");
        held.release();
        await done;
        equal(idle, true, "idle after release");
      },
    },
    {
      name: "Lock, limit, map and KeyedSemaphore bound concurrency",
      fn: async () => {
        const lock = new Lock();
        const p = await lock.acquire();
        ok(lock.locked, "lock.locked while held");
        p.release();
        ok(!lock.locked, "unlocked after release");

        const lim = limit(2);
        let active = 0;
        let peak = 0;
        const work = async (/** @type {number} */ i) => {
          active++;
          peak = Math.max(peak, active);
          await tick();
          active--;
          return i * 2;
        };
        equal(await Promise.all([1, 2, 3, 4, 5].map((i) => lim(work, i))), [2, 4, 6, 8, 10], "limit results");
        equal(peak, 2, "limit peak concurrency");

        peak = 0;
        equal(await map([1, 2, 3, 4, 5], (/** @type {number} */ i) => work(i), { concurrency: 3 }), [2, 4, 6, 8, 10], "map results in order");
        equal(peak, 3, "map peak concurrency");

        const perHost = new KeyedSemaphore(1);
        const a = await perHost.acquire("a");
        const b = await perHost.acquire("b", { timeout: 1000 }); // would time out if keys shared one semaphore
        a.release();
        b.release();
        equal(await perHost.run("a", async () => "ran"), "ran", "keyed run");
      },
    },
    {
      name: "RateLimiter spaces starts; Limiter bounds concurrency and rate together",
      fn: async () => {
        // 100 per second with a burst of 2: two start at once, the third ~10 ms later.
        const rate = new RateLimiter({ limit: 100, interval: 1000, burst: 2 });
        const t0 = Date.now();
        /** @type {number[]} */
        const starts = [];
        await Promise.all([0, 1, 2].map(() => rate.run(() => starts.push(Date.now() - t0))));
        equal(starts.length, 3, "all three started");
        ok((starts[2] ?? 0) >= 5, `the third start waited for the rate (started at ${starts[2]} ms)`);
        equal(rate.queued, 0, "nothing left queued");

        const limiter = new Limiter({ concurrency: 1, rate: { limit: 1000, interval: 1000 } });
        const held = await limiter.acquire();
        ok(limiter.tryAcquire() === undefined, "the concurrency half is full");
        held.release();
        equal(await limiter.run(async () => "ran"), "ran", "Limiter.run");
        limiter.close();
      },
    },
  ];
}

/**
 * Runs every case in order and reports.
 * @param {any} permits
 * @param {(line: string) => void} [log]
 * @returns {Promise<{ passed: number, failed: number, failures: { name: string, error: string }[] }>}
 */
export async function runCases(permits, log = () => {}) {
  let passed = 0;
  const failures = [];
  for (const { name, fn } of cases(permits)) {
    try {
      await fn();
      passed++;
      log(`  ok   ${name}`);
    } catch (error) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      failures.push({ name, error: text });
      log(`  FAIL ${name}\n       ${text}`);
    }
  }
  return { passed, failed: failures.length, failures };
}
