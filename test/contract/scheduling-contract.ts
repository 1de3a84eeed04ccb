/**
 * The scheduling contract of issue 12 (priority, fair share between tenants)
 * as a test suite any backend can run: the in-process `Semaphore` and `Lock`,
 * and the Redis semaphore. Aging is time-based and is tested per backend
 * (fake timers in process, the server clock on Redis).
 *
 * Written, like semaphore-contract.ts, for the weakest backend: calls may be
 * asynchronous, order is observed through the order of grants, and each
 * waiter is queued only once the one before it is surely queued (`settle`),
 * so arrival order is the order of the calls.
 */
import { afterEach, describe, expect, it } from "vitest";

export interface ScheduledPermitLike {
  release(): unknown;
}

export interface ScheduledOptionsLike {
  weight?: number;
  signal?: AbortSignal;
  timeout?: number;
  priority?: number;
  tenant?: string;
}

export interface ScheduledSemaphoreLike {
  acquire(options?: ScheduledOptionsLike): Promise<ScheduledPermitLike>;
  close(reason?: unknown): unknown;
}

/** `weights`: the limiter's tenant weights option (undefined: every tenant weighs 1). */
export type ScheduledFactory = (
  capacity: number,
  options: { weights?: (tenant: string) => number },
) => Promise<{ sem: ScheduledSemaphoreLike; dispose(): Promise<void> }>;

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs the scheduling contract against `factory`. `settleMs`: real time
 * for the backend to have queued what it was told (0 in process).
 */
export function schedulingContract(name: string, factory: ScheduledFactory, settleMs = 0): void {
  describe(`${name}: scheduling contract (priority, fair share)`, () => {
    const disposers: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const dispose of disposers.splice(0)) await dispose();
    });
    async function make(capacity: number, options: { weights?: (tenant: string) => number } = {}) {
      const made = await factory(capacity, options);
      disposers.push(() => made.dispose());
      return made.sem;
    }

    /** Queues each request in turn behind a held permit, then releases and records the grant order. */
    async function order(
      capacity: number,
      requests: readonly (ScheduledOptionsLike & { label: string; holdFor?: number })[],
      options: { weights?: (tenant: string) => number } = {},
    ): Promise<string[]> {
      const sem = await make(capacity, options);
      const blockers = [];
      for (let i = 0; i < capacity; i++) blockers.push(await sem.acquire());
      const served: string[] = [];
      const done: Promise<void>[] = [];
      for (const { label, holdFor: _hold, ...opts } of requests) {
        done.push(
          sem.acquire(opts).then(async (permit) => {
            served.push(label);
            await settle(settleMs);
            await permit.release();
          }),
        );
        await settle(settleMs);
      }
      for (const b of blockers) await b.release();
      await Promise.all(done);
      return served;
    }

    it("priority: a higher priority is served first, equal priorities in arrival order", async () => {
      const served = await order(1, [
        { label: "a0", priority: 0 },
        { label: "b5", priority: 5 },
        { label: "c1", priority: 1 },
        { label: "d5", priority: 5 },
        { label: "e-3", priority: -3 },
        { label: "f0" },
      ]);
      expect(served).toEqual(["b5", "d5", "c1", "a0", "f0", "e-3"]);
    });

    it("priority: a newcomer never passes a queued waiter of equal or higher priority", async () => {
      const sem = await make(2);
      const held = await sem.acquire({ weight: 2 });
      const served: string[] = [];
      const first = sem.acquire({ priority: 3 }).then((p) => (served.push("first"), p));
      await settle(settleMs);
      const same = sem.acquire({ priority: 3 }).then((p) => (served.push("same"), p));
      await settle(settleMs);
      const lower = sem.acquire({ priority: 2 }).then((p) => (served.push("lower"), p));
      await settle(settleMs);
      await held.release();
      const permits = await Promise.all([first, same]);
      expect(served).toEqual(["first", "same"]);
      for (const p of permits) await p.release();
      await (await lower).release();
      expect(served).toEqual(["first", "same", "lower"]);
    });

    it("priority: a higher-priority waiter that does not fit blocks lower ones (no starvation of heavy urgent work)", async () => {
      const sem = await make(3);
      const a = await sem.acquire();
      const b = await sem.acquire();
      const served: string[] = [];
      const heavy = sem.acquire({ weight: 3, priority: 9 }).then((p) => (served.push("heavy"), p));
      await settle(settleMs);
      const light = sem.acquire({ weight: 1, priority: 0 }).then((p) => (served.push("light"), p));
      await settle(settleMs * 2 + 5);
      // One unit is free: the light waiter would fit, but the heavy one is ahead.
      expect(served).toEqual([]);
      await a.release();
      await b.release();
      const h = await heavy;
      expect(served).toEqual(["heavy"]);
      await h.release();
      await (await light).release();
      expect(served).toEqual(["heavy", "light"]);
    });

    it("priority: a newcomer of higher priority than every waiter is granted at once if it fits beside a blocked heavy waiter", async () => {
      const sem = await make(3);
      const a = await sem.acquire();
      const served: string[] = [];
      const heavy = sem.acquire({ weight: 3, priority: 0 }).then((p) => (served.push("heavy"), p));
      await settle(settleMs);
      const urgent = await sem.acquire({ weight: 1, priority: 1, timeout: 5_000 });
      served.push("urgent");
      await urgent.release();
      await a.release();
      await (await heavy).release();
      expect(served).toEqual(["urgent", "heavy"]);
    });

    it("fair share: equal tenants alternate, whatever order they queued in", async () => {
      const requests = [
        ...Array.from({ length: 6 }, (_, i) => ({ label: `a${i}`, tenant: "a" })),
        ...Array.from({ length: 3 }, (_, i) => ({ label: `b${i}`, tenant: "b" })),
      ];
      const served = await order(1, requests);
      // Each tenant FIFO; b is not made to wait behind all of a.
      expect(served.filter((l) => l.startsWith("a"))).toEqual(["a0", "a1", "a2", "a3", "a4", "a5"]);
      expect(served.filter((l) => l.startsWith("b"))).toEqual(["b0", "b1", "b2"]);
      expect(served.slice(0, 6).filter((l) => l.startsWith("b"))).toHaveLength(3);
    });

    it("fair share: weights 1:3 give the heavier tenant three grants for each of the lighter's", async () => {
      const requests = [
        ...Array.from({ length: 8 }, (_, i) => ({ label: `a${i}`, tenant: "light" })),
        ...Array.from({ length: 24 }, (_, i) => ({ label: `b${i}`, tenant: "heavy" })),
      ];
      const served = await order(1, requests, { weights: (t) => (t === "heavy" ? 3 : 1) });
      // The first 16 grants, while both have waiters: 4 light and 12 heavy (±1).
      const light = served.slice(0, 16).filter((l) => l.startsWith("a")).length;
      expect(light).toBeGreaterThanOrEqual(3);
      expect(light).toBeLessThanOrEqual(5);
    });

    it("fair share: counted in permit weight — a tenant of weight-2 requests gets half as many grants", async () => {
      const requests = [
        ...Array.from({ length: 6 }, (_, i) => ({ label: `big${i}`, tenant: "big", weight: 2 })),
        ...Array.from({ length: 12 }, (_, i) => ({ label: `small${i}`, tenant: "small", weight: 1 })),
      ];
      const served = await order(2, requests);
      const first12 = served.slice(0, 12);
      const big = first12.filter((l) => l.startsWith("big")).length;
      const small = first12.length - big;
      // Units: big gets ~2 units per grant, small 1: about 4 big and 8 small.
      expect(big * 2).toBeGreaterThanOrEqual(small - 3);
      expect(big * 2).toBeLessThanOrEqual(small + 3);
    });

    it("fair share: priority comes first, fairness is among equal priorities", async () => {
      const served = await order(1, [
        { label: "a-low", tenant: "a", priority: 0 },
        { label: "b-low", tenant: "b", priority: 0 },
        { label: "a-high1", tenant: "a", priority: 1 },
        { label: "a-high2", tenant: "a", priority: 1 },
      ]);
      expect(served.slice(0, 2)).toEqual(["a-high1", "a-high2"]);
    });

    it("fair share is work-conserving: one tenant alone gets the whole capacity", async () => {
      const sem = await make(4);
      const permits = await Promise.all(Array.from({ length: 4 }, () => sem.acquire({ tenant: "only", timeout: 5_000 })));
      expect(permits).toHaveLength(4);
      for (const p of permits) await p.release();
    });

    it("bad input: a non-integer priority or a non-string tenant throws naming it, and nothing queued is disturbed", async () => {
      const sem = await make(1);
      const held = await sem.acquire();
      const queued = sem.acquire({ tenant: "a" });
      await settle(settleMs);
      const bad: [unknown, RegExp, ErrorConstructor][] = [
        [{ priority: 1.5 }, /priority/, RangeError],
        [{ priority: "high" }, /priority/, TypeError],
        [{ priority: Number.NaN }, /priority/, RangeError],
        [{ tenant: 42 }, /tenant/, TypeError],
      ];
      for (const [options, message, type] of bad) {
        let error: unknown;
        try {
          await sem.acquire(options as ScheduledOptionsLike);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(type);
        expect(String((error as Error).message)).toMatch(message);
      }
      await held.release();
      await (await queued).release();
    });

    it("bad input: a weights function that answers a non-positive or non-finite number throws naming `weights`", async () => {
      for (const answer of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "2"]) {
        const sem = await make(1, { weights: () => answer as number });
        let error: unknown;
        try {
          await sem.acquire({ tenant: "t" });
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(typeof answer === "number" ? RangeError : TypeError);
        expect(String((error as Error).message)).toMatch(/weights/);
      }
    });
  });
}
