/** Lock: a Semaphore of capacity 1 with `locked`; same acquire/run/tryAcquire. */
import { describe, expect, it } from "vitest";
import { ClosedError, Lock, Semaphore } from "../../src/index.js";
import { flush, held, syncError, track } from "./helpers.js";

describe("Lock", () => {
  it("is a Semaphore of capacity 1: one queue implementation for everything", () => {
    const lock = new Lock();
    expect(lock).toBeInstanceOf(Semaphore);
    expect(lock.capacity).toBe(1);
    expect(lock.stats()).toMatchObject({ capacity: 1, inUse: 0, queued: 0 });
  });

  it("its capacity cannot be changed", () => {
    const lock = new Lock();
    expect(syncError(() => lock.resize(2))).toBeInstanceOf(Error);
    expect(lock.capacity).toBe(1);
  });

  it("locked reflects whether the lock is held, synchronously", async () => {
    const lock = new Lock();
    expect(lock.capacity).toBe(1);
    expect(lock.locked).toBe(false);
    const p = lock.acquire();
    expect(lock.locked).toBe(true);
    (await p).release();
    expect(lock.locked).toBe(false);
  });

  it("stays locked while the lock passes from holder to waiter", async () => {
    const lock = new Lock();
    const holder = await lock.acquire();
    const waiter = track(lock.acquire());
    holder.release();
    expect(lock.locked).toBe(true);
    await flush();
    held(waiter).release();
    expect(lock.locked).toBe(false);
  });

  it("tryAcquire fails while locked and while someone waits", async () => {
    const lock = new Lock();
    const holder = lock.tryAcquire();
    expect(holder).toBeDefined();
    expect(lock.tryAcquire()).toBeUndefined();
    const waiter = track(lock.acquire());
    holder?.release();
    expect(lock.tryAcquire()).toBeUndefined(); // handed to the waiter
    await flush();
    held(waiter).release();
    expect(lock.locked).toBe(false);
  });

  it("run() excludes: callbacks never overlap and start in call order", async () => {
    const lock = new Lock();
    let running = 0;
    let maxRunning = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        lock.run(async () => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          order.push(i);
          await flush();
          running--;
        }),
      ),
    );
    expect(maxRunning).toBe(1);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(lock.locked).toBe(false);
  });

  it("run() never calls fn inside the call (async-mutex's runExclusive), but is locked at once", async () => {
    const lock = new Lock();
    let called = false;
    const boom = new Error("inside");
    const running = lock.run(() => {
      called = true;
      throw boom;
    });
    expect(called).toBe(false);
    expect(lock.locked).toBe(true);
    await expect(running).rejects.toBe(boom);
    expect(called).toBe(true);
    expect(lock.locked).toBe(false); // a throw in fn does not leave the lock held
  });

  it("a weight above 1 is a RangeError", () => {
    const lock = new Lock();
    expect(syncError(() => lock.acquire({ weight: 2 }))).toBeInstanceOf(RangeError);
    expect(lock.locked).toBe(false);
  });

  it("abort of a waiter leaves the lock with its holder", async () => {
    const lock = new Lock();
    const holder = await lock.acquire();
    const controller = new AbortController();
    const waiter = track(lock.acquire({ signal: controller.signal }));
    controller.abort();
    await flush();
    expect(waiter.state).toBe("rejected");
    expect(lock.locked).toBe(true);
    holder.release();
    expect(lock.locked).toBe(false);
  });

  it("close rejects waiters with a ClosedError; the holder still unlocks", async () => {
    const lock = new Lock();
    const holder = await lock.acquire();
    const waiter = track(lock.acquire());
    lock.close();
    await flush();
    expect(waiter.reason).toBeInstanceOf(ClosedError);
    holder.release();
    expect(lock.locked).toBe(false);
  });
});
