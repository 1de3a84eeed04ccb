/**
 * Examples and migration guides are code users copy, so they are run here:
 * - examples/*.ts as the user would (`node --import tsx examples/x.ts`, the
 *   package resolved by name through its exports to dist/), each against its
 *   own loopback server, asserting what it prints;
 * - examples/migration/*.ts, the `permits` half of each migration guide,
 *   imported and exercised;
 * - docs/migration/*.md must show each of those files verbatim, so the guide
 *   and the tested code cannot drift apart.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Semaphore } from "permit-pool";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import * as asyncMutex from "../../examples/migration/async-mutex.js";
import * as asyncSema from "../../examples/migration/async-sema.js";
import * as bottleneck from "../../examples/migration/bottleneck.js";
import * as pLimit from "../../examples/migration/p-limit.js";
import * as pQueue from "../../examples/migration/p-queue.js";
import * as redisSemaphore from "../../examples/migration/redis-semaphore.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);

/** Runs an example as a user would, with the node running this test. */
async function runExample(file: string): Promise<string> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", join(root, "examples", file)], {
    cwd: root,
    timeout: 110_000,
    env: { ...process.env, REDIS_URL: undefined }, // the fleet example starts its own redis-server
  });
  return stdout;
}

/** A fake fetch that records the peak number of calls in flight. */
function tracked(delayMs = 5) {
  let active = 0;
  const state = { peak: 0, calls: 0 };
  const fetchText = async (url: string): Promise<string> => {
    active++;
    state.calls++;
    state.peak = Math.max(state.peak, active);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    active--;
    return `body of ${url}`;
  };
  return { state, fetchText };
}

describe("examples/", () => {
  it("crawl-per-host.ts keeps each host at 2 requests at once", async () => {
    const out = await runExample("crawl-per-host.ts");
    expect(out).toMatch(/crawled 24 pages \(288 bytes\)/);
    expect(out).toMatch(/peak requests per host: a=2 b=2 \(limit 2\)/);
  });

  it("usage-limited-api.ts gets every request through a 429-answering quota", async () => {
    const out = await runExample("usage-limited-api.ts");
    expect(out).toMatch(/^25\/25 requests succeeded/m);
    const peak = Number(/server: peak (\d+) in flight/.exec(out)?.[1]);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(3);
    const [, rejected, retries] = /(\d+) answered 429; client: (\d+) retries/.exec(out) ?? [];
    expect(Number(retries)).toBe(Number(rejected)); // every 429 was retried, nothing else was
  });

  it("fleet-on-redis.ts holds 4 worker processes to one limit of 3 through Redis", { timeout: 120_000 }, async () => {
    const out = await runExample("fleet-on-redis.ts");
    expect(out).toMatch(/^4 workers made 32 calls/m);
    const peak = Number(/at most (\d+) calls at once \(fleet limit 3\)/.exec(out)?.[1]);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(3);
  });
});

describe("migration guides: the permits half runs", () => {
  it("from p-limit: same call shape, same controls, plus map()", async () => {
    const { state, fetchText } = tracked();
    const urls = ["a", "b", "c", "d", "e"];
    expect(await pLimit.fetchAll(urls, fetchText)).toEqual(urls.map((u) => `body of ${u}`));
    expect(state.peak).toBe(2);
    expect(pLimit.controls()).toEqual({ active: 2, pending: 0, concurrency: 2 });
    const lazy = tracked();
    expect(await pLimit.fetchAllLazily(urls, lazy.fetchText)).toEqual(urls.map((u) => `body of ${u}`));
    expect(lazy.state.peak).toBe(2);
  });

  it("from p-queue: run + onIdle, signal, and a Limiter for intervalCap", async () => {
    const { state, fetchText } = tracked();
    expect((await pQueue.crawl(["a", "b", "c", "d"], fetchText)).sort()).toEqual(["body of a", "body of b", "body of c", "body of d"]);
    expect(state.peak).toBe(2);
    expect(await pQueue.cancellable(new AbortController().signal)).toBe("done");
    await expect(pQueue.cancellable(AbortSignal.abort())).rejects.toMatchObject({ name: "AbortError" });
    const limiter = pQueue.rateLimited();
    expect(limiter.stats().concurrency.capacity).toBe(2);
    limiter.close();
    expect(await pQueue.urgentFirst()).toEqual(["interactive", "batch"]);
  });

  it("from async-sema: using, queued, RateLimiter", async () => {
    const sem = new Semaphore(1);
    expect(await asyncSema.withPermit(sem, async () => 7)).toBe(7);
    expect(sem.inUse).toBe(0);
    await expect(asyncSema.withPermit(sem, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(sem.inUse).toBe(0); // released by `using` on the error path too
    expect(asyncSema.introspect(sem)).toEqual({ waiting: 0, free: 1 });
    expect(await asyncSema.rateLimitedLoop(5)).toBe(5); // within the burst: no waiting
  });

  it("from async-sema: a token pool is a Semaphore next to an array of tokens", async () => {
    const withConnection = asyncSema.tokenPool(["c1", "c2"]);
    const inUse = new Set<string>();
    let overlap = false;
    const seen = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        withConnection(async (token) => {
          if (inUse.has(token)) overlap = true; // a token handed out twice at once
          inUse.add(token);
          await new Promise((resolve) => setTimeout(resolve, 2 + (i % 3)));
          inUse.delete(token);
          if (i === 4) throw new Error("boom");
          return token;
        }).catch((error: Error) => error.message),
      ),
    );
    expect(overlap).toBe(false);
    expect(seen.filter((t) => t === "boom")).toHaveLength(1);
    expect(new Set(seen.filter((t) => t !== "boom"))).toEqual(new Set(["c1", "c2"]));
    // Every token came back, also from the call that threw: two more run at once.
    const both = await Promise.all([withConnection(async (t) => t), withConnection(async (t) => t)]);
    expect(both.sort()).toEqual(["c1", "c2"]);
  });

  it("from async-mutex: run, manual acquire with timeout, weights", async () => {
    const balances = await Promise.all([asyncMutex.deposit(10), asyncMutex.deposit(20), asyncMutex.deposit(30)]);
    expect(balances).toEqual([10, 30, 60]); // serialized in call order, no lost update
    expect(await asyncMutex.manual()).toEqual({ lockedInside: true, lockedAfter: false });
    expect(await asyncMutex.weighted()).toBe(3);
  });

  it("from async-mutex: waitForUnlock(weight), setValue, and a cancel() that keeps the lock usable", async () => {
    const sem = new Semaphore(3);
    const held = await sem.acquire({ weight: 2 });
    let unlocked = false;
    const waiting = asyncMutex.waitForUnlock(sem, 2).then(() => (unlocked = true));
    await new Promise((resolve) => setTimeout(resolve, 1));
    expect(unlocked).toBe(false); // only 1 free
    held.release();
    await waiting;
    expect(sem.available).toBe(3); // it took nothing
    asyncMutex.setValue(sem, 1);
    expect(sem.available).toBe(1);
    const permit = await sem.acquire();
    asyncMutex.setValue(sem, 2); // two more free while one is held
    expect([sem.available, sem.inUse]).toEqual([2, 1]);
    permit.release();

    const lock = asyncMutex.cancellableLock();
    let release!: () => void;
    const first = lock.run(() => new Promise<string>((resolve) => (release = () => resolve("first"))));
    const second = lock.run(async () => "second");
    await new Promise((resolve) => setTimeout(resolve, 1));
    lock.cancel();
    await expect(second).rejects.toThrow("cancelled");
    const third = lock.run(async () => "third"); // still usable after cancel()
    release();
    expect(await first).toBe("first");
    expect(await third).toBe("third");
  });

  it("from bottleneck: Limiter for maxConcurrent + minTime, run, limitFunction", async () => {
    const limiter = bottleneck.makeLimiter();
    const starts: number[] = [];
    const t0 = performance.now();
    const results = await bottleneck.scheduleAll(
      limiter,
      [1, 2, 3, 4].map((n) => async () => {
        starts.push(performance.now() - t0);
        return n * 2;
      }),
    );
    expect(results).toEqual([2, 4, 6, 8]);
    // minTime 50 ms: the 4th is admitted at least 150 ms after the 1st, which is admitted
    // no earlier than t0. Measured from t0, not from the 1st start: on a loaded machine
    // the 1st task body can run late while the rate keeps its own schedule (CI saw
    // 137.8 ms between the starts). Timers may fire a little early: 145.
    expect(starts[3] ?? 0).toBeGreaterThanOrEqual(145);
    limiter.close();
    const { state, fetchText } = tracked();
    const wrapped = bottleneck.wrapped((id) => fetchText(String(id)));
    expect(await Promise.all([1, 2, 3, 4].map(wrapped))).toEqual(["body of 1", "body of 2", "body of 3", "body of 4"]);
    expect(state.peak).toBe(2);
  });

  describe("from redis-semaphore (real redis-server on loopback)", () => {
    let server: RedisServer;
    let redis: Redis;
    beforeAll(async () => {
      server = await startRedisServer();
      redis = new Redis(server.port, server.host, { maxRetriesPerRequest: 1 });
      await redis.ping(); // connected before the semaphore sees it
    });
    afterAll(async () => {
      redis?.disconnect();
      await server?.stop();
    });

    it("RedisSemaphore.run and RedisLock with a fencing token", async () => {
      expect(await redisSemaphore.callPartner(redis, async () => "partner says hi")).toBe("partner says hi");
      const first = await redisSemaphore.exclusive(redis);
      const second = await redisSemaphore.exclusive(redis);
      expect(second).toBeGreaterThan(first);
    });
  });
});

describe("docs/migration/*.md show the tested code verbatim", () => {
  const files = readdirSync(join(root, "examples/migration")).filter((f) => f.endsWith(".ts"));
  it("has one guide per migration example", () => {
    const guides = readdirSync(join(root, "docs/migration")).filter((f) => f.endsWith(".md"));
    expect(guides.sort()).toEqual(files.map((f) => f.replace(/\.ts$/, ".md")).sort());
  });
  it.each(files)("%s", (file) => {
    const code = readFileSync(join(root, "examples/migration", file), "utf8").trimEnd();
    const guide = readFileSync(join(root, "docs/migration", file.replace(/\.ts$/, ".md")), "utf8");
    expect(guide.includes(code), `docs/migration/${file.replace(/\.ts$/, ".md")} must contain examples/migration/${file} verbatim`).toBe(true);
  });
});
