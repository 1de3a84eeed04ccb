/**
 * `permit-pool/http` with a rate shared through Redis: one quota and one 429
 * pause per origin for every process. Two `limitFetch` instances on two Redis
 * connections stand for two processes; a real HTTP server on loopback and a
 * real redis-server.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limitFetch, type SharedRate } from "../../src/http/index.js";
import { RedisRateLimiter } from "../../src/redis/index.js";
import { startTestServer, type TestServer } from "../helpers/http-server.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { until } from "../helpers/until.js";


describe("limitFetch with a shared rate (RedisRateLimiter)", () => {
  let redisServer: RedisServer;
  let one: Redis;
  let two: Redis;
  let http: TestServer;

  beforeAll(async () => {
    redisServer = await startRedisServer();
    one = new Redis(redisServer.port, redisServer.host);
    two = new Redis(redisServer.port, redisServer.host);
    // The first request gets a 429 asking for 1 s; every later one a 200.
    http = await startTestServer({ respond: (request) => (request.index === 0 ? { status: 429, retryAfter: 1 } : {}) });
  });

  afterAll(async () => {
    one.disconnect();
    two.disconnect();
    await http.close();
    await redisServer.stop();
  });

  it("a 429 seen by one process pauses the origin for the others; a local rate would not", async () => {
    const name = (client: Redis) => (origin: string) =>
      new RedisRateLimiter(client, `shared-429:${origin}`, { limit: 100, interval: 1_000, burst: 100 });
    const fetchA = limitFetch({ rate: name(one), retries: 1 });
    const fetchB = limitFetch({ rate: name(two) });
    const local = limitFetch({ rate: { limit: 100, interval: 1_000, burst: 100 } });
    const probe = new RedisRateLimiter(two, `shared-429:${http.origin}`, { limit: 100, interval: 1_000, burst: 100 });

    const first = fetchA(`${http.url}/a`); // 429, then retried after the pause
    await until("the pause reached Redis", async () => (await probe.pausedFor()) > 0);
    const pausedAt = performance.now() - http.t0;

    const [a, b, c] = await Promise.all([first, fetchB(`${http.url}/b`), local(`${http.url}/c`)]);
    expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);
    // While B's body is unread its origin is active, and its stats show the shared rate.
    const origin = fetchB.stats().origins[http.origin];
    expect(origin?.rate).toMatchObject({ limit: 100, interval: 1_000, acquired: 1 });
    await Promise.all([a.text(), b.text(), c.text()]);

    const arrival = (path: string): number => http.requests.find((r) => r.path === path)!.start;
    const firstAt = http.requests[0]!.start;
    // B waited out A's 1 s pause (give or take a few ms of clock between the
    // server and Redis), though it never saw a 429 itself...
    expect(arrival("/b") - firstAt).toBeGreaterThanOrEqual(900);
    // ... while a process with only a local rate went straight through.
    expect(arrival("/c") - pausedAt).toBeLessThan(500);
    // Only A's first request got the 429.
    expect(http.requests.filter((r) => r.status === 429)).toHaveLength(1);

    fetchA.close();
    fetchB.close();
    local.close();
  }, 20_000);

  it("a rate function that returns no shared rate is a TypeError naming the origin", async () => {
    const fetchBad = limitFetch({ rate: () => ({}) as unknown as SharedRate });
    const error = await fetchBad(`${http.url}/bad`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain(`rate("${http.origin}")`);
    expect(http.requests.some((r) => r.path === "/bad")).toBe(false);
    fetchBad.close();
  });
});
