/**
 * Real time, real sockets: `limitFetch({ concurrency: adaptive })` and
 * `limitInterceptor` against a loopback server whose capacity changes. The
 * server answers 503 (at once) to a request that arrives while K or more are
 * being served, and 200 after 15 ms otherwise. K goes 10 → 3 → 10; the limit
 * must come down and go back up.
 *
 * Robust on a loaded machine: every loop is bounded in count and time, and
 * only directions and bounds are asserted (never a speed, never an exact
 * limit). The figures of convergence live in `npm run bench:adaptive`.
 */
import diagnosticsChannel from "node:diagnostics_channel";
import { Agent, request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { limitFetch, limitInterceptor } from "../../src/http/index.js";
import { startTestServer, type TestServer } from "../helpers/http-server.js";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A server with capacity `capacity.k`: a request arriving above it gets a 503. */
async function capacityServer(capacity: { k: number }): Promise<TestServer> {
  const s = await startTestServer({
    respond: (r) => (r.activeAtStart > capacity.k ? { status: 503, delay: 0 } : { delay: 15 }),
  });
  cleanup.push(() => s.close());
  return s;
}

/**
 * Keeps `workers` requests going until `done()` says so, or `ms` pass, or
 * `max` requests were made; resolves to whether `done()` ended it.
 */
async function drive(send: () => Promise<void>, done: () => boolean, ms: number, workers = 24, max = 20_000): Promise<boolean> {
  const deadline = performance.now() + ms;
  let sent = 0;
  let reached = false;
  const worker = async (): Promise<void> => {
    while (!reached && performance.now() < deadline && sent < max) {
      sent++;
      await send();
      if (done()) reached = true;
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return reached;
}

describe("adaptive concurrency against a loopback server whose capacity changes", () => {
  it("limitFetch: the limit comes down when the capacity drops 10 → 3, and goes back up when it returns", async () => {
    const capacity = { k: 10 };
    const s = await capacityServer(capacity);
    const f = limitFetch({ concurrency: { algorithm: "aimd", initial: 4, max: 40 }, retries: 0 });
    cleanup.push(() => f.close());
    const changes: { limit: number; cause: string }[] = [];
    const onLimit = (message: unknown): void => {
      const m = message as { limiter: { name?: string }; limit: number; cause: string };
      if (m.limiter.name === "http") changes.push({ limit: m.limit, cause: m.cause });
    };
    diagnosticsChannel.subscribe("permits:limit", onLimit);
    cleanup.push(() => void diagnosticsChannel.unsubscribe("permits:limit", onLimit));
    const send = async (): Promise<void> => {
      const res = await f(s.url);
      await res.text();
    };
    const limit = (): number => f.stats().adaptive!.limit;

    // Phase 1, K = 10: slow start from 4 finds the capacity (some 503s are how it finds it).
    expect(await drive(send, () => limit() >= 8, 4_000)).toBe(true);
    const high = limit();

    // Phase 2, K = 3: 503s bring the limit down to about the capacity.
    capacity.k = 3;
    expect(await drive(send, () => limit() <= 4, 4_000)).toBe(true);
    expect(limit()).toBeLessThan(high);
    // The admission gate follows: what is admitted is the limit (shrinking never revokes, so allow the ones in flight).
    expect(f.stats().global!.capacity).toBe(limit());

    // Phase 3, K = 10 again: clean windows raise it again.
    capacity.k = 10;
    const low = limit();
    expect(await drive(send, () => limit() >= 7, 6_000)).toBe(true);
    expect(limit()).toBeGreaterThan(low);

    const stats = f.stats().adaptive!;
    expect(stats.drops).toBeGreaterThan(0);
    expect(stats.successes).toBeGreaterThan(0);
    // Every change was published on permits:limit, in order, ending at the current limit.
    expect(changes.length).toBeGreaterThanOrEqual(3);
    expect(changes.at(-1)?.limit).toBe(stats.limit);
    expect(new Set(changes.map((c) => c.cause))).toContain("drop");
    expect(f.stats()).toMatchObject({ inFlight: 0, queued: 0 });
    expect(s.total).toBeLessThanOrEqual(20_000 * 3);
  }, 30_000);

  it("limitInterceptor: the same limit comes down on 503s and back up", async () => {
    const capacity = { k: 10 };
    const s = await capacityServer(capacity);
    const limited = limitInterceptor({ concurrency: { algorithm: "aimd", initial: 4, max: 40 } });
    const agent = new Agent({ connections: 64 });
    cleanup.push(() => agent.close());
    const dispatcher = agent.compose(limited);
    const send = async (): Promise<void> => {
      const { body } = await request(s.url, { dispatcher });
      await body.text();
    };
    const limit = (): number => limited.stats().adaptive!.limit;
    expect(await drive(send, () => limit() >= 8, 4_000)).toBe(true);
    capacity.k = 3;
    expect(await drive(send, () => limit() <= 4, 4_000)).toBe(true);
    capacity.k = 10;
    const low = limit();
    expect(await drive(send, () => limit() >= 7, 6_000)).toBe(true);
    expect(limit()).toBeGreaterThan(low);
    expect(limited.stats()).toMatchObject({ inFlight: 0, queued: 0 });
  }, 30_000);
});
