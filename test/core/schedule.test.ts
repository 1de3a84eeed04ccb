/**
 * Scheduling on the in-process Semaphore (issue 12) beyond the contract
 * suite: aging on fake timers, the move from FIFO to scheduling while
 * waiters are queued (their signals and timers keep working), cancellation
 * in the heap, shares measured over many grants, per-tenant stats, Lock, and
 * the bad-input rules for the constructor options.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { KeyedSemaphore, Limiter, Lock, RateLimiter, Semaphore, type Permit } from "../../src/index.js";
import { flush, held, syncError, track, useFakeClock } from "./helpers.js";

afterEach(() => {
  vi.useRealTimers();
});

/** Grants `n` times at capacity 1 with every tenant kept saturated; returns each tenant's count. */
async function shares(sem: Semaphore, tenants: readonly string[], n: number, perTenant = 50): Promise<Record<string, number>> {
  const count: Record<string, number> = Object.fromEntries(tenants.map((t) => [t, 0]));
  const blocker = await sem.acquire();
  let total = 0;
  const stop = new AbortController();
  const loops = tenants.flatMap((tenant) =>
    Array.from({ length: perTenant }, async () => {
      while (total < n) {
        let permit: Permit;
        try {
          permit = await sem.acquire({ tenant, signal: stop.signal });
        } catch {
          return;
        }
        if (total < n) {
          count[tenant]!++;
          total++;
        }
        if (total >= n) stop.abort();
        permit.release();
      }
    }),
  );
  blocker.release();
  await Promise.all(loops);
  return count;
}

describe("aging: a stated starvation bound", () => {
  it("a waiter that has waited `aging` ms is served before every later waiter, whatever their priority", async () => {
    useFakeClock();
    const sem = new Semaphore(1, { aging: 1_000 });
    let held_ = await sem.acquire();
    const low = track(sem.acquire({ priority: 0 }));
    const served: string[] = [];
    void low.promise.then(() => served.push("low"));
    // Higher-priority work keeps arriving and is served first while `low` is young.
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(200);
      const high = sem.acquire({ priority: 10 });
      held_.release();
      held_ = await high;
      served.push(`high${i}`);
    }
    expect(low.state).toBe("pending");
    // 1,000 ms after it queued, it goes before the high-priority waiter that came after it.
    const later = track(sem.acquire({ priority: 10 }));
    vi.advanceTimersByTime(200);
    held_.release();
    await flush();
    expect(low.state).toBe("fulfilled");
    expect(later.state).toBe("pending");
    held(low).release();
    await flush();
    held(later).release();
    expect(served.slice(0, 5)).toEqual(["high0", "high1", "high2", "high3", "low"]);
  });

  it("without aging, priority is strict: a low waiter waits as long as higher ones keep coming", async () => {
    useFakeClock();
    const sem = new Semaphore(1);
    let h = await sem.acquire();
    const low = track(sem.acquire({ priority: -1 }));
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(1_000);
      const high = sem.acquire();
      h.release();
      h = await high;
    }
    expect(low.state).toBe("pending");
    h.release();
    await flush();
    held(low).release();
  });

  it("rejects a bad aging option naming it, before anything is made", () => {
    expect(syncError(() => new Semaphore(1, { aging: 0 }))).toBeInstanceOf(RangeError);
    expect(syncError(() => new Semaphore(1, { aging: -5 }))).toBeInstanceOf(RangeError);
    expect(syncError(() => new Semaphore(1, { aging: "1s" as never }))).toBeInstanceOf(TypeError);
    expect(String(syncError(() => new Semaphore(1, { aging: Number.NaN })))).toMatch(/aging/);
    expect(syncError(() => new Semaphore(1, { aging: Infinity }))).toBeUndefined();
    expect(String(syncError(() => new Semaphore(1, { weights: 3 as never })))).toMatch(/weights/);
  });
});

describe("starting to schedule while FIFO waiters are queued", () => {
  it("keeps their order, and their signals and timeouts still cancel them", async () => {
    useFakeClock();
    const sem = new Semaphore(1);
    const h = await sem.acquire();
    const abort = new AbortController();
    const a = track(sem.acquire());
    const b = track(sem.acquire({ signal: abort.signal }));
    const c = track(sem.acquire({ timeout: 100 }));
    const d = track(sem.acquire());
    const urgent = track(sem.acquire({ priority: 1 })); // the semaphore starts scheduling here
    abort.abort(new Error("stop b"));
    vi.advanceTimersByTime(100);
    await flush();
    expect(b.state).toBe("rejected");
    expect(c.state).toBe("rejected");
    expect((c.reason as Error).name).toBe("TimeoutError");
    expect(sem.queued).toBe(3);
    h.release();
    await flush();
    expect(urgent.state).toBe("fulfilled");
    held(urgent).release();
    await flush();
    expect(a.state).toBe("fulfilled");
    expect(d.state).toBe("pending");
    held(a).release();
    await flush();
    held(d).release();
    expect(sem.stats()).toMatchObject({ inUse: 0, queued: 0 });
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("cancellation while scheduled", () => {
  it("an aborted waiter leaves the heap and unblocks the ones it was blocking", async () => {
    const sem = new Semaphore(2);
    const h = await sem.acquire();
    const abort = new AbortController();
    const heavy = track(sem.acquire({ weight: 2, priority: 5, signal: abort.signal }));
    const light = track(sem.acquire({ priority: 0 }));
    await flush();
    expect(light.state).toBe("pending"); // blocked by the heavy urgent one
    abort.abort();
    await flush();
    expect(heavy.state).toBe("rejected");
    expect(light.state).toBe("fulfilled");
    held(light).release();
    h.release();
    expect(sem.stats()).toMatchObject({ inUse: 0, queued: 0, aborted: 1 });
  });

  it("close() and resize() reject scheduled waiters as they do FIFO ones", async () => {
    const sem = new Semaphore(3);
    const h = await sem.acquire({ weight: 3 });
    const big = track(sem.acquire({ weight: 3, tenant: "a" }));
    const small = track(sem.acquire({ weight: 1, tenant: "b", priority: 2 }));
    sem.resize(2);
    await flush();
    expect(big.reason).toBeInstanceOf(RangeError);
    sem.close();
    await flush();
    expect(small.state).toBe("rejected");
    h.release();
    expect(sem.stats().tenants).toMatchObject({ a: { queued: 0, inUse: 0 }, b: { queued: 0, inUse: 0 } });
  });
});

describe("fair share over many grants", () => {
  it("three saturated tenants with weights 1:2:4 get shares within 5 % of 1/7, 2/7, 4/7", async () => {
    const weights: Record<string, number> = { a: 1, b: 2, c: 4 };
    const sem = new Semaphore(1, { weights: (t) => weights[t] ?? 1 });
    const got = await shares(sem, ["a", "b", "c"], 7_000);
    expect(got.a! / 7_000).toBeCloseTo(1 / 7, 1);
    expect(Math.abs(got.a! / 7_000 - 1 / 7)).toBeLessThan(0.05 / 7);
    expect(Math.abs(got.b! / 7_000 - 2 / 7)).toBeLessThan(0.1 / 7);
    expect(Math.abs(got.c! / 7_000 - 4 / 7)).toBeLessThan(0.2 / 7);
  });

  it("a light tenant's single waiter beside 10,000 queued of a heavy tenant is served within a few grants", async () => {
    const sem = new Semaphore(1);
    const h = await sem.acquire();
    let served = 0;
    let lightAt = -1;
    const heavy = Array.from({ length: 10_000 }, () =>
      sem.acquire({ tenant: "heavy" }).then((p) => {
        served++;
        p.release();
      }),
    );
    const light = sem.acquire({ tenant: "light" }).then((p) => {
      lightAt = served;
      p.release();
    });
    h.release();
    await Promise.all([...heavy, light]);
    expect(lightAt).toBeGreaterThanOrEqual(0);
    expect(lightAt).toBeLessThanOrEqual(2); // a shared FIFO would make it 10,000
  });

  it("a tenant that comes back after being away starts at the others' pace, with no saved-up credit", async () => {
    const sem = new Semaphore(1);
    const h = await sem.acquire();
    const order: string[] = [];
    const a = Array.from({ length: 20 }, () => sem.acquire({ tenant: "a" }).then((p) => (order.push("a"), p.release())));
    h.release();
    await Promise.all(a.slice(0, 10));
    // b arrives late with 10 waiters: it alternates with a from here, it does not get 10 in a row.
    const b = Array.from({ length: 10 }, () => sem.acquire({ tenant: "b" }).then((p) => (order.push("b"), p.release())));
    await Promise.all([...a, ...b]);
    const after = order.slice(10, 20).join("");
    expect(after).not.toContain("bbb");
  });
});

describe("stats().tenants", () => {
  it("is absent until a tenant is named, then counts queued, inUse, granted and waits per tenant", async () => {
    useFakeClock();
    const sem = new Semaphore(2);
    (await sem.acquire({ priority: 3 })).release();
    expect(sem.stats().tenants).toBeUndefined();
    const a1 = await sem.acquire({ tenant: "acme", weight: 2 });
    const a2 = track(sem.acquire({ tenant: "acme" }));
    const b = track(sem.acquire({ tenant: "beta" }));
    expect(sem.stats().tenants).toEqual({
      acme: { queued: 1, inUse: 2, granted: 1, wait: { p50: 0, p99: 0 } },
      beta: { queued: 1, inUse: 0, granted: 0, wait: { p50: 0, p99: 0 } },
    });
    vi.advanceTimersByTime(100);
    a1.release();
    await flush();
    const stats = sem.stats().tenants!;
    expect(stats.acme).toMatchObject({ queued: 0, inUse: 1, granted: 2 });
    expect(stats.beta).toMatchObject({ queued: 0, inUse: 1, granted: 1 });
    expect(stats.beta!.wait.p50).toBeGreaterThan(90);
    expect(stats.beta!.wait.p50).toBeLessThan(110);
    held(a2).release();
    held(b).release();
    expect(sem.stats().tenants).toMatchObject({ acme: { inUse: 0 }, beta: { inUse: 0 } });
  });

  it("keeps memory bounded: idle tenants beyond the last 1,024 are forgotten", async () => {
    const sem = new Semaphore(1);
    for (let i = 0; i < 3_000; i++) (await sem.acquire({ tenant: `t${i}` })).release();
    const tenants = Object.keys(sem.stats().tenants!);
    expect(tenants).toHaveLength(1_024);
    expect(tenants).toContain("t2999");
    expect(tenants).not.toContain("t0");
  });

  it("asks `weights` once each time a tenant starts waiting, and a bad answer throws with nothing changed", async () => {
    const asked: string[] = [];
    let answer = 1;
    const sem = new Semaphore(1, {
      weights: (t) => {
        asked.push(t);
        return answer;
      },
    });
    const h = await sem.acquire();
    const a1 = track(sem.acquire({ tenant: "a" }));
    const a2 = track(sem.acquire({ tenant: "a" }));
    expect(asked).toEqual(["a"]);
    answer = -1;
    expect(syncError(() => sem.acquire({ tenant: "b" }))).toBeInstanceOf(RangeError);
    expect(sem.queued).toBe(2);
    h.release();
    await flush();
    held(a1).release();
    await flush();
    held(a2).release();
    answer = 2;
    (await sem.acquire({ tenant: "a" })).release();
    expect(asked).toEqual(["a", "b", "a"]);
  });
});

describe("the same options elsewhere", () => {
  it("Lock: priority orders who gets the lock next", async () => {
    const lock = new Lock();
    const order: number[] = [];
    const h = await lock.acquire();
    const all = [1, 3, 2].map((priority) => lock.run(() => void order.push(priority), { priority }));
    h.release();
    await Promise.all(all);
    expect(order).toEqual([3, 2, 1]);
  });

  it("KeyedSemaphore: tenants share each key's capacity fairly, keys stay independent", async () => {
    const keyed = new KeyedSemaphore(1, { weights: (t) => (t === "big" ? 2 : 1) });
    const h = await keyed.acquire("k");
    const order: string[] = [];
    const all = [
      ...Array.from({ length: 6 }, () => keyed.run("k", () => void order.push("small"), { tenant: "small" })),
      ...Array.from({ length: 6 }, () => keyed.run("k", () => void order.push("big"), { tenant: "big" })),
    ];
    h.release();
    await Promise.all(all);
    expect(order.slice(0, 6).filter((t) => t === "big").length).toBeGreaterThanOrEqual(3);
  });

  it("tryAcquire is unchanged: it never passes queued waiters, whatever their priority", async () => {
    const sem = new Semaphore(2);
    const h = await sem.acquire();
    const heavy = track(sem.acquire({ weight: 2, priority: 1 }));
    expect(sem.tryAcquire()).toBeUndefined();
    h.release();
    await flush();
    held(heavy).release();
  });

  it("RateLimiter: priority orders admissions; tenants share the rate in units, by weight", async () => {
    useFakeClock();
    const rate = new RateLimiter({ limit: 1, interval: 10, weights: (t) => (t === "b" ? 2 : 1) });
    (await rate.acquire()).release();
    const order: string[] = [];
    const all = [
      ...Array.from({ length: 6 }, () => rate.run(() => void order.push("a"), { tenant: "a" })),
      ...Array.from({ length: 6 }, () => rate.run(() => void order.push("b"), { tenant: "b" })),
      rate.run(() => void order.push("urgent"), { priority: 1 }),
    ];
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(10);
      await flush();
    }
    await Promise.all(all);
    // The head already sleeping for its slot keeps it; the urgent one is next.
    expect(order.indexOf("urgent")).toBeLessThanOrEqual(1);
    // After the head (admitted at once, so it spent no share), while both
    // tenants wait: b (weight 2) gets two admissions for each of a's.
    const nine = order.filter((x) => x !== "urgent").slice(1, 10);
    expect(nine.filter((x) => x === "b")).toHaveLength(6);
  });

  it("Limiter: priority and tenant reach both halves", async () => {
    const limiter = new Limiter({ concurrency: 1, rate: { limit: 1_000, interval: 1_000 } });
    const h = await limiter.acquire();
    const order: number[] = [];
    const all = [0, 2, 1].map((priority) => limiter.run(() => void order.push(priority), { priority, tenant: "t" }));
    h.release();
    await Promise.all(all);
    expect(order).toEqual([2, 1, 0]);
    expect(limiter.concurrency.stats().tenants).toMatchObject({ t: { granted: 3, inUse: 0 } });
  });
});

// Scheduled without aging, the waiters live only in the scheduler's queues (no
// arrival list): everything that walks "all waiters" must still find every one.
describe("walking every waiter of a scheduling semaphore (with and without aging)", () => {
  for (const aging of [undefined, 60_000]) {
    const options = aging === undefined ? {} : { aging };
    it(`close() rejects every queued waiter, resize() the too-heavy ones, clear leaves none (aging ${String(aging)})`, async () => {
      const sem = new Semaphore(2, options);
      const first = sem.tryAcquire(2)!;
      const waiters = [
        sem.acquire({ priority: 1 }),
        sem.acquire({ weight: 2, priority: 5, tenant: "a" }),
        sem.acquire({ tenant: "b" }),
        sem.acquire({ weight: 2 }),
        sem.acquire({ priority: -3, tenant: "a" }),
      ];
      const outcomes = waiters.map((w) => w.then(() => "granted", (e: unknown) => (e instanceof RangeError ? "too heavy" : String((e as Error).message))));
      expect(sem.queued).toBe(5);
      expect(sem.tryAcquire()).toBeUndefined();
      sem.resize(1); // the two weight-2 waiters can never fit now
      await flush();
      expect(sem.queued).toBe(3);
      sem.close(new Error("closed"));
      expect(sem.queued).toBe(0);
      expect(await Promise.all(outcomes)).toEqual(["closed", "too heavy", "closed", "too heavy", "closed"]);
      let idle = false;
      void sem.onIdle().then(() => (idle = true));
      await flush();
      expect(idle).toBe(false);
      first.release();
      await flush();
      expect(idle).toBe(true);
    });
  }

  it("clearing the queue (limit()'s clearQueue path) rejects every scheduled waiter", async () => {
    const sem = new Semaphore(1);
    const gate = await sem.acquire();
    const settled = [1, 2, 3].map((n) => sem.acquire({ priority: n }).then(() => "granted", (e: unknown) => e));
    expect(sem.queued).toBe(3);
    const reason = new Error("cleared");
    sem._clear(reason);
    expect(sem.queued).toBe(0);
    expect(await Promise.all(settled)).toEqual([reason, reason, reason]);
    gate.release();
    expect(sem.available).toBe(1);
  });
});
