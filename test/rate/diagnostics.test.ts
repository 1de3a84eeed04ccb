/**
 * Issue 12, bug 3: a RateLimiter's diagnostics events are its own — the
 * limiter, the request's weight, the real wait — and its fast-path grants
 * publish too. (Before: they came from its internal gate semaphore, weight
 * 1 and 0 ms waited, and a fast-path grant published nothing, so a wait
 * histogram read 0 for rate limiters.)
 */
import diagnostics_channel from "node:diagnostics_channel";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Limiter, RateLimiter } from "../../src/index.js";
import { flush, useFakeClock } from "../core/helpers.js";

interface Message {
  limiter: unknown;
  weight: number;
  waitedMs?: number;
}

function listen(name: string): { messages: Message[]; stop(): void } {
  const messages: Message[] = [];
  const fn = (m: unknown): void => void messages.push(m as Message);
  diagnostics_channel.subscribe(name, fn);
  return { messages, stop: () => diagnostics_channel.unsubscribe(name, fn) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("RateLimiter diagnostics", () => {
  it("publishes granted from the limiter itself, with the request's weight and the time it waited, fast path included", async () => {
    useFakeClock();
    const granted = listen("permits:granted");
    const queued = listen("permits:queued");
    try {
      const rate = new RateLimiter({ limit: 2, interval: 200, burst: 2 });
      (await rate.acquire({ weight: 2 })).release(); // at once
      const next = rate.acquire({ weight: 2 }); // waits 200 ms for 2 units
      await flush();
      vi.advanceTimersByTime(200);
      await flush();
      (await next).release();
      expect(granted.messages.map((m) => [m.limiter === rate, m.weight, m.waitedMs])).toEqual([
        [true, 2, 0],
        [true, 2, 200],
      ]);
      expect(queued.messages.map((m) => [m.limiter === rate, m.weight])).toEqual([[true, 2]]);
    } finally {
      granted.stop();
      queued.stop();
    }
  });

  it("publishes aborted and timedOut from the limiter, whether the waiter was queued or the head sleeping for its time", async () => {
    useFakeClock();
    const aborted = listen("permits:aborted");
    const timedOut = listen("permits:timedOut");
    try {
      const rate = new RateLimiter({ limit: 1, interval: 1_000 });
      (await rate.acquire()).release();
      const head = new AbortController();
      const sleeping = rate.acquire({ signal: head.signal }).catch(() => "aborted");
      const behind = rate.acquire({ timeout: 50 }).catch(() => "timedOut");
      await flush();
      vi.advanceTimersByTime(50);
      await flush();
      head.abort();
      expect(await sleeping).toBe("aborted");
      expect(await behind).toBe("timedOut");
      expect(aborted.messages.map((m) => m.limiter === rate)).toEqual([true]);
      expect(timedOut.messages.map((m) => m.limiter === rate)).toEqual([true]);
    } finally {
      aborted.stop();
      timedOut.stop();
    }
  });

  it("a Limiter's halves publish as themselves (its concurrency semaphore and its rate limiter)", async () => {
    const granted = listen("permits:granted");
    try {
      const limiter = new Limiter({ concurrency: 1, rate: { limit: 10, interval: 1_000 } });
      (await limiter.acquire()).release();
      expect(granted.messages.map((m) => m.limiter)).toEqual([limiter.concurrency, limiter.rate]);
    } finally {
      granted.stop();
    }
  });
});
