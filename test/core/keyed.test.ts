/** KeyedSemaphore: a semaphore per key, dropped when idle. */
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { KeyedSemaphore } from "../../src/index.js";
import type { Permit } from "../../src/index.js";
import { abortListeners, anyError, flush, held, track, useFakeClock } from "./helpers.js";
import type { Tracked } from "./helpers.js";

describe("KeyedSemaphore", () => {
  it("limits each key on its own; keys never wait for each other", async () => {
    const keyed = new KeyedSemaphore(2);
    const a1 = await keyed.acquire("a");
    const a2 = await keyed.acquire("a");
    const a3 = track(keyed.acquire("a"));
    const b1 = track(keyed.acquire("b"));
    await flush();
    expect(a3.state).toBe("pending");
    expect(b1.state).toBe("fulfilled");
    a1.release();
    await flush();
    expect(a3.state).toBe("fulfilled");
    for (const p of [a2, held(a3), held(b1)]) p.release();
  });

  it("a key is dropped when idle, so size goes back to 0", async () => {
    const keyed = new KeyedSemaphore(1);
    expect(keyed.size).toBe(0);
    const a = await keyed.acquire("a");
    const b = await keyed.acquire("b");
    const a2 = track(keyed.acquire("a"));
    expect(keyed.size).toBe(2);
    b.release();
    await flush();
    expect(keyed.size).toBe(1);
    a.release(); // handed to the waiter: the key is still live
    await flush();
    expect(keyed.size).toBe(1);
    held(a2).release();
    await flush();
    expect(keyed.size).toBe(0);
  });

  it("memory stays bounded by active keys, not by every key ever seen", async () => {
    const keyed = new KeyedSemaphore(1);
    for (let i = 0; i < 1000; i++) await keyed.run(`key-${i}`, () => i);
    expect(keyed.size).toBe(0);
  });

  it("a key whose only waiter is aborted or times out is dropped", async () => {
    useFakeClock();
    try {
      const keyed = new KeyedSemaphore(1);
      const holder = await keyed.acquire("k");
      const controller = new AbortController();
      const aborted = track(keyed.acquire("k", { signal: controller.signal }));
      const timed = track(keyed.acquire("k", { timeout: 10 }));
      controller.abort();
      await vi.advanceTimersByTimeAsync(10);
      expect(aborted.state).toBe("rejected");
      expect((timed.reason as Error).name).toBe("TimeoutError");
      expect(keyed.size).toBe(1);
      holder.release();
      await flush();
      expect(keyed.size).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
      expect(abortListeners(controller.signal)).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a refused acquire (already-aborted signal) leaves no key behind", async () => {
    const keyed = new KeyedSemaphore(1);
    await expect(keyed.acquire("k", { signal: AbortSignal.abort() })).rejects.toBeDefined();
    expect(keyed.size).toBe(0);
  });

  it("a function capacity gives each key its own limit", async () => {
    const capacityOf = vi.fn((key: string) => (key === "big" ? 3 : 1));
    const keyed = new KeyedSemaphore(capacityOf);
    const big = [await keyed.acquire("big"), await keyed.acquire("big"), await keyed.acquire("big")];
    const bigMore = track(keyed.acquire("big"));
    const small = await keyed.acquire("small");
    const smallMore = track(keyed.acquire("small"));
    await flush();
    expect(bigMore.state).toBe("pending");
    expect(smallMore.state).toBe("pending");
    expect(capacityOf).toHaveBeenCalledWith("big");
    expect(capacityOf).toHaveBeenCalledWith("small");
    for (const p of big) p.release();
    small.release();
    await flush();
    held(bigMore).release();
    held(smallMore).release();
    expect(keyed.size).toBe(0);
  });

  it("a bad capacity from the function fails that acquire loudly", async () => {
    const keyed = new KeyedSemaphore((key: string) => (key === "bad" ? 0 : 1));
    const err = await anyError(() => keyed.acquire("bad"));
    expect(err instanceof RangeError || err instanceof TypeError).toBe(true);
    expect(keyed.size).toBe(0);
    await keyed.run("good", () => {});
  });

  it("run(key, fn, options) returns fn's result and releases however fn ends", async () => {
    const keyed = new KeyedSemaphore(1);
    expect(await keyed.run("k", async () => "ok")).toBe("ok");
    const boom = new Error("boom");
    await expect(
      keyed.run("k", () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    await expect(keyed.run("k", () => Promise.reject(boom), { weight: 1 })).rejects.toBe(boom);
    expect(keyed.size).toBe(0);
  });

  it("keys are served FIFO within a key", async () => {
    const keyed = new KeyedSemaphore(1);
    const order: number[] = [];
    await Promise.all(
      [0, 1, 2, 3].map((i) =>
        keyed.run("k", async () => {
          order.push(i);
          await flush();
        }),
      ),
    );
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it("non-string keys work and are compared by identity", async () => {
    const keyed = new KeyedSemaphore<object>(1);
    const k1 = {};
    const k2 = {};
    const p1 = await keyed.acquire(k1);
    const p2 = track(keyed.acquire(k2));
    await flush();
    expect(p2.state).toBe("fulfilled");
    p1.release();
    held(p2).release();
    expect(keyed.size).toBe(0);
  });

  it.each([0, -1, 1.5, Number.NaN])("new KeyedSemaphore(%s) throws naming capacity", (capacity) => {
    let err: unknown;
    try {
      new KeyedSemaphore(capacity);
    } catch (error) {
      err = error;
    }
    expect(err instanceof RangeError || err instanceof TypeError).toBe(true);
    expect((err as Error).message).toContain("capacity");
  });

  it("an unknown acquire option is a TypeError and leaves no key behind", async () => {
    const keyed = new KeyedSemaphore(1);
    const err = await anyError(() => keyed.acquire("k", { wait: 1 } as unknown as { weight: number }));
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toContain("wait");
    expect(keyed.size).toBe(0);
  });

  it("a weight above a key's capacity is a RangeError and leaves no key behind", async () => {
    const keyed = new KeyedSemaphore(2);
    const err = await anyError(() => keyed.acquire("k", { weight: 3 }));
    expect(err).toBeInstanceOf(RangeError);
    expect(keyed.size).toBe(0);
  });
});

describe("KeyedSemaphore properties", () => {
  type Op =
    | { t: "acquire"; key: number; weightSeed: number; abortable: boolean }
    | { t: "release"; pick: number }
    | { t: "abort"; pick: number };

  it("each key behaves as its own semaphore and size counts exactly the keys in use or queued", async () => {
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ t: fc.constant("acquire" as const), key: fc.integer({ min: 0, max: 2 }), weightSeed: fc.nat(), abortable: fc.boolean() }),
      fc.record({ t: fc.constant("release" as const), pick: fc.nat() }),
      fc.record({ t: fc.constant("abort" as const), pick: fc.nat() }),
    );
    const capacityOf = (key: string): number => Number(key.slice(1)) + 1; // k0: 1, k1: 2, k2: 3
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 30, size: "max" }), async (ops) => {
        const keyed = new KeyedSemaphore(capacityOf);
        interface W {
          key: string;
          weight: number;
          t: Tracked<Permit>;
          controller: AbortController | undefined;
          released: boolean;
        }
        const waiters: W[] = [];
        // Reference: per key, in use and the FIFO queue of waiters.
        const inUse = new Map<string, number>();
        const queues = new Map<string, W[]>();
        const granted = new Set<W>();
        const pump = (key: string): void => {
          const queue = queues.get(key) ?? [];
          while (queue.length > 0 && (inUse.get(key) ?? 0) + (queue[0] as W).weight <= capacityOf(key)) {
            const w = queue.shift() as W;
            inUse.set(key, (inUse.get(key) ?? 0) + w.weight);
            granted.add(w);
          }
        };
        for (const op of ops) {
          if (op.t === "acquire") {
            const key = `k${op.key}`;
            const weight = 1 + (op.weightSeed % capacityOf(key));
            const controller = op.abortable ? new AbortController() : undefined;
            const options = controller ? { weight, signal: controller.signal } : { weight };
            const w: W = { key, weight, t: track(keyed.acquire(key, options)), controller, released: false };
            waiters.push(w);
            const queue = queues.get(key) ?? [];
            queues.set(key, queue);
            queue.push(w);
            pump(key);
          } else if (op.t === "release") {
            const holding = [...granted].filter((w) => !w.released);
            const w = holding[op.pick % Math.max(1, holding.length)];
            if (w !== undefined) {
              held(w.t).release();
              w.released = true;
              inUse.set(w.key, (inUse.get(w.key) ?? 0) - w.weight);
              pump(w.key);
            }
          } else {
            const queued = [...queues.values()].flat().filter((w) => w.controller !== undefined);
            const w = queued[op.pick % Math.max(1, queued.length)];
            if (w !== undefined) {
              w.controller?.abort();
              const queue = queues.get(w.key) ?? [];
              queue.splice(queue.indexOf(w), 1);
              pump(w.key);
            }
          }
          await flush();
          const live = [...new Set(waiters.map((w) => w.key))].filter(
            (key) => (inUse.get(key) ?? 0) > 0 || (queues.get(key)?.length ?? 0) > 0,
          );
          expect(keyed.size).toBe(live.length);
          expect(new Set(keyed.keys())).toEqual(new Set(live));
          for (const w of waiters) {
            if (granted.has(w)) expect(w.t.state).toBe("fulfilled");
            else if (queues.get(w.key)?.includes(w)) expect(w.t.state).toBe("pending");
            else expect(w.t.state).toBe("rejected");
          }
        }
        for (const w of granted) {
          if (w.released) continue;
          held(w.t).release();
          w.released = true;
        }
        // Releasing everything grants the rest; release those too.
        for (let round = 0; round < 40; round++) {
          await flush();
          for (const w of waiters) {
            if (w.t.state === "fulfilled" && !w.released) {
              held(w.t).release();
              w.released = true;
            }
          }
        }
        expect(waiters.every((w) => w.t.settles === 1)).toBe(true);
        expect(keyed.size).toBe(0);
        for (const w of waiters) if (w.controller) expect(abortListeners(w.controller.signal)).toBe(0);
      }),
      { numRuns: 150 },
    );
  });
});
