/**
 * Re-entrancy: code the semaphore calls synchronously while it is in the middle of
 * changing its state must not be able to corrupt it. The core publishes on
 * `node:diagnostics_channel` channels synchronously (subscribers run inside
 * `release()`, `abort`, timeouts and `acquire()`); a subscriber that releases a
 * permit it holds re-enters the semaphore. Whatever it does, the accounting must
 * stay whole: no call throws, no permit is granted twice, no waiter is lost.
 */
import diagnostics_channel from "node:diagnostics_channel";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Semaphore } from "../../src/index.js";
import type { Permit } from "../../src/index.js";
import { flush, held, syncError, track, useFakeClock } from "./helpers.js";
import type { Tracked } from "./helpers.js";

const subscriptions: [string, (message: unknown, name: string | symbol) => void][] = [];

/** Subscribes `action` to `channel` for its first message only. */
function onFirst(channel: string, action: () => void): void {
  let done = false;
  const subscriber = (): void => {
    if (done) return;
    done = true;
    action();
  };
  diagnostics_channel.subscribe(channel, subscriber);
  subscriptions.push([channel, subscriber]);
}

afterEach(() => {
  for (const [channel, subscriber] of subscriptions.splice(0)) diagnostics_channel.unsubscribe(channel, subscriber);
  vi.useRealTimers();
});

/** What the fulfilled waiters hold (none has released yet) is exactly what the semaphore counts in use. */
function expectWhole(sem: Semaphore, waiters: Tracked<Permit>[], weights: readonly number[]): void {
  const heldWeight = waiters.reduce((sum, w, i) => sum + (w.state === "fulfilled" ? (weights[i] ?? 1) : 0), 0);
  expect(sem.inUse).toBe(heldWeight);
  const pending = waiters.filter((w) => w.state === "pending").length;
  expect(sem.queued).toBe(pending);
}

async function releaseAll(sem: Semaphore, waiters: Tracked<Permit>[]): Promise<void> {
  for (let round = 0; round < 10; round++) {
    await flush();
    for (const w of waiters) if (w.state === "fulfilled") held(w).release();
  }
  expect(waiters.every((w) => w.state !== "pending")).toBe(true);
  expect(sem.inUse).toBe(0);
  expect(sem.queued).toBe(0);
}

describe("re-entrancy through diagnostics subscribers", () => {
  it("a permits:granted subscriber that releases a permit never double-grants or loses a waiter", async () => {
    const sem = new Semaphore(2);
    const a = await sem.acquire();
    const b = await sem.acquire();
    const waiters = [track(sem.acquire()), track(sem.acquire())];
    onFirst("permits:granted", () => b.release());
    expect(syncError(() => a.release())).toBeUndefined();
    await flush();
    expect(waiters.map((w) => w.state)).toEqual(["fulfilled", "fulfilled"]); // both permits came back
    expectWhole(sem, waiters, [1, 1]);
    await releaseAll(sem, waiters);
  });

  it("a permits:aborted subscriber that releases a permit never grants the aborted waiter twice", async () => {
    const sem = new Semaphore(1);
    const holder = await sem.acquire();
    const controller = new AbortController();
    const waiters = [track(sem.acquire({ signal: controller.signal })), track(sem.acquire())];
    onFirst("permits:aborted", () => holder.release());
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    try {
      controller.abort();
      await flush();
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(uncaught).toEqual([]);
    // Either the aborted waiter kept the permit it was granted, or it went on to the next one.
    expect(waiters.filter((w) => w.state === "fulfilled")).toHaveLength(1);
    expectWhole(sem, waiters, [1, 1]);
    await releaseAll(sem, waiters);
  });

  it("a permits:timedOut subscriber that releases a permit never grants the timed-out waiter twice", async () => {
    useFakeClock();
    const sem = new Semaphore(1);
    const holder = await sem.acquire();
    const waiters = [track(sem.acquire({ timeout: 10 })), track(sem.acquire())];
    onFirst("permits:timedOut", () => holder.release());
    let thrown: unknown;
    try {
      await vi.advanceTimersByTimeAsync(10);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeUndefined();
    await flush();
    expect(waiters.filter((w) => w.state === "fulfilled")).toHaveLength(1);
    expectWhole(sem, waiters, [1, 1]);
    await releaseAll(sem, waiters);
  });

  it("a permits:released subscriber that releases another permit keeps the accounting whole", async () => {
    const sem = new Semaphore(2);
    const a = await sem.acquire();
    const b = await sem.acquire();
    const waiters = [track(sem.acquire({ weight: 2 })), track(sem.acquire())];
    onFirst("permits:released", () => b.release());
    expect(syncError(() => a.release())).toBeUndefined();
    await flush();
    expect(waiters.map((w) => w.state)).toEqual(["fulfilled", "pending"]);
    expectWhole(sem, waiters, [2, 1]);
    await releaseAll(sem, waiters);
  });

  it("a permits:queued subscriber that releases a permit lets the new waiter through", async () => {
    const sem = new Semaphore(1);
    const holder = await sem.acquire();
    onFirst("permits:queued", () => holder.release());
    const waiters = [track(sem.acquire())];
    await flush();
    expect(waiters[0]?.state).toBe("fulfilled");
    expectWhole(sem, waiters, [1, 1]);
    await releaseAll(sem, waiters);
  });
});
