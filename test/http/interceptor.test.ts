/** limitInterceptor with real undici 7 dispatchers against the loopback server. */
import { Agent, fetch as undiciFetch, interceptors, Pool, request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { limitInterceptor } from "../../src/http/index.js";
import { startTestServer, type TestServer } from "../helpers/http-server.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((f) => f()));
});
async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(options);
  cleanup.push(() => s.close());
  return s;
}
function agent(): Agent {
  const a = new Agent({ connections: 50 });
  cleanup.push(() => a.close());
  return a;
}

describe("limitInterceptor (undici 7 dispatcher.compose)", () => {
  it("the server never sees more than perOrigin / concurrency, bodies included", async () => {
    const a = await server({ size: 3_000, chunks: 3, chunkDelay: 10 });
    const b = await server({ delay: 20 });
    const limited = limitInterceptor({ concurrency: 3, perOrigin: 2 });
    const dispatcher = agent().compose(limited);
    const results = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const { statusCode, body } = await request(i % 2 ? a.url : b.url, { dispatcher });
        await body.text();
        return statusCode;
      }),
    );
    expect(results.every((s) => s === 200)).toBe(true);
    expect(a.peak).toBeLessThanOrEqual(2);
    expect(b.peak).toBeLessThanOrEqual(2);
    expect(a.peak + b.peak).toBeGreaterThanOrEqual(3);
    expect(limited.stats()).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it("an aborted request leaves the queue at once and never reaches the server", async () => {
    const s = await server({ delay: 2_000 });
    const limited = limitInterceptor({ perOrigin: 1 });
    const dispatcher = agent().compose(limited);
    const first = request(`${s.url}/first`, { dispatcher });
    const ac = new AbortController();
    const second = request(`${s.url}/second`, { dispatcher, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 20));
    expect(limited.stats().queued).toBe(1);
    const t0 = performance.now();
    ac.abort(new Error("gone"));
    await expect(second).rejects.toThrow("gone");
    expect(performance.now() - t0).toBeLessThan(1_000); // not after the first request's 2 s
    await (await first).body.text();
    expect(s.requests.map((r) => r.path)).toEqual(["/first"]);
  });

  it("429 Retry-After pauses the origin; undici's retry interceptor retries through the limit", async () => {
    const s = await server({ respond: (r) => (r.index === 0 ? { status: 429, retryAfter: 1 } : undefined) });
    const limited = limitInterceptor({ perOrigin: 2 });
    // the limit first (innermost): every retry goes through it again
    const dispatcher = agent().compose(
      limited,
      interceptors.retry({ maxRetries: 2, minTimeout: 10, statusCodes: [429, 503], methods: ["GET"] }),
    );
    const res = await request(s.url, { dispatcher });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    expect(s.total).toBe(2);
    expect(s.requests[1]!.start - s.requests[0]!.start).toBeGreaterThanOrEqual(990);
    expect(limited.stats().pauses).toBe(1);
  });

  it("connection errors release the slot", async () => {
    const s = await server({ respond: (r) => (r.index % 2 === 0 ? { destroy: true } : undefined) });
    const limited = limitInterceptor({ perOrigin: 1 });
    const dispatcher = agent().compose(limited);
    const settled = await Promise.allSettled(
      Array.from({ length: 6 }, async () => (await request(s.url, { dispatcher })).body.text()),
    );
    expect(settled.filter((r) => r.status === "rejected")).toHaveLength(3);
    expect(limited.stats()).toMatchObject({ inFlight: 0, queued: 0 });
    expect(s.peak).toBe(1);
  });

  it("works on a Pool (dispatches without an origin) and under undici's fetch", async () => {
    const s = await server({ delay: 20 });
    const limited = limitInterceptor({ perOrigin: 2 });
    const pool = new Pool(s.url, { connections: 10 });
    cleanup.push(() => pool.close());
    const composed = pool.compose(limited);
    await Promise.all(
      Array.from({ length: 10 }, async () => (await composed.request({ path: "/", method: "GET" })).body.text()),
    );
    expect(s.peak).toBe(2);
    s.reset();
    const dispatcher = agent().compose(limited);
    const texts = await Promise.all(
      Array.from({ length: 10 }, async () => (await undiciFetch(s.url, { dispatcher })).text()),
    );
    expect(texts.every((t) => t === "ok\n")).toBe(true);
    expect(s.peak).toBe(2);
    expect(limited.stats()).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it("adaptive: the sample is taken at the response headers while the slot is held to the end; 404 ignored, 503 and resets dropped", async () => {
    const s = await server({ chunks: 3, chunkDelay: 50, size: 300 });
    const limited = limitInterceptor({ concurrency: { algorithm: "aimd", initial: 8 } });
    const dispatcher = agent().compose(limited);
    const { body } = await request(s.url, { dispatcher });
    // Headers are in, the body is not: sampled already, the slot still held.
    expect(limited.stats().adaptive).toMatchObject({ successes: 1, drops: 0, ignored: 0 });
    expect(limited.stats().inFlight).toBe(1);
    await body.text();
    expect(limited.stats().inFlight).toBe(0);
    for (const query of ["?status=404", "?status=500", "?status=503", "?destroy"]) {
      await request(`${s.url}/${query}`, { dispatcher }).then(
        (res) => res.body.text(),
        () => undefined,
      );
    }
    // 404 and 500 say nothing about load; the 503 and the reset are drops.
    expect(limited.stats().adaptive).toMatchObject({ successes: 1, drops: 2, ignored: 2 });
    expect(limited.stats().adaptive!.limit).toBeLessThan(8);
    expect(limited.stats().global!.capacity).toBe(limited.stats().adaptive!.limit);
  });

  it("rejects unknown and bad options", () => {
    expect(() => limitInterceptor({ retries: 2 } as never)).toThrow(/Unknown option `retries`/);
    expect(() => limitInterceptor({ perOrigin: 0 })).toThrow(RangeError);
  });
});
