/**
 * Fleet adaptive limits on a real redis-server: one AIMD limit in Redis for
 * every process of a `RedisSemaphore` with `adaptive`. Two instances on two
 * clients stand in for two processes. See docs/redis.md, "Fleet adaptive limits".
 */
import diagnostics_channel from "node:diagnostics_channel";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AdaptiveMismatchError,
  RedisLock,
  RedisSemaphore,
  type RedisAdaptiveOptions,
  type RedisPermit,
} from "../../src/redis/index.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { until } from "../helpers/until.js";

let server: RedisServer;
let redis: Redis;
let other: Redis;
let n = 0;
const fresh = (): string => `ad-${n++}-${Date.now()}`;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.port, server.host);
  other = new Redis(server.port, server.host);
});

afterAll(async () => {
  redis.disconnect();
  other.disconnect();
  await server.stop();
});

/** Two instances of one adaptive semaphore on two clients: two "processes". */
function pair(adaptive: RedisAdaptiveOptions, name = fresh()) {
  // No restart guard: the test server is younger than a lease, and an
  // inspect() before the first acquire would count as evidence of a lost state.
  return {
    name,
    a: new RedisSemaphore(redis, name, { adaptive, leaseMs: 10_000, restartGuard: false }),
    b: new RedisSemaphore(other, name, { adaptive, leaseMs: 10_000, restartGuard: false }),
  };
}

interface LimitMessage {
  limiter: unknown;
  limit: number;
  previous: number;
  cause: string;
}

/** Collects `permits:limit` messages of `limiter` while the test runs. */
function limitEvents(limiter: unknown): { events: LimitMessage[]; stop: () => void } {
  const events: LimitMessage[] = [];
  const listener = (message: unknown): void => {
    const m = message as LimitMessage;
    if (m.limiter === limiter) events.push(m);
  };
  diagnostics_channel.subscribe("permits:limit", listener);
  return { events, stop: () => diagnostics_channel.unsubscribe("permits:limit", listener) };
}

async function storedLimit(sem: RedisSemaphore): Promise<number | undefined> {
  return (await sem.inspect()).capacity;
}

/** Until Redis has a subscriber on the semaphore's channel from each of `count` clients. */
async function subscribed(name: string, count: number): Promise<void> {
  const channel = `permits:{${name}}:wake`;
  await until("subscribed", async () => {
    const reply = (await redis.call("PUBSUB", "SHARDNUMSUB", channel)) as [string, number];
    return Number(reply[1]) >= count;
  });
}

async function queued(sem: RedisSemaphore, count: number): Promise<void> {
  await until(`${count} queued`, async () => (await sem.inspect()).waiters.length >= count);
}

describe("one limit for the fleet", () => {
  it("a drop in one process lowers the limit another sees, pushed to it: it sends no command", async () => {
    const { name, a, b } = pair({ initial: 8, max: 64 });
    await (await b.acquire()).ignore(); // b has used the semaphore once (and listens)
    await subscribed(name, 1);
    expect(b.limit).toBe(8);
    const bEvents = limitEvents(b);
    // Every command from b's own connection, from here on.
    const info = String(await other.call("CLIENT", "INFO"));
    const bAddr = /addr=(\S+)/.exec(info)?.[1];
    const monitor = await redis.monitor();
    const fromB: string[] = [];
    monitor.on("monitor", (_time: string, args: string[], source: string) => {
      if (source === bAddr) fromB.push(args.join(" "));
    });
    await redis.echo("monitor-on");
    const permit = await a.acquire();
    await permit.drop();
    expect(a.limit).toBe(6); // 8 × 0.75, from the release's reply
    await until("b hears the new limit", () => b.limit === 6);
    expect(b.capacity).toBe(6);
    expect(b.stats().limit).toBe(6);
    monitor.disconnect();
    bEvents.stop();
    expect(fromB).toEqual([]);
    expect(bEvents.events).toEqual([{ limiter: b, limit: 6, previous: 8, cause: "drop" }]);
    expect(await storedLimit(a)).toBe(6);
    await a.close();
    await b.close();
  });

  it("a burst of drops of permits granted before one decrease lowers the limit once (per congestion event)", async () => {
    const { a, b } = pair({ initial: 8, max: 64 });
    const held: RedisPermit[] = [];
    for (let i = 0; i < 3; i++) held.push(await a.acquire(), await b.acquire());
    await Promise.all(held.map((p) => p.drop())); // six drops, all granted under limit 8
    expect(await storedLimit(a)).toBe(6); // not 8 × 0.75^6
    // A permit granted after that decrease is a new event: 6 × 0.75 = 4.5 → 5 (rounded, as in process).
    const later = await b.acquire();
    await later.drop();
    expect(await storedLimit(a)).toBe(5);
    expect(a.stats().drops).toBe(3);
    expect(b.stats().drops).toBe(4);
    await a.close();
    await b.close();
  });

  it("successes at high utilisation raise it: doubling in slow start, +1 after the first drop, never past max", async () => {
    const { a, b } = pair({ initial: 2, max: 5, minSamples: 1 });
    const events = limitEvents(a);
    /** Holds `count` permits across both processes at once, then releases them all as successes. */
    const round = async (count: number): Promise<void> => {
      const held: RedisPermit[] = [];
      for (let i = 0; i < count; i++) held.push(await (i % 2 === 0 ? a : b).acquire());
      for (const p of held) await p.release();
    };
    await round(2); // a window of 2 successes at full use: 2 → 4
    expect(await storedLimit(a)).toBe(4);
    await round(4); // 4 → 8, capped at 5
    expect(await storedLimit(a)).toBe(5);
    await (await a.acquire()).drop(); // 5 × 0.75 = 3.75 → 4; slow start ends
    expect(await storedLimit(a)).toBe(4);
    await round(4); // steady: 4 → 5
    expect(await storedLimit(a)).toBe(5);
    await round(5);
    expect(await storedLimit(a)).toBe(5); // max
    await a.acquire().then((p) => p.ignore()); // a hears the last value
    events.stop();
    expect(events.events.map((e) => [e.cause, e.limit])).toEqual([
      ["slowStart", 4],
      ["slowStart", 5],
      ["drop", 4],
      ["increase", 5],
    ]);
    await a.close();
    await b.close();
  });

  it("successes at low utilisation do not raise it", async () => {
    const { a } = pair({ initial: 8, max: 64, minSamples: 1 });
    for (let i = 0; i < 24; i++) await (await a.acquire()).release(); // one in flight of 8
    expect(await storedLimit(a)).toBe(8);
    expect(a.stats().successes).toBe(24);
    await a.close();
  });

  it("lowering the limit never revokes a permit; new grants wait until use is below it", async () => {
    const { a, b } = pair({ initial: 4, max: 64 });
    const held = [await a.acquire(), await a.acquire(), await b.acquire(), await b.acquire()];
    await held[0]!.drop(); // 4 → 3, with 3 still held
    expect(await storedLimit(a)).toBe(3);
    expect(held.slice(1).every((p) => p.valid && !p.signal.aborted)).toBe(true);
    expect((await a.inspect()).holders).toHaveLength(3);
    expect(await a.tryAcquire()).toBeUndefined(); // 3 held of 3
    await held[1]!.drop(); // granted before the decrease: no second decrease
    expect(await storedLimit(a)).toBe(3);
    const next = await b.tryAcquire(); // 2 held of 3
    expect(next).toBeDefined();
    for (const p of [held[2]!, held[3]!, next!]) await p.ignore();
    await a.close();
    await b.close();
  });

  it("raising the limit hands the new permits to waiters at once, in every process", async () => {
    const { a, b } = pair({ initial: 2, min: 1, max: 8, minSamples: 1, slowStart: false });
    const p1 = await a.acquire();
    const p2 = await a.acquire();
    const w1 = b.acquire({ timeout: 10_000 });
    await queued(a, 1);
    const w2 = b.acquire({ timeout: 10_000 });
    await queued(a, 2);
    const w3 = b.acquire({ timeout: 10_000 });
    await queued(a, 3);
    await p1.release(); // one success: w1 takes the freed permit
    const g1 = await w1;
    await g1.release(); // two successes at full use: 2 → 3, and its permit is freed: w2 and w3 both fit
    const [g2, g3] = await Promise.all([w2, w3]);
    expect(await storedLimit(a)).toBe(3);
    expect(b.limit).toBe(3);
    await until("a hears the raise", () => a.limit === 3);
    for (const p of [p2, g2, g3]) await p.ignore();
    await a.close();
    await b.close();
  });

  it("run() samples: a result is a success, a TimeoutError (or isDrop) a drop, other throws are ignored", async () => {
    const { a } = pair({ initial: 8, max: 64 });
    expect(await a.run(() => 7)).toBe(7);
    await expect(a.run(() => Promise.reject(new Error("404")))).rejects.toThrow("404");
    expect(await storedLimit(a)).toBe(8);
    await expect(a.run(() => Promise.reject(new DOMException("slow", "TimeoutError")))).rejects.toThrow("slow");
    expect(await storedLimit(a)).toBe(6);
    const busy = new Error("503");
    await expect(a.run(() => Promise.reject(busy), { isDrop: (e) => e === busy })).rejects.toBe(busy);
    expect(await storedLimit(a)).toBe(5);
    expect(() => a.run(() => 1, { isDrop: 3 as never })).toThrow(/isDrop/);
    expect(a.stats()).toMatchObject({ successes: 1, drops: 2, ignored: 1 });
    await a.close();
  });

  it("after Redis loses its data (a restart without persistence) the limit starts over at initial", async () => {
    const own = await startRedisServer();
    const client = new Redis(own.port, own.host, { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    client.on("error", () => {});
    try {
      const sem = new RedisSemaphore(client, fresh(), { adaptive: { initial: 8, max: 64 }, restartGuard: false });
      await (await sem.acquire()).drop();
      expect(sem.limit).toBe(6);
      const events = limitEvents(sem);
      await own.restart();
      await until("client reconnected", () => client.status === "ready");
      const permit = await sem.acquire({ timeout: 5_000 });
      expect(sem.limit).toBe(8);
      expect(await storedLimit(sem)).toBe(8);
      events.stop();
      expect(events.events).toEqual([{ limiter: sem, limit: 8, previous: 6, cause: "reset" }]);
      // ... and it works on from there: a drop of this new grant lowers it again.
      await permit.drop();
      expect(sem.limit).toBe(6);
      await sem.close();
    } finally {
      client.disconnect();
      await own.stop();
    }
  }, 30_000);
});

describe("the adaptive option", () => {
  it("is checked before anything is sent: TypeError/RangeError naming it", async () => {
    const name = fresh();
    const make = (adaptive: unknown) => () => new RedisSemaphore(redis, name, { adaptive: adaptive as RedisAdaptiveOptions });
    expect(make({ algorithm: "gradient2" })).toThrow(RangeError);
    expect(make({ algorithm: "gradient2" })).toThrow(/`adaptive.algorithm`.*"gradient2".*only "aimd"/);
    expect(make({ algorithm: "vegas" })).toThrow(/AdaptiveSemaphore/);
    expect(make({ algorithm: "cubic" })).toThrow(RangeError);
    expect(make({ algorithm: 1 })).toThrow(TypeError);
    expect(make({ initial: 0 })).toThrow(/adaptive.initial/);
    expect(make({ initial: 100, max: 64 })).toThrow(RangeError);
    expect(make({ min: 3, max: 2 })).toThrow(/`adaptive.max`.*at least/);
    expect(make({ min: 1.5 })).toThrow(/adaptive.min/);
    expect(make({ backoff: 1 })).toThrow(RangeError);
    expect(make({ backoff: "0.5" })).toThrow(TypeError);
    expect(make({ backoff: 0 })).toThrow(/adaptive.backoff/);
    expect(make({ minSamples: 0 })).toThrow(/adaptive.minSamples/);
    expect(make({ slowStart: "yes" })).toThrow(/adaptive.slowStart/);
    expect(make({ rttNoLoad: 100 })).toThrow(/Unknown option `rttNoLoad` in `adaptive`/);
    expect(make("aimd")).toThrow(TypeError);
    expect(() => new RedisSemaphore(redis, name, 4, { adaptive: {} })).toThrow(/either `capacity` or `adaptive`/);
    expect(() => new RedisSemaphore(redis, name, { leaseMs: 1_000 } as never)).toThrow(/`capacity`/);
    expect(() => new RedisSemaphore(redis, name, { adaptive: {} } as never, {})).toThrow(/fourth argument/);
    expect(() => new RedisLock(redis, name, { adaptive: {} } as never)).toThrow(/either `capacity` or `adaptive`/);
    const sem = new RedisSemaphore(redis, name, { adaptive: { min: 2, initial: 4 } });
    expect(() => sem.acquire({ weight: 3 })).toThrow(/`adaptive.min` \(2\)/);
    expect(() => sem.tryAcquire(3)).toThrow(RangeError);
    expect(await redis.exists(`permits:{${name}}:meta`)).toBe(0); // nothing reached Redis
    const permit = await sem.acquire({ weight: 2 });
    expect(permit.weight).toBe(2);
    await permit.release();
    await sem.close();
  });

  it("the defaults: aimd, initial 4, min 1, max 1000", async () => {
    const sem = new RedisSemaphore(redis, fresh(), { adaptive: {} });
    expect(sem.limit).toBe(4);
    await (await sem.acquire()).ignore();
    expect((await redis.hget(`permits:{${(sem as { name: string }).name}}:meta`, "aimd")) ?? "").toBe("aimd:1:1000:0.75:10:1");
    await sem.close();
  });

  it("every process must agree: a fixed capacity and adaptive, or other settings, on one name fail loudly", async () => {
    const name = fresh();
    const fixed = new RedisSemaphore(redis, name, 8);
    await (await fixed.acquire()).release();
    const adaptive = new RedisSemaphore(other, name, { adaptive: { initial: 8 } });
    const error = await adaptive.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdaptiveMismatchError);
    expect(error).toMatchObject({ stored: "static capacity 8", requested: "adaptive with aimd:1:1000:0.75:10:1" });

    const name2 = fresh();
    const first = new RedisSemaphore(redis, name2, { adaptive: { initial: 8, max: 64 } });
    await (await first.acquire()).release();
    const otherMax = new RedisSemaphore(other, name2, { adaptive: { initial: 8, max: 32 } });
    await expect(otherMax.acquire()).rejects.toBeInstanceOf(AdaptiveMismatchError);
    const staticOne = new RedisSemaphore(other, name2, 8);
    await expect(staticOne.acquire()).rejects.toThrow(/adaptive with aimd:1:64/);
    await first.close();
  });
});

describe("property: the fleet's limit follows the AIMD rule exactly, and no grant ever exceeds the limit in force", () => {
  /** The rule, written out again from the docs (docs/redis.md, "Fleet adaptive limits"). */
  class Model {
    limit: number;
    fence = 0;
    ok = 0;
    peak = 0;
    ss: boolean;
    seq = 0;
    used = 0;
    constructor(readonly o: { initial: number; min: number; max: number; backoff: number; minSamples: number; slowStart: boolean }) {
      this.limit = o.initial;
      this.ss = o.slowStart;
    }
    grant(): number {
      this.used++;
      return ++this.seq;
    }
    end(seq: number, kind: "release" | "drop" | "ignore"): void {
      const before = this.used;
      this.used--;
      if (kind === "ignore" || seq <= this.fence) return;
      if (kind === "drop") {
        this.limit = Math.max(this.o.min, Math.floor(Math.min(this.limit * this.o.backoff, this.limit - 1) + 0.5));
        this.fence = this.seq;
        this.ok = this.peak = 0;
        this.ss = false;
        return;
      }
      this.ok++;
      this.peak = Math.max(this.peak, before);
      if (this.ok < Math.max(this.limit, this.o.minSamples)) return;
      const utilised = this.peak * 2 >= this.limit;
      this.ok = this.peak = 0;
      if (utilised) this.limit = Math.min(this.o.max, this.ss ? this.limit * 2 : this.limit + 1);
    }
  }

  it("random tryAcquire / release / drop / ignore across two processes", async () => {
    const settings = fc.record({
      initial: fc.integer({ min: 1, max: 6 }),
      extra: fc.integer({ min: 0, max: 6 }),
      backoff: fc.constantFrom(0.5, 0.75, 0.9),
      minSamples: fc.integer({ min: 1, max: 3 }),
      slowStart: fc.boolean(),
    });
    const step = fc.oneof(
      fc.record({ op: fc.constant("acquire" as const), who: fc.integer({ min: 0, max: 1 }) }),
      fc.record({ op: fc.constantFrom("release" as const, "drop" as const, "ignore" as const), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(settings, fc.array(step, { minLength: 1, maxLength: 30 }), async (s, steps) => {
        const options = { initial: s.initial, min: 1, max: s.initial + s.extra, backoff: s.backoff, minSamples: s.minSamples, slowStart: s.slowStart };
        const model = new Model(options);
        const { a, b } = pair(options);
        const held: { permit: RedisPermit; seq: number }[] = [];
        try {
          for (const st of steps) {
            if (st.op === "acquire") {
              const permit = await (st.who === 0 ? a : b).tryAcquire();
              // Granted exactly when the model's limit has room: never more than the limit in force.
              expect(permit !== undefined).toBe(model.used + 1 <= model.limit);
              if (permit !== undefined) held.push({ permit, seq: model.grant() });
            } else if (held.length > 0) {
              const [h] = held.splice(st.pick % held.length, 1);
              model.end(h!.seq, st.op);
              await h!.permit[st.op]();
              expect(await storedLimit(a)).toBe(model.limit);
            }
            expect((await a.inspect()).inUse).toBe(model.used);
          }
        } finally {
          for (const h of held) await h.permit.ignore();
          await a.close();
          await b.close();
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
