/**
 * The semaphore contract (DESIGN.md "The contract", issue 2) as a test suite
 * that any backend can run: the in-process `Semaphore` today, a Redis-backed one
 * later.
 *
 * Written for the weakest backend: every call may be asynchronous (a Redis
 * `tryAcquire` returns a Promise, a `release()` lands on the server a round trip
 * later), so results are always awaited and behaviour is observed only through
 * grants, rejections and `tryAcquire` — never through synchronous counters.
 * "Still waiting" can only be observed by giving the backend a moment (`settle`,
 * a few ms of real time); "eventually freed" is observed with an `acquire` that
 * has a short timeout, which waits for the release to land instead of guessing.
 */
import { afterEach, describe, expect, it } from "vitest";

/** What the suite needs from a permit. */
export interface PermitLike {
  release(): unknown;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): PromiseLike<void>;
}

export interface AcquireOptionsLike {
  weight?: number;
  signal?: AbortSignal;
  timeout?: number;
}

/** The part of a stats snapshot every backend reports (DESIGN.md "Introspection"). */
export interface StatsLike {
  capacity: number;
  inUse: number;
  queued: number;
}

/** What the suite needs from a semaphore; results may be plain values or promises. */
export interface SemaphoreLike {
  readonly capacity: number;
  stats(): StatsLike | PromiseLike<StatsLike>;
  acquire(options?: AcquireOptionsLike): Promise<PermitLike>;
  tryAcquire(weight?: number): PermitLike | undefined | PromiseLike<PermitLike | undefined>;
  run<T>(fn: (permit: PermitLike) => T | PromiseLike<T>, options?: AcquireOptionsLike): Promise<T>;
  close(reason?: unknown): unknown;
  onIdle(): Promise<void>;
}

export type SemaphoreFactory = (capacity: number) => Promise<{ sem: SemaphoreLike; dispose(): Promise<void> }>;

/** Real time given to a backend to act on what it was told (a Redis round trip is well under this). */
const SETTLE_MS = 25;
/** Upper bound for "this must happen soon", e.g. a release landing. */
const SOON_MS = 200;

const settle = (ms = SETTLE_MS): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries `check` until it passes or SOON_MS have gone by (a release may still be in flight). */
async function eventually(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + SOON_MS;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await settle(5);
    }
  }
}

interface Tracked<T> {
  readonly promise: Promise<T>;
  state: "pending" | "fulfilled" | "rejected";
  value: T | undefined;
  reason: unknown;
}

function track<T>(promise: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { promise, state: "pending", value: undefined, reason: undefined };
  promise.then(
    (value) => {
      t.state = "fulfilled";
      t.value = value;
    },
    (reason: unknown) => {
      t.state = "rejected";
      t.reason = reason;
    },
  );
  return t;
}

/** The error of a call that may throw synchronously or reject; `undefined` if it succeeded. */
async function errorOf(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Waits (up to SOON_MS) for a tracked promise to reach `state`; a backend may need a round trip. */
async function until<T>(t: Tracked<T>, state: "fulfilled" | "rejected"): Promise<void> {
  await eventually(async () => expect(t.state).toBe(state));
}

function held<T>(t: Tracked<T>): T {
  expect(t.state).toBe("fulfilled");
  return t.value as T;
}

export function semaphoreContract(name: string, factory: SemaphoreFactory): void {
  describe(`semaphore contract: ${name}`, () => {
    const disposers: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const dispose of disposers.splice(0)) await dispose();
    });

    async function make(capacity: number): Promise<SemaphoreLike> {
      const handle = await factory(capacity);
      disposers.push(() => handle.dispose());
      return handle.sem;
    }

    /** Queue an acquire and give the backend time to register it, so call order is queue order. */
    async function enqueue(sem: SemaphoreLike, options?: AcquireOptionsLike): Promise<Tracked<PermitLike>> {
      const t = track(sem.acquire(options));
      await settle();
      return t;
    }

    /** Passes once the given weight can be acquired again within SOON_MS; releases it right away. */
    async function expectFreeSoon(sem: SemaphoreLike, weight = 1): Promise<void> {
      const permit = await sem.acquire({ weight, timeout: SOON_MS });
      await permit.release();
    }

    describe("fairness", () => {
      it("grants waiters in request order (FIFO)", async () => {
        const sem = await make(2);
        const h1 = await sem.acquire();
        const h2 = await sem.acquire();
        const order: string[] = [];
        const a = await enqueue(sem);
        const b = await enqueue(sem);
        const c = await enqueue(sem);
        for (const [label, t] of [["a", a], ["b", b], ["c", c]] as const) void t.promise.then(() => order.push(label));

        await h1.release();
        await eventually(async () => expect(order).toEqual(["a"]));
        await h2.release();
        await eventually(async () => expect(order).toEqual(["a", "b"]));
        expect(c.state).toBe("pending");
        await held(a).release();
        await eventually(async () => expect(order).toEqual(["a", "b", "c"]));
        await held(b).release();
        await held(c).release();
        await expectFreeSoon(sem, 2);
      });

      it("large acquire does not starve: a lighter later waiter that fits waits behind a heavy one", async () => {
        const sem = await make(3);
        const h1 = await sem.acquire();
        const h2 = await sem.acquire();
        const heavy = await enqueue(sem, { weight: 3 });
        const light = await enqueue(sem, { weight: 1 }); // one permit is free, but the heavy waiter is first
        expect(light.state).toBe("pending");

        await h1.release();
        await settle();
        expect(heavy.state).toBe("pending");
        expect(light.state).toBe("pending");
        await h2.release();
        await until(heavy, "fulfilled");
        expect(light.state).toBe("pending");
        await held(heavy).release();
        await until(light, "fulfilled");
        await held(light).release();
        await expectFreeSoon(sem, 3);
      });

      it("newcomers never barge: tryAcquire fails and acquire queues while someone waits, even with room", async () => {
        const sem = await make(2);
        const h = await sem.acquire();
        const heavy = await enqueue(sem, { weight: 2 });
        expect(await sem.tryAcquire(1)).toBeUndefined();
        const newcomer = await enqueue(sem, { weight: 1 });
        expect(newcomer.state).toBe("pending");

        await h.release();
        await until(heavy, "fulfilled");
        expect(newcomer.state).toBe("pending");
        await held(heavy).release();
        await until(newcomer, "fulfilled");
        await held(newcomer).release();
      });

      it("tryAcquire takes free permits when nobody waits", async () => {
        const sem = await make(2);
        const p = await sem.tryAcquire(2);
        expect(p).toBeDefined();
        expect(await sem.tryAcquire(1)).toBeUndefined();
        await p?.release();
        const q = await sem.tryAcquire();
        expect(q).toBeDefined();
        await q?.release();
      });
    });

    describe("permit-pool", () => {
      it("release is idempotent: a second release never frees someone else's permit", async () => {
        const sem = await make(1);
        const p = await sem.acquire();
        await p.release();
        await p.release();
        const q = await sem.acquire({ timeout: SOON_MS });
        await p.release(); // a third time, while q holds the only permit
        await settle();
        expect(await sem.tryAcquire(1)).toBeUndefined();
        const waiter = await enqueue(sem);
        await p.release();
        await settle();
        expect(waiter.state).toBe("pending");
        await q.release();
        await until(waiter, "fulfilled");
        await held(waiter).release();
        await held(waiter).release();
        await expectFreeSoon(sem);
      });

      it("`await using` releases at the end of the block", async () => {
        const sem = await make(1);
        {
          await using _p = await sem.acquire();
          expect(await sem.tryAcquire(1)).toBeUndefined();
        }
        await expectFreeSoon(sem);
      });

      it("`using` releases at the end of the block", async () => {
        const sem = await make(1);
        {
          using _p = await sem.acquire();
          expect(await sem.tryAcquire(1)).toBeUndefined();
        }
        await expectFreeSoon(sem);
      });

      it("disposing after an explicit release frees nothing more", async () => {
        const sem = await make(1);
        let other: PermitLike | undefined;
        {
          await using p = await sem.acquire();
          await p.release();
          other = await sem.acquire({ timeout: SOON_MS });
        } // disposes p a second time, while `other` holds the only permit
        await settle();
        expect(await sem.tryAcquire(1)).toBeUndefined();
        await other.release();
        await expectFreeSoon(sem);
      });
    });

    describe("run", () => {
      it("returns fn's result, passes the permit and releases after fn resolves", async () => {
        const sem = await make(1);
        let inside: PermitLike | undefined;
        const result = await sem.run(async (permit) => {
          inside = permit;
          expect(await sem.tryAcquire(1)).toBeUndefined();
          return 42;
        });
        expect(result).toBe(42);
        expect(inside).toBeDefined();
        await expectFreeSoon(sem);
      });

      it("rethrows fn's rejection (the same object) and releases", async () => {
        const sem = await make(1);
        const boom = new Error("boom");
        await expect(sem.run(async () => Promise.reject(boom))).rejects.toBe(boom);
        await expectFreeSoon(sem);
      });

      it("turns a synchronous throw in fn into a rejection and releases", async () => {
        const sem = await make(1);
        const boom = new Error("sync boom");
        let promise: Promise<unknown> | undefined;
        expect(() => {
          promise = sem.run(() => {
            throw boom;
          });
        }).not.toThrow();
        await expect(promise).rejects.toBe(boom);
        await expectFreeSoon(sem);
      });

      it("returns a synchronous fn's value", async () => {
        const sem = await make(1);
        expect(await sem.run(() => "sync")).toBe("sync");
        await expectFreeSoon(sem);
      });

      it("a permit released inside fn is not released again when fn ends", async () => {
        const sem = await make(1);
        let other: PermitLike | undefined;
        await sem.run(async (permit) => {
          await permit.release();
          other = await sem.acquire({ timeout: SOON_MS }); // someone else takes the permit
        });
        await settle();
        expect(await sem.tryAcquire(1)).toBeUndefined(); // run's own release freed nothing of other's
        await other?.release();
        await expectFreeSoon(sem);
      });

      it("an aborted wait never calls fn", async () => {
        const sem = await make(1);
        const h = await sem.acquire();
        const controller = new AbortController();
        let called = false;
        const running = track(
          sem.run(
            () => {
              called = true;
            },
            { signal: controller.signal },
          ),
        );
        await settle();
        const reason = new Error("stop");
        controller.abort(reason);
        await until(running, "rejected");
        expect(running.reason).toBe(reason);
        await h.release();
        await settle();
        expect(called).toBe(false);
        await expectFreeSoon(sem);
      });
    });

    describe("cancellation", () => {
      it("abort rejects a queued waiter with exactly signal.reason and leaks nothing", async () => {
        const sem = await make(1);
        const h = await sem.acquire();
        const controller = new AbortController();
        const waiter = await enqueue(sem, { signal: controller.signal });
        const reason = { custom: "reason" };
        controller.abort(reason);
        await until(waiter, "rejected");
        expect(waiter.reason).toBe(reason);
        await h.release();
        await expectFreeSoon(sem);
      });

      it("abort without a reason rejects with the platform's AbortError", async () => {
        const sem = await make(1);
        const h = await sem.acquire();
        const controller = new AbortController();
        const waiter = await enqueue(sem, { signal: controller.signal });
        controller.abort();
        await until(waiter, "rejected");
        expect(waiter.reason).toBe(controller.signal.reason);
        expect((waiter.reason as Error).name).toBe("AbortError");
        await h.release();
      });

      it("an already-aborted signal rejects even when a permit is free, and takes nothing", async () => {
        const sem = await make(2);
        const reason = new Error("already");
        await expect(sem.acquire({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
        await expect(sem.run(() => 1, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
        const all = await sem.tryAcquire(2);
        expect(all).toBeDefined();
        await all?.release();
      });

      it("abort after the grant changes nothing: the permit stays held until released", async () => {
        const sem = await make(1);
        const controller = new AbortController();
        const p = await sem.acquire({ signal: controller.signal });
        controller.abort();
        await settle();
        expect(await sem.tryAcquire(1)).toBeUndefined();
        await p.release();
        await expectFreeSoon(sem);
      });

      it("timeout rejects with a DOMException named TimeoutError and leaks nothing", async () => {
        const sem = await make(1);
        const h = await sem.acquire();
        const err = await errorOf(() => sem.acquire({ timeout: 30 }));
        expect(err).toBeDefined();
        expect((err as Error).name).toBe("TimeoutError");
        await h.release();
        await expectFreeSoon(sem);
      });

      it("a timeout does not fire once the permit is granted", async () => {
        const sem = await make(1);
        const p = await sem.acquire({ timeout: 30 });
        await settle(60);
        expect(await sem.tryAcquire(1)).toBeUndefined();
        await p.release();
        await expectFreeSoon(sem);
      });

      it("abort of the head waiter wakes the waiters behind it that now fit", async () => {
        const sem = await make(2);
        const h = await sem.acquire();
        const controller = new AbortController();
        const heavy = await enqueue(sem, { weight: 2, signal: controller.signal });
        const light = await enqueue(sem, { weight: 1 });
        expect(light.state).toBe("pending");
        controller.abort();
        await until(heavy, "rejected");
        await until(light, "fulfilled");
        await held(light).release();
        await h.release();
        await expectFreeSoon(sem, 2);
      });

      it("timeout of the head waiter wakes the waiters behind it that now fit", async () => {
        const sem = await make(2);
        const h = await sem.acquire();
        const heavy = track(sem.acquire({ weight: 2, timeout: 60 }));
        await settle();
        const light = await enqueue(sem, { weight: 1 });
        const lightPermit = await light.promise; // granted once the heavy waiter times out
        await until(heavy, "rejected");
        expect((heavy.reason as Error).name).toBe("TimeoutError");
        await lightPermit.release();
        await h.release();
        await expectFreeSoon(sem, 2);
      });

      it("an aborted waiter in the middle leaves the others in order", async () => {
        const sem = await make(1);
        const h = await sem.acquire();
        const a = await enqueue(sem);
        const controller = new AbortController();
        const b = await enqueue(sem, { signal: controller.signal });
        const c = await enqueue(sem);
        controller.abort();
        await h.release();
        await until(a, "fulfilled");
        await until(b, "rejected");
        expect(c.state).toBe("pending");
        await held(a).release();
        await until(c, "fulfilled");
        await held(c).release();
      });
    });

    describe("introspection", () => {
      it("stats() reports capacity, inUse and queued (queued counts waiters, not weights)", async () => {
        const sem = await make(3);
        expect(sem.capacity).toBe(3);
        expect(await sem.stats()).toMatchObject({ capacity: 3, inUse: 0, queued: 0 });
        const p = await sem.acquire({ weight: 2 });
        expect(await sem.stats()).toMatchObject({ capacity: 3, inUse: 2, queued: 0 });
        const a = await enqueue(sem, { weight: 2 });
        const b = await enqueue(sem, { weight: 3 });
        expect(await sem.stats()).toMatchObject({ inUse: 2, queued: 2 });
        await p.release();
        await until(a, "fulfilled");
        expect(await sem.stats()).toMatchObject({ inUse: 2, queued: 1 });
        await held(a).release();
        await settle();
        expect(await sem.stats()).toMatchObject({ inUse: 3, queued: 0 });
        await held(b).release();
        await eventually(async () => expect(await sem.stats()).toMatchObject({ inUse: 0, queued: 0 }));
      });
    });

    describe("close and onIdle", () => {
      it("close() rejects waiters and later acquires with a ClosedError", async () => {
        const sem = await make(1);
        const h = await sem.acquire();
        const waiter = await enqueue(sem);
        await sem.close();
        await until(waiter, "rejected");
        expect(waiter.reason).toBeInstanceOf(Error);
        expect((waiter.reason as Error).name).toBe("ClosedError");
        const later = await errorOf(() => sem.acquire());
        expect((later as Error | undefined)?.name).toBe("ClosedError");
        const laterRun = await errorOf(() => sem.run(() => 1));
        expect((laterRun as Error | undefined)?.name).toBe("ClosedError");
        await h.release();
      });

      it("close(reason) rejects waiters with exactly that reason, and later acquires too", async () => {
        const sem = await make(1);
        const h = await sem.acquire();
        const a = await enqueue(sem);
        const b = await enqueue(sem, { weight: 1, signal: new AbortController().signal, timeout: 10_000 });
        const reason = new Error("shutting down");
        await sem.close(reason);
        await until(a, "rejected");
        expect(a.reason).toBe(reason);
        await until(b, "rejected");
        expect(b.reason).toBe(reason);
        const later = await errorOf(() => sem.acquire());
        // Issue 2 says close(reason) rejects "all waiters and later acquires"; a later acquire
        // may reasonably get the reason itself or a ClosedError — both are accepted here.
        expect(later === reason || (later as Error | undefined)?.name === "ClosedError").toBe(true);
        await h.release();
      });

      it("held permits still release after close, and onIdle then resolves", async () => {
        const sem = await make(2);
        const p = await sem.acquire();
        const q = await sem.acquire();
        await sem.close();
        const idle = track(sem.onIdle());
        await p.release();
        await settle();
        expect(idle.state).toBe("pending");
        await q.release();
        await expect(idle.promise).resolves.toBeUndefined();
      });

      it("onIdle resolves at once when idle, and only when nothing is held or queued", async () => {
        const sem = await make(1);
        await sem.onIdle();
        const h = await sem.acquire();
        const idle = track(sem.onIdle());
        const waiter = await enqueue(sem);
        await h.release();
        await until(waiter, "fulfilled");
        expect(idle.state).toBe("pending");
        await held(waiter).release();
        await expect(idle.promise).resolves.toBeUndefined();
      });
    });

    describe("bad input", () => {
      it("a weight above the capacity is a RangeError naming weight and value, and never queues", async () => {
        const sem = await make(2);
        const h = await sem.acquire({ weight: 2 });
        const waiter = await enqueue(sem);
        const err = await errorOf(() => sem.acquire({ weight: 3 }));
        expect(err).toBeInstanceOf(RangeError);
        expect((err as Error).message).toContain("weight");
        expect((err as Error).message).toContain("3");
        const tryErr = await errorOf(() => sem.tryAcquire(3));
        expect(tryErr).toBeInstanceOf(RangeError);
        await h.release();
        await until(waiter, "fulfilled"); // not blocked behind a doomed request
        await held(waiter).release();
        await expectFreeSoon(sem, 2);
      });

      it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
        "weight %s is a RangeError/TypeError naming weight and value, and disturbs nothing",
        async (weight) => {
          const sem = await make(2);
          const h = await sem.acquire({ weight: 2 });
          const a = await enqueue(sem);
          const b = await enqueue(sem);
          for (const call of [() => sem.acquire({ weight }), () => sem.tryAcquire(weight), () => sem.run(() => 1, { weight })]) {
            const err = await errorOf(call);
            expect(err instanceof RangeError || err instanceof TypeError).toBe(true);
            expect((err as Error).message).toContain("weight");
            expect((err as Error).message).toContain(String(weight));
          }
          await settle();
          expect(a.state).toBe("pending");
          expect(b.state).toBe("pending");
          await h.release();
          await until(a, "fulfilled");
          await until(b, "fulfilled");
          await held(a).release();
          await held(b).release();
          await expectFreeSoon(sem, 2);
        },
      );

      it("a weight of the wrong type is a TypeError", async () => {
        const sem = await make(2);
        const err = await errorOf(() => sem.acquire({ weight: "1" as unknown as number }));
        expect(err).toBeInstanceOf(TypeError);
        expect((err as Error).message).toContain("weight");
        await expectFreeSoon(sem, 2);
      });

      it("an unknown option is a TypeError naming it, and disturbs nothing", async () => {
        const sem = await make(1);
        const h = await sem.acquire();
        const waiter = await enqueue(sem);
        const bad = { wieght: 1 } as unknown as AcquireOptionsLike;
        for (const call of [() => sem.acquire(bad), () => sem.run(() => 1, bad)]) {
          const err = await errorOf(call);
          expect(err).toBeInstanceOf(TypeError);
          expect((err as Error).message).toContain("wieght");
        }
        await h.release();
        await until(waiter, "fulfilled");
        await held(waiter).release();
        await expectFreeSoon(sem);
      });
    });
  });
}
