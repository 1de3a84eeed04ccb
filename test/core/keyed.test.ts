/** KeyedSemaphore: a semaphore per key, dropped when idle. */
import { describe, expect, it, vi } from "vitest";
import { KeyedSemaphore } from "../../src/index.js";
import { abortListeners, anyError, flush, held, track, useFakeClock } from "./helpers.js";

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
