/**
 * limitFetch against a real HTTP server on 127.0.0.1 that counts how many
 * requests it serves at once. The server's count is the one that matters.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { limitFetch, type LimitedFetch } from "../../src/http/index.js";
import { HttpLimits, type Lease } from "../../src/http/limits.js";
import { Semaphore } from "../../src/index.js";
import { startTestServer, type TestServer } from "../helpers/http-server.js";

const servers: TestServer[] = [];
async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(options);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Most requests served at once across several servers, from their records. */
function combinedPeak(list: TestServer[]): number {
  const events: [number, number][] = [];
  for (const s of list) {
    for (const r of s.requests) {
      events.push([s.t0 + r.start, 1]);
      events.push([s.t0 + (r.end ?? Infinity), -1]);
    }
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]); // ends before starts at the same instant
  let active = 0;
  let peak = 0;
  for (const [, d] of events) peak = Math.max(peak, (active += d));
  return peak;
}

async function expectSettled(f: LimitedFetch): Promise<void> {
  // Slots are released synchronously when a body ends; give aborted bodies a turn.
  for (let i = 0; i < 50 && (f.stats().inFlight > 0 || f.stats().queued > 0); i++) await sleep(10);
  const stats = f.stats();
  expect(stats.inFlight).toBe(0);
  expect(stats.queued).toBe(0);
}

describe("limitFetch: the server never sees more than the limits", () => {
  it("global concurrency under load: peak is exactly the limit", async () => {
    const s = await server({ delay: 20 });
    const f = limitFetch({ concurrency: 3 });
    const bodies = await Promise.all(Array.from({ length: 40 }, async () => (await f(s.url)).text()));
    expect(bodies.every((b) => b === "ok\n")).toBe(true);
    expect(s.total).toBe(40);
    expect(s.peak).toBe(3);
    await expectSettled(f);
    expect(f.stats().origins).toEqual({}); // idle origins are forgotten
  });

  it("per-origin and global limits together, across three origins", async () => {
    const list = [await server({ delay: 30 }), await server({ delay: 30 }), await server({ delay: 30 })];
    const f = limitFetch({ concurrency: 4, perOrigin: 2 });
    await Promise.all(
      Array.from({ length: 60 }, async (_, i) => (await f(`${list[i % 3]!.url}/r${i}`)).arrayBuffer()),
    );
    for (const s of list) {
      expect(s.total).toBe(20);
      expect(s.peak).toBeLessThanOrEqual(2);
    }
    expect(combinedPeak(list)).toBeLessThanOrEqual(4);
    expect(combinedPeak(list)).toBeGreaterThanOrEqual(3);
    await expectSettled(f);
  });

  it("perOrigin as a function of the origin", async () => {
    const slow = await server({ delay: 30 });
    const fast = await server({ delay: 30 });
    const f = limitFetch({ perOrigin: (origin) => (origin === slow.origin ? 1 : 3) });
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => (await f(i % 2 ? slow.url : fast.url)).text()),
    );
    expect(slow.peak).toBe(1);
    expect(fast.peak).toBe(3);
  });

  it("slow bodies: the slot is held until the body is consumed, not just the headers", async () => {
    const s = await server({ size: 4_000, chunks: 4, chunkDelay: 25 });
    const f = limitFetch({ concurrency: 2 });
    const lengths = await Promise.all(Array.from({ length: 10 }, async () => (await f(s.url)).text()));
    expect(lengths.every((b) => b.length === 4_000)).toBe(true);
    expect(s.peak).toBe(2);

    // The counter-example: a semaphore released when the headers arrive lets
    // the server see more than the limit while bodies are still streaming.
    s.reset();
    const sem = new Semaphore(2);
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const res = await sem.run(() => fetch(s.url));
        return res.text();
      }),
    );
    expect(s.peak).toBeGreaterThan(2);
  });

  it("aborts: queued requests leave at once and never reach the server; in-flight ones free their slot", async () => {
    const s = await server({ delay: 200 });
    const f = limitFetch({ concurrency: 3 });
    const controllers = Array.from({ length: 30 }, () => new AbortController());
    const results = controllers.map((ac, i) => f(`${s.url}/a${i}`, { signal: ac.signal }).then((r) => r.text()));
    const settling = Promise.allSettled(results);
    // abort every third: some are in flight, most are queued
    for (let i = 0; i < 30; i += 3) controllers[i]!.abort(new Error(`abort ${i}`));
    // wait (bounded) until request 1 is being served, then abort it in flight
    for (let i = 0; i < 200 && !s.requests.some((r) => r.path === "/a1"); i++) await sleep(5);
    controllers[1]!.abort(new Error("abort 1 in flight"));
    const settled = await settling;
    const rejected = settled.filter((r) => r.status === "rejected");
    expect(rejected).toHaveLength(11);
    expect((rejected[0] as PromiseRejectedResult).reason).toEqual(new Error("abort 0"));
    expect(s.peak).toBeLessThanOrEqual(3);
    // 0 was aborted before it could start; 3, 6, ... were queued: none reached the server
    const served = new Set(s.requests.map((r) => r.path));
    for (let i = 0; i < 30; i += 3) expect(served.has(`/a${i}`)).toBe(false);
    expect(served.has("/a1")).toBe(true);
    await expectSettled(f);
    await s.idle();
  });

  it("errors: a connection reset releases the slot and the rest go on", async () => {
    const s = await server({ delay: 10, respond: (r) => (r.index % 4 === 0 ? { destroy: true } : undefined) });
    const f = limitFetch({ concurrency: 2, retries: 0 });
    const settled = await Promise.allSettled(Array.from({ length: 20 }, async () => (await f(s.url)).text()));
    expect(settled.filter((r) => r.status === "rejected").length).toBe(5);
    expect(settled.filter((r) => r.status === "fulfilled").length).toBe(15);
    expect(s.peak).toBeLessThanOrEqual(2);
    await expectSettled(f);
  });

  it("a rejecting inner fetch (bad URL scheme, DNS) releases the slot", async () => {
    const f = limitFetch({ concurrency: 1, fetch: () => Promise.reject(new TypeError("fetch failed")) });
    for (let i = 0; i < 3; i++) await expect(f("http://127.0.0.1:1/")).rejects.toThrow("fetch failed");
    await expect(f("not a url")).rejects.toBeInstanceOf(TypeError);
    await expectSettled(f);
  });

  it("mixed load (slow bodies, aborts, resets, 500s) never exceeds the limits", async () => {
    const s = await server({
      respond: (r) => {
        const k = r.index % 5;
        if (k === 0) return { destroy: true, delay: 5 };
        if (k === 1) return { status: 500 };
        if (k === 2) return { size: 2_000, chunks: 3, chunkDelay: 10 };
        return { delay: 15 };
      },
    });
    const f = limitFetch({ concurrency: 4, perOrigin: 3, retries: 0 });
    const jobs = Array.from({ length: 80 }, async (_, i) => {
      const ac = new AbortController();
      if (i % 7 === 0) setTimeout(() => ac.abort(), i % 3 === 0 ? 0 : 20);
      const res = await f(`${s.url}/m${i}`, { signal: ac.signal });
      return res.text();
    });
    await Promise.allSettled(jobs);
    expect(s.peak).toBeLessThanOrEqual(3);
    await expectSettled(f);
  });
});

describe("limitFetch: response bodies", () => {
  it("is a drop-in: status, headers, url and json survive the wrapping", async () => {
    const s = await server({ body: '{"a":1}', headers: { "content-type": "application/json", "x-test": "yes" } });
    const f = limitFetch({ concurrency: 1 });
    const res = await f(`${s.url}/json?x=1`);
    expect(res.status).toBe(200);
    expect(res.ok).toBe(true);
    expect(res.url).toBe(`${s.url}/json?x=1`);
    expect(res.headers.get("x-test")).toBe("yes");
    expect(await res.json()).toEqual({ a: 1 });
    expect(f.stats().inFlight).toBe(0);
  });

  it("has fetch's type: assignable where `typeof fetch` is expected", async () => {
    const s = await server();
    const asFetch: typeof fetch = limitFetch({ concurrency: 1 });
    expect(await (await asFetch(s.url)).text()).toBe("ok\n");
  });

  it("a Request object and a URL object work as input; HEAD releases at once", async () => {
    const s = await server();
    const f = limitFetch({ concurrency: 1 });
    expect(await (await f(new Request(`${s.url}/req`))).text()).toBe("ok\n");
    expect(await (await f(new URL(`${s.url}/url`))).text()).toBe("ok\n");
    const head = await f(s.url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(f.stats().inFlight).toBe(0);
  });

  it("cancelling the body releases the slot at once", async () => {
    const s = await server({ size: 100_000, chunks: 10, chunkDelay: 50 });
    const f = limitFetch({ concurrency: 1 });
    const res = await f(s.url);
    expect(f.stats().inFlight).toBe(1);
    await res.body!.cancel();
    expect(f.stats().inFlight).toBe(0);
    await s.idle();
    expect(s.requests[0]!.aborted).toBe(true); // the connection was really closed
  });

  it("an unread body is cancelled after bodyTimeout, freeing its slot; a late read fails with TimeoutError", async () => {
    const s = await server({ size: 100_000, chunks: 10, chunkDelay: 30 });
    const f = limitFetch({ concurrency: 1, bodyTimeout: 100 });
    const t0 = performance.now();
    const unread = await f(s.url);
    const second = f(s.url); // waits for the slot
    const res2 = await second;
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(95);
    expect(f.stats().bodyTimeouts).toBe(1);
    await expect(unread.text()).rejects.toMatchObject({ name: "TimeoutError" });
    await res2.body!.cancel();
    await s.idle();
    expect(s.peak).toBe(1);
  });

  it("a Response dropped unread is released when it is garbage-collected (best effort)", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const s = await server({ size: 100_000, chunks: 10, chunkDelay: 100 });
    const f = limitFetch({ concurrency: 1, bodyTimeout: Infinity });
    await (async () => {
      await f(s.url); // dropped on the floor
    })();
    expect(f.stats().inFlight).toBe(1);
    for (let i = 0; i < 50 && f.stats().inFlight > 0; i++) {
      gc();
      await sleep(10);
    }
    expect(f.stats().inFlight).toBe(0);
    await s.idle();
    expect(s.requests[0]!.aborted).toBe(true);
  });

  it("aborting the signal while the body is unread releases the slot", async () => {
    const s = await server({ size: 10_000, chunks: 5, chunkDelay: 50 });
    const f = limitFetch({ concurrency: 1 });
    const ac = new AbortController();
    const res = await f(s.url, { signal: ac.signal });
    expect(f.stats().inFlight).toBe(1);
    ac.abort();
    expect(f.stats().inFlight).toBe(0);
    await expect(res.text()).rejects.toThrow();
  });
});

describe("limitFetch: 429/503 and Retry-After", () => {
  it("Retry-After in seconds pauses the whole origin (new and retried requests); other origins go on", async () => {
    const s = await server({ respond: (r) => (r.index === 0 ? { status: 429, retryAfter: 1 } : { delay: 5 }) });
    const other = await server();
    const f = limitFetch({ perOrigin: 5, retries: 2 });
    const t0 = performance.now();
    const first = f(`${s.url}/first`);
    await sleep(100); // the 429 has arrived: the origin is paused
    const stats = f.stats().origins[s.origin]!;
    expect(stats.pausedFor).toBeGreaterThan(800);
    expect(Number.isInteger(stats.pausedFor)).toBe(true); // whole ms, not 996.2091860000003
    expect(stats.pauses).toBe(1);
    const later = f(`${s.url}/later`);
    const otherT = performance.now();
    expect(await (await f(other.url)).text()).toBe("ok\n");
    expect(performance.now() - otherT).toBeLessThan(800); // not paused (the pause is 1 s)
    const [r1, r2] = await Promise.all([first, later]);
    expect(r1.status).toBe(200);
    expect(r2.status).toBe(200);
    await Promise.all([r1.text(), r2.text()]);
    // the server saw nothing from this origin during the pause
    const after429 = s.requests.slice(1);
    expect(after429).toHaveLength(2);
    for (const r of after429) expect(r.start - s.requests[0]!.start).toBeGreaterThanOrEqual(990);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(f.stats().retries).toBe(1);
    expect(f.stats().pauses).toBe(1);
  });

  it("Retry-After as an HTTP-date", async () => {
    const s = await server({
      respond: (r) =>
        r.index === 0 ? { status: 503, retryAfter: new Date(Date.now() + 2_000).toUTCString() } : undefined,
    });
    const f = limitFetch({ retries: 1 });
    const res = await f(s.url);
    expect(res.status).toBe(200);
    await res.text();
    const gap = s.requests[1]!.start - s.requests[0]!.start;
    // The date has whole seconds, so the pause is between 1 and 2 s.
    expect(gap).toBeGreaterThanOrEqual(990);
    expect(gap).toBeLessThan(2_300);
  });

  it("429 without Retry-After: jittered exponential back-off, then the last response is returned", async () => {
    const s = await server({ status: 429 });
    const f = limitFetch({ retries: 3, retryDelay: 40, maxRetryDelay: 100 });
    const t0 = performance.now();
    const res = await f(s.url);
    expect(res.status).toBe(429);
    expect(await res.text()).toBe("ok\n");
    expect(s.total).toBe(4);
    expect(f.stats().retries).toBe(3);
    expect(performance.now() - t0).toBeLessThan(1_500); // back-off ≤ 40 + 80 + 100 ms by the caps
    await expectSettled(f);
  });

  it("retries: 0 returns the 429 at once but still pauses the origin", async () => {
    const s = await server({ respond: (r) => (r.index === 0 ? { status: 429, retryAfter: 1 } : undefined) });
    const f = limitFetch({ retries: 0 });
    const res = await f(s.url);
    expect(res.status).toBe(429);
    await res.text();
    const t0 = performance.now();
    await (await f(s.url)).text();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(900);
  });

  it("a Retry-After beyond maxRetryAfter is not waited for: the 429 is returned and the pause is capped", async () => {
    const s = await server({ respond: (r) => (r.index === 0 ? { status: 429, retryAfter: 3_600 } : undefined) });
    const f = limitFetch({ maxRetryAfter: 200 });
    const res = await f(s.url);
    expect(res.status).toBe(429);
    await res.text();
    expect(f.stats().origins[s.origin]!.pausedFor).toBeLessThanOrEqual(200);
    const t0 = performance.now();
    await (await f(s.url)).text();
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(100);
    expect(waited).toBeLessThan(2_000); // not the hour asked for
  });

  it("an abort while waiting out a pause rejects at once", async () => {
    const s = await server({ respond: (r) => (r.index === 0 ? { status: 429, retryAfter: 5 } : undefined) });
    const f = limitFetch({ retries: 0 });
    await (await f(s.url)).text();
    const t0 = performance.now();
    await expect(f(s.url, { signal: AbortSignal.timeout(50) })).rejects.toMatchObject({ name: "TimeoutError" });
    expect(performance.now() - t0).toBeLessThan(2_000); // not the 5 s pause
    expect(f.stats().origins[s.origin]!.queued).toBe(0);
    expect(s.total).toBe(1);
  });

  it("close() while a request waits out a pause rejects it at once with the close reason, leaving no timer", async () => {
    const s = await server({ respond: (r) => (r.index === 0 ? { status: 429, retryAfter: 5 } : undefined) });
    const f = limitFetch({ retries: 0 });
    await (await f(s.url)).text();
    const waiting = f(s.url);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(f.stats().origins[s.origin]!.queued).toBe(1);
    const t0 = performance.now();
    const reason = new Error("shutting down");
    f.close(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(performance.now() - t0).toBeLessThan(2_000); // not the 5 s pause
    expect(s.total).toBe(1);
  });

  it("a pause extended while a request waits it out is waited out to its new end", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date", "performance"] });
    try {
      const limits = new HttpLimits({ concurrency: 2 });
      const origin = "http://o.test";
      limits.pause(origin, 1_000);
      let lease: Lease | undefined;
      const admitted = limits.admit(origin, undefined).then((l) => (lease = l));
      await vi.advanceTimersByTimeAsync(500);
      limits.pause(origin, 3_000); // a later Retry-After: now until t = 3,500
      await vi.advanceTimersByTimeAsync(1_000); // past the first pause's end
      expect(lease).toBeUndefined();
      expect(limits.stats().origins[origin]!.pausedFor).toBe(2_000);
      await vi.advanceTimersByTimeAsync(2_000);
      await admitted;
      expect(lease).toBeDefined();
      lease!.release();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a request with a string body is replayed on retry; a stream body is not retried", async () => {
    const s = await server({ respond: (r) => (r.index === 0 ? { status: 429, retryAfter: 0 } : undefined) });
    const f = limitFetch({ retries: 2, retryDelay: 0 });
    const res = await f(s.url, { method: "POST", body: "hello" });
    expect(res.status).toBe(200);
    expect(s.requests.map((r) => r.headers["content-length"])).toEqual(["5", "5"]);
    s.reset();
    const s2 = await server({ status: 429 });
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode("x"));
        c.close();
      },
    });
    const res2 = await f(s2.url, { method: "POST", body: stream, duplex: "half" } as RequestInit);
    expect(res2.status).toBe(429);
    expect(s2.total).toBe(1);
  });

  it("X-RateLimit-Remaining: 0 pauses the origin until the reset", async () => {
    const s = await server({
      respond: (r) =>
        r.index === 0 ? { headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1" } } : undefined,
    });
    const f = limitFetch();
    await (await f(s.url)).text();
    expect(f.stats().origins[s.origin]!.pausedFor).toBeGreaterThan(800);
    await (await f(s.url)).text();
    expect(s.requests[1]!.start - s.requests[0]!.start).toBeGreaterThanOrEqual(990);
  });
});

describe("limitFetch: per-origin rate", () => {
  it("requests start at the rate, per origin", async () => {
    const a = await server();
    const b = await server();
    // Record when each request really starts (the inner fetch is called).
    const starts = new Map<string, number[]>();
    const tracing = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const origin = new URL(input as string).origin;
      starts.set(origin, [...(starts.get(origin) ?? []), performance.now()]);
      return fetch(input, init);
    };
    const f = limitFetch({ rate: { limit: 5, interval: 500 }, fetch: tracing }); // one start per 100 ms per origin
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 16 }, async (_, i) => (await f(i % 2 ? a.url : b.url)).text()));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(700); // 8 per origin: 0, 100, …, 700 ms
    for (const s of [a, b]) {
      const list = starts.get(s.origin)!;
      expect(list).toHaveLength(8);
      // Timers may fire late, never early: a start is never closer than 100 ms (−1 ms of timer rounding).
      // A 6th start is never within 500 ms of the 1st (less 100 ms for event-loop
      // jitter on a loaded CI machine).
      for (let i = 0; i + 5 < list.length; i++) expect(list[i + 5]! - list[i]!).toBeGreaterThan(400);
      // And neighbours too. The rate keeps its own schedule, so a start whose timer fired
      // late (a loaded machine) makes the gap after it short by that much: 10 ms of slack.
      for (let i = 1; i < list.length; i++) expect(list[i]! - list[i - 1]!).toBeGreaterThanOrEqual(90);
      // The server, with network jitter, never sees more than `limit` in a window of `interval` minus slack.
      const arrivals = s.requests.map((r) => r.start).sort((x, y) => x - y);
      for (let i = 0; i + 5 < arrivals.length; i++) expect(arrivals[i + 5]! - arrivals[i]!).toBeGreaterThan(350);
    }
    expect(f.stats().origins[a.origin]?.rate?.acquired).toBe(8);
  });
});

describe("limitFetch: nothing left behind", () => {
  it("no timer or listener of ours survives a settled batch (aborts, pauses, body timeouts, retries)", async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const baseline = timers();
    let n = 0;
    const stub = async (): Promise<Response> => {
      n++;
      if (n % 5 === 0) return new Response("slow down", { status: 429, headers: { "retry-after": "0" } });
      return new Response("ok");
    };
    const f = limitFetch({ concurrency: 2, perOrigin: 1, rate: { limit: 100, interval: 100 }, fetch: stub, retryDelay: 1 });
    const signals = new AbortController();
    const jobs = Array.from({ length: 40 }, async (_, i) => {
      const res = await f(`http://h${i % 3}.test/`, i % 9 === 0 ? { signal: signals.signal } : {});
      return i % 4 === 0 ? res.body?.cancel() : res.text();
    });
    setTimeout(() => signals.abort(), 5);
    await Promise.allSettled(jobs);
    await expectSettled(f);
    await sleep(150); // the rates have recovered
    expect(f.stats().origins).toEqual({});
    expect(timers()).toBeLessThanOrEqual(baseline);
  });
});

describe("limitFetch: options", () => {
  it.each([
    [{ concurrency: 0 }, RangeError, "concurrency"],
    [{ concurrency: "3" }, TypeError, "concurrency"],
    [{ perOrigin: 1.5 }, RangeError, "perOrigin"],
    [{ retries: -1 }, RangeError, "retries"],
    [{ rate: { limit: 0, interval: 1 } }, RangeError, "limit"],
    [{ rate: { limit: 1, interval: 1, burst: 0 } }, RangeError, "burst"],
    [{ rate: 5 }, TypeError, "rate"],
    [{ bodyTimeout: -1 }, RangeError, "bodyTimeout"],
    [{ fetch: "fetch" }, TypeError, "fetch"],
    [{ concurency: 3 }, TypeError, "concurency"],
  ])("limitFetch(%j) throws", (options, type, word) => {
    expect(() => limitFetch(options as never)).toThrow(type);
    expect(() => limitFetch(options as never)).toThrow(word);
  });

  it("close() rejects waiting requests and later calls; in-flight ones finish", async () => {
    const s = await server({ delay: 50 });
    const f = limitFetch({ concurrency: 1 });
    const first = f(s.url);
    const waiting = f(s.url);
    await sleep(10);
    f.close();
    await expect(waiting).rejects.toMatchObject({ name: "ClosedError" });
    expect(await (await first).text()).toBe("ok\n");
    await expect(f(s.url)).rejects.toMatchObject({ name: "ClosedError" });
  });
});
