/**
 * The Redis semaphore across real processes: forked workers on one real
 * redis-server, a Redis-side counter of holders, SIGKILL and SIGSTOP.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseLostError } from "../../src/core/errors.js";
import { RedisSemaphore } from "../../src/redis/index.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";

const SOURCE = fileURLToPath(new URL("./fixtures/worker.ts", import.meta.url));
// Bundled once to plain JS (node_modules stay external), so a fork starts in
// tens of ms instead of compiling TypeScript in every child.
const WORKER = fileURLToPath(new URL("../../node_modules/.cache/permits-test/redis-worker.mjs", import.meta.url));

let server: RedisServer;
let redis: Redis;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  await build({ entryPoints: [SOURCE], bundle: true, platform: "node", format: "esm", packages: "external", outfile: WORKER, logLevel: "error" });
  server = await startRedisServer();
  redis = new Redis(server.port, server.host);
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  redis.disconnect();
  await server.stop();
});

interface Worker {
  child: ChildProcess;
  send(message: object): void;
  /** Resolves with the next message that has `key`. */
  next<T = Record<string, unknown>>(key: string, timeoutMs?: number): Promise<T>;
}

async function startWorker(): Promise<Worker> {
  const child = fork(WORKER, [String(server.port)], { stdio: "inherit" });
  children.add(child);
  child.once("exit", () => children.delete(child));
  const inbox: Record<string, unknown>[] = [];
  const waiting: { key: string; resolve: (m: Record<string, unknown>) => void }[] = [];
  child.on("message", (m: Record<string, unknown>) => {
    const i = waiting.findIndex((w) => w.key in m);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  const worker: Worker = {
    child,
    send: (message) => child.send(message),
    next<T>(key: string, timeoutMs = 15_000): Promise<T> {
      const i = inbox.findIndex((m) => key in m);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as T);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${key}" message within ${timeoutMs} ms`)), timeoutMs);
        waiting.push({
          key,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m as T);
          },
        });
      });
    },
  };
  await worker.next("ready");
  return worker;
}

/** Waits until Redis shows `count` waiters in the semaphore's queue. */
async function untilQueued(sem: RedisSemaphore, count: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((await sem.inspect()).waiters.length >= count) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`queue never reached ${count}`);
}

describe("RedisSemaphore across processes", () => {
  it("never more than the capacity across 4 processes x 8 tasks, with aborts and timeouts; every task finishes", async () => {
    const workers = await Promise.all([0, 1, 2, 3].map(() => startWorker()));
    const name = "fleet-limit";
    for (const w of workers) w.send({ cmd: "tasks", name, capacity: 3, tasks: 8, rounds: 12, leaseMs: 5_000 });
    const results = await Promise.all(
      workers.map((w) => w.next<{ outcomes: Record<string, number>; maxSeen: number }>("done", 60_000)),
    );
    let total = 0;
    for (const { outcomes, maxSeen } of results) {
      expect(maxSeen).toBeLessThanOrEqual(3);
      expect(outcomes.failed).toBe(0);
      total += outcomes.granted! + outcomes.aborted! + outcomes.timedOut!;
    }
    expect(total).toBe(4 * 8 * 12); // every task settled every round
    expect(Math.max(...results.map((r) => r.maxSeen))).toBe(3); // the limit was actually reached
    expect(await redis.get(`${name}:counter`)).toBe("0");
    const sem = new RedisSemaphore(redis, name, 3);
    const snapshot = await sem.inspect();
    expect(snapshot.inUse).toBe(0);
    expect(snapshot.holders).toEqual([]);
    expect(snapshot.waiters).toEqual([]);
    for (const w of workers) w.send({ cmd: "exit" });
  }, 90_000);

  it("grants in FIFO order across processes", async () => {
    const name = "fleet-fifo";
    const sem = new RedisSemaphore(redis, name, 1);
    const gate = await sem.acquire();
    const workers = await Promise.all([0, 1, 2, 3].map(() => startWorker()));
    // Queue them in a known order: each waits until the previous is in Redis's queue.
    const order = [2, 0, 3, 1];
    for (const [position, index] of order.entries()) {
      workers[index]!.send({ cmd: "acquire", name, capacity: 1, leaseMs: 5_000, tag: `w${index}` });
      await untilQueued(sem, position + 1);
    }
    await gate.release();
    const tokens: number[] = [];
    for (const index of order) {
      const { token } = await workers[index]!.next<{ token: number }>("granted");
      tokens.push(token);
      workers[index]!.send({ cmd: "release" });
      await workers[index]!.next("released");
    }
    expect(await redis.lrange(`${name}:order`, 0, -1)).toEqual(order.map((i) => `w${i}`));
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(tokens[0]).toBeGreaterThan(gate.token);
    for (const w of workers) w.send({ cmd: "exit" });
  }, 60_000);

  it("a SIGKILLed holder's permit is usable by others within 1.5x the lease", async () => {
    const name = "fleet-crash";
    const leaseMs = 1_000;
    const worker = await startWorker();
    worker.send({ cmd: "hold", name, capacity: 1, leaseMs });
    const { held } = await worker.next<{ held: number }>("held");
    const sem = new RedisSemaphore(redis, name, 1, { leaseMs });
    const waiting = sem.acquire();
    await untilQueued(sem, 1);
    const killedAt = performance.now();
    worker.child.kill("SIGKILL");
    const permit = await waiting;
    const recovery = performance.now() - killedAt;
    expect(recovery).toBeLessThan(1.5 * leaseMs);
    expect(permit.token).toBeGreaterThan(held);
    await permit.release();
  }, 30_000);

  it("lease loss: a holder paused past its lease has permit.signal aborted, and the next token is larger", async () => {
    const name = "fleet-pause";
    const leaseMs = 500;
    const worker = await startWorker();
    worker.send({ cmd: "hold", name, capacity: 1, leaseMs });
    const { held } = await worker.next<{ held: number }>("held");
    worker.child.kill("SIGSTOP");
    const sem = new RedisSemaphore(redis, name, 1, { leaseMs });
    const permit = await sem.acquire({ timeout: 3 * leaseMs });
    expect(permit.token).toBeGreaterThan(held);
    worker.child.kill("SIGCONT");
    const { lost } = await worker.next<{ lost: string }>("lost", 5_000);
    expect(lost).toBe("LeaseLostError");
    await permit.release();
    worker.send({ cmd: "exit" });
  }, 30_000);
});

describe("RedisSemaphore leases in one process", () => {
  it("a blocked event loop past the lease loses the permit: signal aborts with LeaseLostError, no unhandled rejection", async () => {
    const sem = new RedisSemaphore(redis, "pause-in-process", 1, { leaseMs: 200 });
    const other = new RedisSemaphore(redis, "pause-in-process", 1, { leaseMs: 200 });
    const permit = await sem.acquire();
    const aborted = new Promise<unknown>((resolve) => permit.signal.addEventListener("abort", () => resolve(permit.signal.reason)));
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400); // stall: no renewal can run
    const next = await other.acquire({ timeout: 2_000 });
    const reason = await aborted;
    expect(reason).toBeInstanceOf(LeaseLostError);
    expect(next.token).toBeGreaterThan(permit.token);
    expect(sem.stats().leaseLost).toBe(1);
    await permit.release(); // releasing a lost permit frees nothing
    expect(await other.tryAcquire()).toBeUndefined();
    await next.release();
  });

  it("an acquire reclaims an expired lease itself: tryAcquire succeeds at once, before any heartbeat", async () => {
    const sem = new RedisSemaphore(redis, "reclaim-in-acquire", 1, { leaseMs: 200 });
    const other = new RedisSemaphore(redis, "reclaim-in-acquire", 1, { leaseMs: 200 });
    const permit = await sem.acquire();
    const lost = new Promise<unknown>((resolve) => permit.signal.addEventListener("abort", () => resolve(permit.signal.reason)));
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400); // stall past the lease
    // Both sent before any timer of either semaphore can run (no heartbeat reaps first):
    // only the scripts themselves can see that the lease ended.
    const [snapshot, next] = await Promise.all([other.inspect(), other.tryAcquire()]);
    expect(snapshot).toMatchObject({ inUse: 0, holders: [] });
    expect(next).toBeDefined();
    expect(next!.token).toBeGreaterThan(permit.token);
    expect(await lost).toBeInstanceOf(LeaseLostError);
    await next!.release();
  });

  it("leases are renewed while held: a permit outlives many leases", async () => {
    const sem = new RedisSemaphore(redis, "renewed", 1, { leaseMs: 600 });
    const permit = await sem.acquire();
    await new Promise((r) => setTimeout(r, 2_400)); // four leases
    expect(permit.signal.aborted).toBe(false);
    const { holders } = await sem.inspect();
    expect(holders.map((h) => h.id)).toEqual([permit.id]);
    expect(await sem.tryAcquire()).toBeUndefined();
    await permit.release();
    expect((await sem.inspect()).holders).toEqual([]);
  });

  it("a waiter whose process stopped sending heartbeats drops out of the queue and does not block the line", async () => {
    const name = "silent-waiter";
    const sem = new RedisSemaphore(redis, name, 1, { leaseMs: 300 });
    const holder = await sem.acquire();
    // a waiter that vanished: queued directly in Redis, never heard from again
    const worker = await startWorker();
    worker.send({ cmd: "acquire", name, capacity: 1, leaseMs: 300, tag: "ghost" });
    await untilQueued(sem, 1);
    worker.child.kill("SIGKILL");
    const behind = sem.acquire({ timeout: 3_000 });
    await untilQueued(sem, 2);
    await new Promise((r) => setTimeout(r, 400)); // the ghost's heartbeat deadline passes
    await holder.release();
    const permit = await behind;
    expect((await sem.inspect()).holders.map((h) => h.id)).toEqual([permit.id]);
    await permit.release();
  }, 20_000);
});
