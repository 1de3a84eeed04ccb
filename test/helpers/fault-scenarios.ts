/**
 * The fault scenarios of issue 11, each a function that builds its own real
 * parts (redis-server, proxies, worker processes), injects one fault, and
 * returns the offline checker's verdict with the figures. The tests
 * (test/redis/fleet-faults.test.ts) assert the verdicts; the benchmark
 * (bench/redis/faults.js) prints the figures. One implementation.
 *
 * Every scenario: RedisSemaphore of capacity 3, `leaseMs` 1200,
 * `commandTimeoutMs` 600 (the defaults' 2:1 ratio scaled down), holds of
 * 20–30 ms checked every 2 ms, 4 processes × 8 tasks unless said otherwise.
 */
import { Redis } from "ioredis";
import { RedisSemaphore, type RedisPermit } from "../../src/redis/index.js";
import { checkRun, type CheckOptions, type Hold, type Verdict } from "./fault-check.js";
import { Fleet, type FaultWorker, now, sleep } from "./fault-harness.js";
import { startRedisServer, type RedisServer } from "./redis-server.js";
import { TcpProxy } from "./tcp-proxy.js";

export const CAPACITY = 3;
export const LEASE_MS = 1_200;
export const COMMAND_TIMEOUT_MS = 600;
/** Cross-process clock slack for the checker (measured skew: < 0.1 ms). */
export const TOLERANCE_MS = 1;
/** Every task must settle within this after "stop": two leases, two command timeouts and 4 s of slack. */
export const HANG_BOUND_MS = 2 * LEASE_MS + 2 * COMMAND_TIMEOUT_MS + 4_000;
const OPTIONS = { leaseMs: LEASE_MS, commandTimeoutMs: COMMAND_TIMEOUT_MS };
const HOST = "127.0.0.1";

export interface ScenarioResult {
  key: string;
  title: string;
  verdict: Verdict;
  /** Grants logged (holds with or without a passed check). */
  grants: number;
  /** Acquires that failed (e.g. RedisUnavailableError during the fault): allowed. */
  failedAcquires: number;
  /** Extra figures and facts, for the bench table and failure messages. */
  notes: string[];
}

export interface Scenario {
  key: string;
  title: string;
  run(): Promise<ScenarioResult>;
}

function isValid(permit: RedisPermit): boolean {
  // permit.valid reads the clock; signal.aborted must agree with it.
  return permit.valid && !permit.signal.aborted;
}

/** Holds taken in the test process itself, logged like the workers' (validity checked at release). */
class Recorder {
  readonly holds: Hold[] = [];
  async acquire(sem: RedisSemaphore, who: string, weight = 1): Promise<{ permit: RedisPermit; release(): Promise<void> }> {
    const acquireStart = now();
    const permit = await sem.acquire({ weight });
    const granted = now();
    let abortedAt: number | undefined;
    permit.signal.addEventListener("abort", () => (abortedAt = now()));
    return {
      permit,
      release: () => {
        const end = isValid(permit) ? now() : (abortedAt ?? granted);
        this.holds.push({ who, token: permit.token, weight, acquireStart, granted, end, lost: abortedAt !== undefined });
        return permit.release();
      },
    };
  }
}

/** The largest weight `sem` grants right now (tryAcquire from the capacity down), released at once. */
async function grantable(sem: RedisSemaphore, capacity = CAPACITY): Promise<number> {
  for (let w = capacity; w >= 1; w--) {
    const permit = await sem.tryAcquire(w);
    if (permit !== undefined) {
      await permit.release();
      return w;
    }
  }
  return 0;
}

/** After the faults and one more lease: can a fresh instance take the whole capacity at once? */
async function capacityBack(port: number, name: string, capacity = CAPACITY): Promise<boolean> {
  await sleep(LEASE_MS + 200);
  const redis = new Redis(port, HOST, { maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  try {
    const permit = await new RedisSemaphore(redis, name, capacity, OPTIONS).tryAcquire(capacity);
    await permit?.release();
    return permit !== undefined;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

interface FleetContext {
  server: RedisServer;
  fleet: Fleet;
  workers: FaultWorker[];
  notes: string[];
  /** Holds taken by the test process itself. */
  recorder: Recorder;
  /** Set by a scenario that measures recovery. */
  recovery: { ms?: number };
}

interface FleetScenario {
  workers?: number;
  tasks?: number;
  /**
   * Workers 0..workers-1 start `count` (default 1) of their tasks with a
   * long hold; `tasks` (default: as the others) is how many tasks they run.
   */
  long?: { workers: number; count?: number; tasks?: number; holdMs: number; blockAfterMs?: number; blockMs?: number };
  /** Latency on every worker's proxy, per direction, from the start. */
  delayMs?: number;
  /** Load kept running after the fault, ms (default 1500). */
  afterMs?: number;
  fault(ctx: FleetContext): Promise<void>;
  /** Where the clients' proxies forward and where the final check goes; default: one server of its own. */
  topology?: () => Promise<{ server: RedisServer; upstreamPort: number; finalPort(): number; close(): Promise<void> }>;
  check?: CheckOptions;
}

async function singleServer(): Promise<{ server: RedisServer; upstreamPort: number; finalPort(): number; close(): Promise<void> }> {
  const server = await startRedisServer({ args: ["--enable-debug-command", "local"] });
  return { server, upstreamPort: server.port, finalPort: () => server.port, close: () => server.stop() };
}

async function runFleet(key: string, title: string, def: FleetScenario): Promise<ScenarioResult> {
  const name = `faults-${key}-${Date.now()}`;
  const topology = await (def.topology ?? singleServer)();
  const fleet = new Fleet({ name, capacity: CAPACITY, ...OPTIONS, upstreamPort: topology.upstreamPort });
  const notes: string[] = [];
  const recorder = new Recorder();
  const recovery: { ms?: number } = {};
  try {
    const workers = await fleet.spawn(def.workers ?? 4);
    if (def.delayMs !== undefined) for (const w of workers) w.proxy.delay(def.delayMs);
    workers.forEach((w, i) => {
      const long = def.long !== undefined && i < def.long.workers ? { ...def.long, count: def.long.count ?? 1 } : undefined;
      const tasks = (long === undefined ? undefined : long.tasks) ?? def.tasks ?? 8;
      fleet.run(w, { tasks, ...(long === undefined ? {} : { long }) });
    });
    await def.fault({ server: topology.server, fleet, workers, notes, recorder, recovery });
    await sleep(def.afterMs ?? 1_500);
    const pending = await fleet.stop(HANG_BOUND_MS);
    const back = await capacityBack(topology.finalPort(), name);
    const holds = [...fleet.allHolds(), ...recorder.holds];
    const failedAcquires = workers.reduce((n, w) => n + (w.done?.counts.failed ?? 0), 0);
    const errors = new Map<string, number>();
    for (const w of workers) for (const [e, n] of Object.entries(w.done?.errors ?? {})) errors.set(e, (errors.get(e) ?? 0) + n);
    if (errors.size > 0) notes.push(`acquire errors: ${[...errors].map(([e, n]) => `${e} ×${n}`).join(", ")}`);
    const verdict = checkRun(
      { capacity: CAPACITY, leaseMs: LEASE_MS, holds, pending, crashes: fleet.crashes, capacityBack: back, recoveryMs: recovery.ms },
      { toleranceMs: TOLERANCE_MS, ...def.check },
    );
    return { key, title, verdict, grants: holds.length, failedAcquires, notes };
  } finally {
    await fleet.close();
    await topology.close();
  }
}

async function longGrants(ctx: FleetContext, count: number): Promise<void> {
  await Promise.all(ctx.workers.slice(0, count).map((w) => ctx.fleet.longGrant(w)));
}

async function until(what: string, check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = now() + ms;
  while (!(await check())) {
    if (now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(10);
  }
}

/** (f) Lost replies: the connection drops while an uncontended and a queued acquire are in flight. */
async function lostReplies(key: string, title: string): Promise<ScenarioResult> {
  const server = await startRedisServer();
  const proxy = await TcpProxy.start({ upstreamPort: server.port });
  // ioredis defaults (autoResendUnfulfilledCommands on), a quick reconnect
  const viaProxy = new Redis(proxy.port, HOST, { retryStrategy: () => 20 });
  viaProxy.on("error", () => {});
  const direct = new Redis(server.port, HOST);
  const name = `faults-${key}-${Date.now()}`;
  const notes: string[] = [];
  const recorder = new Recorder();
  const crashes: string[] = [];
  let failedAcquires = 0;
  const onUnhandled = (reason: unknown): void => void crashes.push(`unhandledRejection: ${String(reason)}`);
  process.on("unhandledRejection", onUnhandled);
  try {
    const client = new RedisSemaphore(viaProxy, name, CAPACITY, OPTIONS);
    const other = new RedisSemaphore(direct, name, CAPACITY, OPTIONS);
    await viaProxy.ping();

    // 1. A queued acquire whose reply is lost.
    const all = await recorder.acquire(other, "direct", CAPACITY);
    proxy.stall("replies");
    const queued = recorder.acquire(client, "proxied-queued").catch((e: unknown) => e);
    await until("the queued acquire in Redis", async () => (await other.inspect()).waiters.length === 1);
    proxy.dropAll();
    proxy.resume();
    await sleep(100); // reconnected, unanswered commands re-sent
    await all.release();
    const q = await Promise.race([queued, sleep(5_000).then(() => "hung")]);
    if (q === "hung") throw new Error("the queued acquire never settled");
    if (q instanceof Error) failedAcquires++;
    else await (q as Awaited<ReturnType<Recorder["acquire"]>>).release();

    // 2. An uncontended acquire whose reply is lost.
    proxy.stall("replies");
    const solo = recorder.acquire(client, "proxied-solo").catch((e: unknown) => e);
    await until("the acquire in Redis", async () => (await other.inspect()).holders.length === 1);
    proxy.dropAll();
    proxy.resume();
    const s = await Promise.race([solo, sleep(5_000).then(() => "hung")]);
    if (s === "hung") throw new Error("the uncontended acquire never settled");
    if (s instanceof Error) failedAcquires++;
    else await (s as Awaited<ReturnType<Recorder["acquire"]>>).release();
    await client.onIdle();

    const snapshot = await other.inspect();
    notes.push(
      `all released: ${await grantable(other)} of ${CAPACITY} grantable at once (inspect: inUse ${snapshot.inUse}, ${snapshot.holders.length} holder(s))`,
    );
    const back = await capacityBack(server.port, name);
    if (!back) notes.push(`one lease later: ${await grantable(other)} of ${CAPACITY} grantable at once`);
    const verdict = checkRun(
      { capacity: CAPACITY, leaseMs: LEASE_MS, holds: recorder.holds, pending: [], crashes, capacityBack: back },
      { toleranceMs: TOLERANCE_MS },
    );
    return { key, title, verdict, grants: recorder.holds.length, failedAcquires, notes };
  } finally {
    process.off("unhandledRejection", onUnhandled);
    viaProxy.disconnect();
    direct.disconnect();
    await proxy.close();
    await server.stop();
  }
}

/** (h) SIGKILL of processes that hold every permit and have waiters queued; recovery is timed. */
function killed(key: string, title: string): Promise<ScenarioResult> {
  return runFleet(key, title, {
    workers: 2,
    tasks: 3,
    // every task of both workers starts with a long hold: 3 granted, 3 queued
    long: { workers: 2, count: 3, holdMs: 60_000 },
    afterMs: 0,
    fault: async ({ server, fleet, workers, notes, recorder, recovery }) => {
      const direct = new Redis(server.port, HOST);
      try {
        const sem = new RedisSemaphore(direct, fleet.options.name, CAPACITY, OPTIONS);
        await until("3 held and 3 queued", async () => {
          const s = await sem.inspect();
          return s.holders.length === CAPACITY && s.waiters.length === 3;
        });
        const whole = recorder.acquire(sem, "fresh", CAPACITY);
        await until("the fresh acquire queued", async () => (await sem.inspect()).waiters.length === 4);
        await sleep(150); // somewhere in the heartbeat cycle
        for (const w of workers) w.kill();
        const killedAt = now();
        const got = await Promise.race([whole, sleep(5 * LEASE_MS).then(() => undefined)]);
        if (got === undefined) {
          recovery.ms = Infinity;
          notes.push(`full capacity not back within ${5 * LEASE_MS} ms`);
        } else {
          recovery.ms = now() - killedAt;
          notes.push(`full capacity back ${recovery.ms.toFixed(0)} ms after the kill`);
          await got.release();
        }
        await sem.onIdle();
      } finally {
        direct.disconnect();
      }
    },
  });
}

/** (j) Huge weights, and option bounds. */
async function hugeWeights(key: string, title: string): Promise<ScenarioResult> {
  const server = await startRedisServer();
  const redis = new Redis(server.port, HOST);
  const notes: string[] = [];
  const problems: string[] = [];
  const name = `faults-${key}-${Date.now()}`;
  const max = Number.MAX_SAFE_INTEGER;
  try {
    const sem = new RedisSemaphore(redis, name, max, OPTIONS);
    const step = async (what: string, fn: () => Promise<boolean>): Promise<void> => {
      try {
        if (!(await fn())) problems.push(what);
      } catch (error) {
        problems.push(`${what}: ${String(error).slice(0, 160)}`);
      }
    };
    await step(`weight 2**53-1 held exactly`, async () => {
      const p = await sem.acquire({ weight: max });
      const s = await sem.inspect();
      const none = await sem.tryAcquire(1);
      await none?.release();
      await p.release();
      const after = await sem.inspect();
      notes.push(`2**53-1 held: inUse ${s.inUse}, holder weight ${s.holders[0]?.weight}; after release inUse ${after.inUse}`);
      return s.inUse === max && s.holders[0]?.weight === max && none === undefined && after.inUse === 0;
    });
    await step(`two holds of weight 1e14`, async () => {
      const ps = await Promise.all([sem.acquire({ weight: 1e14 }), sem.acquire({ weight: 1e14 })]);
      const s = await sem.inspect();
      for (const p of ps) await p.release();
      const after = await sem.inspect();
      notes.push(`2 × 1e14 held: inUse ${s.inUse}; after release inUse ${after.inUse}`);
      return s.inUse === 2e14 && s.holders.every((h) => h.weight === 1e14) && after.inUse === 0;
    });
    await step(`the whole capacity grantable afterwards`, async () => {
      const p = await sem.tryAcquire(max);
      await p?.release();
      return p !== undefined;
    });
    for (const [option, value] of [
      ["leaseMs", 2 ** 33],
      ["commandTimeoutMs", 2 ** 31],
    ] as const) {
      try {
        new RedisSemaphore(redis, name, 1, { [option]: value });
        problems.push(`${option}: ${value} accepted`);
      } catch (error) {
        if (!(error instanceof RangeError) || !error.message.includes(option)) problems.push(`${option}: ${value} → ${String(error)}`);
      }
    }
  } finally {
    redis.disconnect();
    await server.stop();
  }
  const verdict = checkRun({ capacity: max, leaseMs: LEASE_MS, holds: [], pending: [], crashes: [], capacityBack: true });
  verdict.failures.push(...problems);
  return { key, title, verdict, grants: 0, failedAcquires: 0, notes };
}

/** Master + a replica whose replication link runs through a proxy with 500 ms delay. */
function laggingReplica(): () => Promise<{ server: RedisServer; upstreamPort: number; finalPort(): number; close(): Promise<void> }> {
  return async () => {
    const master = await startRedisServer();
    const link = await TcpProxy.start({ upstreamPort: master.port });
    const replica = await startRedisServer({ replicaOf: link.port });
    link.delay({ reply: 500 }); // master → replica: the replica runs 500 ms behind
    state.set(master, { link, replica });
    return {
      server: master,
      upstreamPort: master.port,
      finalPort: () => replica.port,
      async close() {
        await link.close();
        await Promise.all([master.stop(), replica.stop()]);
      },
    };
  };
}
const state = new WeakMap<RedisServer, { link: TcpProxy; replica: RedisServer }>();

export const scenarios: readonly Scenario[] = [
  {
    key: "a",
    title: "one holder's connection stalls 2 s, then is dropped",
    run: () =>
      runFleet("a", "stall 2 s + drop", {
        // the victim runs only its long hold: no queued waiters of its own
        // (they would be granted its freed slot as ghosts and hide the overlap)
        long: { workers: 1, tasks: 1, holdMs: 4_000 },
        fault: async (ctx) => {
          await longGrants(ctx, 1);
          await sleep(200);
          const proxy = ctx.workers[0]!.proxy;
          proxy.stall("both");
          await sleep(2_000);
          proxy.dropAll();
          proxy.resume();
        },
      }),
  },
  {
    key: "b",
    title: "one holder's replies stall 2 s (requests still reach Redis)",
    run: () =>
      runFleet("b", "replies stall 2 s", {
        long: { workers: 1, holdMs: 4_000 },
        fault: async (ctx) => {
          await longGrants(ctx, 1);
          await sleep(200);
          const proxy = ctx.workers[0]!.proxy;
          proxy.stall("replies");
          await sleep(2_000);
          proxy.resume();
        },
      }),
  },
  {
    key: "c",
    title: "2 ms network delay; a holder's event loop blocked 1.8 s mid-hold",
    run: () =>
      runFleet("c", "blocked loop 1.8 s", {
        delayMs: 2,
        long: { workers: 1, holdMs: 2_500, blockAfterMs: 100, blockMs: 1_800 },
        fault: async (ctx) => {
          await longGrants(ctx, 1);
          await sleep(2_600);
        },
      }),
  },
  {
    key: "d",
    title: "CLIENT PAUSE 1500 ALL while two holders hold",
    run: () =>
      runFleet("d", "CLIENT PAUSE 1.5 s", {
        long: { workers: 2, holdMs: 3_500 },
        fault: async (ctx) => {
          await longGrants(ctx, 2);
          await sleep(300);
          await ctx.server.cli("CLIENT", "PAUSE", "1500", "ALL");
          await sleep(1_500);
        },
      }),
  },
  {
    key: "e",
    title: "DEBUG SLEEP 1.5 while two holders hold",
    run: () =>
      runFleet("e", "DEBUG SLEEP 1.5 s", {
        long: { workers: 2, holdMs: 3_500 },
        fault: async (ctx) => {
          await longGrants(ctx, 2);
          await sleep(300);
          await ctx.server.cli("DEBUG", "SLEEP", "1.5");
        },
      }),
  },
  {
    key: "f",
    title: "lost replies: the connection drops under an uncontended and a queued acquire (ioredis re-sends)",
    run: () => lostReplies("f", "lost replies"),
  },
  {
    key: "g",
    title: "restart without persistence, ~400 ms down, while two holders hold",
    run: () =>
      runFleet("g", "restart, no persistence", {
        long: { workers: 2, holdMs: 3_500 },
        fault: async (ctx) => {
          await longGrants(ctx, 2);
          await sleep(300);
          await ctx.server.stop();
          const down = now();
          await sleep(250); // + the restart itself (until it answers PING): ~400 ms down
          await ctx.server.start();
          ctx.notes.push(`down ${(now() - down).toFixed(0)} ms (exit to PING answered)`);
        },
      }),
  },
  {
    key: "h",
    title: "SIGKILL of the processes holding every permit and with waiters queued",
    run: () => killed("h", "SIGKILL holders + waiters"),
  },
  {
    key: "i",
    title: "failover to a replica 500 ms behind (kill -9 master, REPLICAOF NO ONE, clients moved)",
    run: () =>
      runFleet("i", "failover, lagging replica", {
        topology: laggingReplica(),
        check: { allowOverAdmission: true },
        fault: async (ctx) => {
          await sleep(1_000);
          const { link, replica } = state.get(ctx.server)!;
          link.refuse(true);
          link.dropAll(); // what the master sent in the last 500 ms never arrives
          await ctx.server.kill();
          await replica.cli("REPLICAOF", "NO", "ONE");
          for (const w of ctx.workers) {
            w.proxy.setUpstream(replica.port);
            w.proxy.dropAll();
          }
        },
      }),
  },
  {
    key: "j",
    title: "huge weights (capacity 2**53-1; weights 2**53-1 and 1e14) and option bounds",
    run: () => hugeWeights("j", "huge weights, bounds"),
  },
];
