/**
 * The sampling rules of `limitFetch({ concurrency: "adaptive" })` and
 * `perOrigin: "adaptive"`, with a stub fetch under fake timers (the
 * controller's clock is `performance.now()`, faked too): which outcomes are
 * successes, drops and neither; that a sample is one attempt's time from
 * sending it to its headers (no queueing, no pause, no body); the Retry-After
 * rule; per-origin limits; monitor-only mode; bad input.
 */
import diagnosticsChannel from "node:diagnostics_channel";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { limitFetch, limitInterceptor, type LimitedFetch } from "../../src/http/index.js";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date", "performance"] });
});
afterEach(() => {
  vi.useRealTimers();
});

interface Plan {
  /** ms until the headers. */
  delay?: number;
  status?: number;
  headers?: Record<string, string>;
  /** Rejects with this instead of answering. */
  error?: unknown;
}

/** A fetch whose answer per call comes from `plan(url, call)`; counts what is in flight at the stub. */
function stub(plan: (url: URL, call: number) => Plan) {
  let calls = 0;
  const state = { inFlight: 0, peak: 0, sent: [] as number[] };
  const fetch = async (input: RequestInfo | URL): Promise<Response> => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const p = plan(url, calls++);
    state.sent.push(performance.now());
    state.inFlight++;
    state.peak = Math.max(state.peak, state.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, p.delay ?? 10));
      if (p.error !== undefined) throw p.error;
      const status = p.status ?? 200;
      const nullBody = status === 204 || status === 304;
      return new Response(nullBody ? null : "ok", { status, headers: p.headers ?? {} });
    } finally {
      state.inFlight--;
    }
  };
  return { fetch, state };
}

/** Runs `f(url)` to the end (body read) under fake time. */
async function complete(f: LimitedFetch, url: string): Promise<number> {
  const pending = f(url).then(async (res) => {
    await res.text();
    return res.status;
  });
  pending.catch(() => {}); // awaited below, after the timers ran
  await vi.runAllTimersAsync();
  return pending;
}

const adaptive = (f: LimitedFetch) => f.stats().adaptive!;

describe("limitFetch adaptive: which outcomes are samples", () => {
  it("2xx and 3xx are successes; 429, 502, 503, 504 drops; other 4xx and 5xx say nothing about load", async () => {
    const statuses = [200, 204, 301, 304, 404, 400, 500, 501, 429, 502, 503, 504];
    const { fetch } = stub((_url, call) => ({ status: statuses[call]! }));
    const f = limitFetch({ concurrency: { algorithm: "aimd", initial: 8 }, retries: 0, fetch });
    for (const status of statuses) expect(await complete(f, "http://a.test/")).toBe(status);
    const stats = adaptive(f);
    expect({ successes: stats.successes, drops: stats.drops, ignored: stats.ignored }).toEqual({
      successes: 4,
      drops: 4,
      ignored: 4,
    });
    expect(stats.limit).toBeLessThan(8);
    expect(stats.history.map((h) => h.cause)).toContain("drop");
    expect(f.stats().global!.capacity).toBe(stats.limit); // admission follows the limit
  });

  it("a timeout and a connection reset are drops; an abort by the caller, a refused connection or a DNS failure are not", async () => {
    const failure = (code: string) => new TypeError("fetch failed", { cause: Object.assign(new Error(code), { code }) });
    const errors = [
      new DOMException("The operation timed out", "TimeoutError"),
      failure("ECONNRESET"),
      failure("UND_ERR_SOCKET"),
      new DOMException("This operation was aborted", "AbortError"),
      failure("ECONNREFUSED"),
      failure("ENOTFOUND"),
    ];
    const { fetch } = stub((_url, call) => ({ error: errors[call] }));
    const f = limitFetch({ concurrency: { algorithm: "aimd", initial: 8 }, retries: 0, fetch });
    for (const error of errors) await expect(complete(f, "http://a.test/")).rejects.toBe(error);
    const stats = adaptive(f);
    expect({ successes: stats.successes, drops: stats.drops, ignored: stats.ignored }).toEqual({
      successes: 0,
      drops: 3,
      ignored: 3,
    });
    expect(f.stats().inFlight).toBe(0);
  });
});

describe("limitFetch adaptive: a sample is one attempt, from its send to its headers", () => {
  it("neither the time waiting in the queue nor the time reading the body is in the sample", async () => {
    const { fetch } = stub(() => ({ delay: 10 }));
    // A limit of exactly 1 (the second request queues behind the first's body); one window holds both samples.
    const f = limitFetch({ concurrency: { algorithm: "aimd", initial: 1, max: 1, minSamples: 1, window: 100 }, fetch });
    const first = f("http://a.test/first");
    const second = f("http://a.test/second");
    await vi.advanceTimersByTimeAsync(10);
    const a = await first;
    expect(adaptive(f).successes).toBe(1); // sampled at the headers, before the body is read
    expect(f.stats()).toMatchObject({ inFlight: 1, queued: 1 }); // the slot is still held
    await vi.advanceTimersByTimeAsync(300); // the first body is held 300 ms; the second request waits
    expect(f.stats().queued).toBe(1);
    await a.text();
    await vi.advanceTimersByTimeAsync(10);
    const b = await second;
    await vi.advanceTimersByTimeAsync(500); // read slowly
    await b.text();
    const stats = adaptive(f);
    expect(stats.successes).toBe(2);
    expect(stats.windows).toBe(1);
    // Both samples are 10 ms: not 310 (the first's body), not 320 (the second's queueing).
    expect(stats.rttWindow).toBe(10);
  });

  it("after a Retry-After pause the limit resumes at half the pre-pause limit, and the retry's sample excludes the pause", async () => {
    const { fetch, state } = stub((_url, call) =>
      call === 0 ? { status: 429, headers: { "retry-after": "2" } } : { delay: 10 },
    );
    const f = limitFetch({ concurrency: { algorithm: "aimd", initial: 8, max: 64, minSamples: 1, window: 5 }, fetch });
    const started = performance.now();
    expect(await complete(f, "http://a.test/")).toBe(200);
    expect(state.sent[1]! - started).toBeGreaterThanOrEqual(2_000); // the retry waited out the pause
    const stats = adaptive(f);
    expect(stats.history).toEqual([expect.objectContaining({ limit: 4, cause: "retryAfter" })]);
    expect(stats.limit).toBe(4); // halved once; not cut again by the 429's drop, not reset to min
    expect(stats.drops).toBe(1); // counted, not acted on: the pause already answered it
    expect(stats.successes).toBe(1);
    expect(stats.rttWindow).toBe(10); // the retry's own round trip, not 2 s of pause
    expect(f.stats().global!.capacity).toBe(4);
  });

  it("a burst of 429s with Retry-After halves the limit once, not once per response", async () => {
    const { fetch } = stub(() => ({ status: 429, headers: { "retry-after": "1" } }));
    const f = limitFetch({ concurrency: { algorithm: "aimd", initial: 16, max: 64 }, retries: 0, fetch });
    const all = Promise.all(Array.from({ length: 16 }, async () => (await f("http://a.test/")).text()));
    await vi.runAllTimersAsync();
    await all;
    expect(adaptive(f).limit).toBe(8);
    expect(adaptive(f).drops).toBe(16);
  });
});

describe("limitFetch adaptive: utilisation counts requests reading their bodies", () => {
  it("a limit bound by long bodies still grows when the headers come back fast and clean", async () => {
    // Headers after 1 ms, bodies of 100-300 ms: at any moment nearly every admitted request is
    // reading its body, so counting only the attempts awaiting headers would call the limit idle.
    // (`window`: with the default, one header round trip, samples this sparse would skip every window.)
    let n = 0;
    const fetch = async (): Promise<Response> => {
      const bodyMs = 100 + ((n++ * 73) % 200);
      await new Promise((resolve) => setTimeout(resolve, 1));
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          await new Promise((resolve) => setTimeout(resolve, bodyMs));
          c.enqueue(new TextEncoder().encode("ok"));
          c.close();
        },
      });
      return new Response(body);
    };
    const f = limitFetch({ concurrency: { algorithm: "aimd", initial: 4, max: 32, minSamples: 3, window: 100, slowStart: false }, fetch });
    const worker = async (): Promise<void> => {
      for (let i = 0; i < 10; i++) await (await f("http://a.test/")).text();
    };
    const all = Promise.all(Array.from({ length: 12 }, worker));
    await vi.runAllTimersAsync();
    await all;
    const stats = adaptive(f);
    expect(stats.successes).toBe(120);
    expect(stats.ignored).toBe(0); // the body phase is not an outcome
    // Up to the demand (12 workers) at least: counting only the attempts awaiting headers, it stayed at 5.
    expect(stats.limit).toBeGreaterThanOrEqual(12);
  });
});

describe("limitFetch adaptive: per origin, monitor-only, stats", () => {
  it("perOrigin: 'adaptive' gives each origin its own limit; a Retry-After halves only its origin's", async () => {
    const { fetch } = stub((url) => (url.hostname === "a.test" && url.pathname === "/refuse" ? { status: 503, headers: { "retry-after": "1" } } : {}));
    const f = limitFetch({ perOrigin: { algorithm: "aimd", initial: 8 }, retries: 0, fetch });
    expect(await complete(f, "http://a.test/refuse")).toBe(503);
    expect(await complete(f, "http://b.test/")).toBe(200);
    const origins = f.stats().origins;
    // Remembered while quiet: a learned limit is not thrown away with the last request.
    expect(origins["http://a.test"]?.adaptive?.limit).toBe(4);
    expect(origins["http://b.test"]?.adaptive?.limit).toBe(8);
    expect(f.stats().adaptive).toBeUndefined();
  });

  it("with both adaptive, a Retry-After halves the origin's limit; the global limit takes it as one drop", async () => {
    const { fetch } = stub(() => ({ status: 429, headers: { "retry-after": "1" } }));
    const f = limitFetch({
      concurrency: { algorithm: "aimd", initial: 20, max: 100 },
      perOrigin: { algorithm: "aimd", initial: 8 },
      retries: 0,
      fetch,
    });
    expect(await complete(f, "http://a.test/")).toBe(429);
    expect(f.stats().origins["http://a.test"]?.adaptive?.limit).toBe(4);
    expect(adaptive(f).limit).toBe(15); // 20 × 0.75
  });

  it("enforce: false computes and reports the limit but admits up to max", async () => {
    const { fetch, state } = stub(() => ({ status: 503, delay: 50 }));
    const f = limitFetch({ concurrency: { algorithm: "aimd", initial: 4, max: 6, enforce: false }, retries: 0, fetch });
    const all = Promise.all(Array.from({ length: 6 }, async () => (await f("http://a.test/")).text()));
    await vi.runAllTimersAsync();
    await all;
    expect(state.peak).toBe(6);
    expect(adaptive(f)).toMatchObject({ enforced: false, capacity: 6, limit: 3 });
  });

  it("an enforced limit bounds what is in flight at the server, and a lower limit admits fewer", async () => {
    const { fetch, state } = stub(() => ({ delay: 20 }));
    const f = limitFetch({ concurrency: { algorithm: "aimd", initial: 3, max: 3 }, fetch });
    const all = Promise.all(Array.from({ length: 12 }, async () => (await f("http://a.test/")).text()));
    await vi.runAllTimersAsync();
    await all;
    expect(state.peak).toBe(3);
    expect(f.stats()).toMatchObject({ inFlight: 0, queued: 0 });
  });
});

describe("limitFetch adaptive: diagnostics", () => {
  it("permits:limit names the global limit \"http\" and an origin's \"http:<origin>\"; permits:granted under \"http\" counts requests once", async () => {
    const limits: string[] = [];
    let granted = 0;
    const onLimit = (m: unknown): void => void limits.push(String((m as { limiter: { name?: string } }).limiter.name));
    const onGranted = (m: unknown): void => {
      if ((m as { limiter: { name?: string } }).limiter.name === "http") granted++;
    };
    diagnosticsChannel.subscribe("permits:limit", onLimit);
    diagnosticsChannel.subscribe("permits:granted", onGranted);
    try {
      const { fetch } = stub(() => ({ status: 503 }));
      const f = limitFetch({ concurrency: { algorithm: "aimd", initial: 8 }, perOrigin: { algorithm: "aimd", initial: 8 }, retries: 0, fetch });
      for (let i = 0; i < 5; i++) await complete(f, "http://a.test/");
      expect(granted).toBe(5); // the admission gate's grants, not also the controller's per-attempt permits
      expect(new Set(limits)).toEqual(new Set(["http", "http:http://a.test"]));
    } finally {
      diagnosticsChannel.unsubscribe("permits:limit", onLimit);
      diagnosticsChannel.unsubscribe("permits:granted", onGranted);
    }
  });
});

describe("adaptive options: bad input fails at once, naming the option", () => {
  it.each([
    [{ concurrency: "auto" }, TypeError, /`concurrency`.*"adaptive".*"auto"/],
    [{ perOrigin: "auto" }, TypeError, /`perOrigin`.*"adaptive".*"auto"/],
    [{ concurrency: { algorithm: "cubic" } }, RangeError, /`concurrency`.*`algorithm`.*"cubic"/],
    [{ concurrency: { initial: 0 } }, RangeError, /`concurrency`.*`initial`/],
    [{ perOrigin: { min: 5, max: 2 } }, RangeError, /`perOrigin`.*`max`/],
    [{ concurrency: { limit: 5 } }, TypeError, /`concurrency`.*`limit`/],
    [{ concurrency: null }, TypeError, /`concurrency`/],
  ])("%j", (options, type, message) => {
    expect(() => limitFetch(options as never)).toThrow(type);
    expect(() => limitFetch(options as never)).toThrow(message);
    expect(() => limitInterceptor(options as never)).toThrow(type);
    expect(() => limitInterceptor(options as never)).toThrow(message);
  });
});
