/**
 * `RedisSemaphore`: the core semaphore contract, enforced across processes and
 * machines through one Redis (or Valkey, or Redis Cluster).
 *
 * ## How it works
 * - **State in Redis, logic in Lua.** Holders, their leases and the FIFO queue
 *   live in keys under one hash tag (`<prefix>{name}:…`); every change is one
 *   script (`EVALSHA`, `EVAL` on `NOSCRIPT`) that reads the server's clock.
 * - **Hand-off, not polling.** A release (or a cancellation, or a lease
 *   running out) grants the freed permits to the head of the queue inside the
 *   same script and publishes the names of the new holders; each process has
 *   one subscriber connection and resolves its waiter when its name arrives.
 *   An uncontended acquire is one round trip, a release another — and
 *   `release()` does not wait for it, so a release followed by an acquire
 *   costs one round trip in practice.
 * - **Heartbeats, batched.** Every `leaseMs / 3` each semaphore sends one
 *   script that renews all leases it holds and refreshes all its waiters. A
 *   crashed holder's permits come back when its lease ends: the waiting
 *   processes set a timer at the earliest lease deadline, so recovery does not
 *   wait for a heartbeat. A crashed waiter drops out of the queue after
 *   `leaseMs` without heartbeats, so it cannot block the line.
 * - **Lost messages** (a subscriber reconnecting) are caught by the next
 *   heartbeat, which reports grants the process did not hear about.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { channels } from "../core/diagnostics.js";
import { ClosedError, LeaseLostError, timeoutError } from "../core/errors.js";
import type { AcquireOptions, LimiterCounters } from "../core/semaphore.js";
import { checkFunction, checkInteger, checkOptions, describe, readAcquireOptions } from "../core/validate.js";
import { adapt, type PubSub, type RedisAdapter } from "./client.js";
import { CapacityMismatchError, RedisCommandError, RedisUnavailableError } from "./errors.js";
import { scripts, type Script } from "./scripts.js";

/**
 * Options of the `RedisSemaphore` constructor.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore, type RedisSemaphoreOptions } from "permits/redis";
 * const options: RedisSemaphoreOptions = { leaseMs: 5_000, prefix: "billing:", whenUnavailable: "wait" };
 * const redis = new Redis();
 * const sem = new RedisSemaphore(redis, "invoices", 2, options);
 * console.log(sem.leaseMs); // 5000
 * redis.disconnect();
 * ```
 */
export interface RedisSemaphoreOptions {
  /**
   * How long a permit stays valid without a renewal, in ms. Held permits are
   * renewed every `leaseMs / 3` automatically; a crashed holder's permits are
   * free again about `leaseMs` after its last renewal. Shorter means faster
   * recovery but less tolerance for a stalled event loop.
   * @defaultValue 10_000
   */
  leaseMs?: number | undefined;
  /**
   * Prefix of every key (before the `{name}` hash tag), to keep apart
   * applications sharing one Redis.
   * @defaultValue `"permits:"`
   */
  prefix?: string | undefined;
  /**
   * How long to wait for Redis to answer one command before the call fails
   * with a {@link RedisUnavailableError}, in ms. This is what keeps a hung
   * server from hanging your acquire.
   * @defaultValue 5_000
   */
  commandTimeoutMs?: number | undefined;
  /**
   * What `acquire` does while Redis cannot be reached: `"reject"` with a
   * {@link RedisUnavailableError} (queued waiters too, at their next
   * heartbeat), or `"wait"` — keep waiting (bounded by the caller's `signal`
   * and `timeout`) and retry every 250 ms until Redis answers again.
   * `tryAcquire` and `inspect` always reject.
   * @defaultValue `"reject"`
   */
  whenUnavailable?: "reject" | "wait" | undefined;
}

/**
 * A snapshot of one process's view of a Redis semaphore, from `stats()`.
 * The counters ({@link LimiterCounters}) are this instance's.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore, type RedisSemaphoreStats } from "permits/redis";
 * const redis = new Redis();
 * const sem = new RedisSemaphore(redis, "jobs", 2);
 * const { inUse, queued, leaseLost }: RedisSemaphoreStats = sem.stats();
 * console.log(inUse, queued, leaseLost); // 0 0 0
 * redis.disconnect();
 * ```
 */
export interface RedisSemaphoreStats extends LimiterCounters {
  /** Total permits (shared by every process). */
  capacity: number;
  /** Permits free across the fleet, as of this process's last reply from Redis. */
  available: number;
  /** Permits whose lease was lost. */
  leaseLost: number;
}

/**
 * The fleet-wide state of a Redis semaphore, from `inspect()`.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore, type RedisSemaphoreSnapshot } from "permits/redis";
 * const redis = new Redis();
 * const sem = new RedisSemaphore(redis, "jobs", 2);
 * const snapshot: RedisSemaphoreSnapshot = await sem.inspect();
 * for (const holder of snapshot.holders) console.log(holder.id, holder.token, holder.expiresInMs);
 * redis.disconnect();
 * ```
 */
export interface RedisSemaphoreSnapshot {
  /** Capacity stored in Redis (undefined if never used). */
  capacity: number | undefined;
  /** Permits held across all processes, by weight. */
  inUse: number;
  /** Holders with their weight, fencing token and the ms left on their lease. */
  holders: { id: string; weight: number; token: number; expiresInMs: number }[];
  /** Waiters in queue order. */
  waiters: { id: string; weight: number }[];
}

const OPTION_KEYS: readonly string[] = ["leaseMs", "prefix", "commandTimeoutMs", "whenUnavailable"];
const MAX_TIMEOUT = 2_147_483_647;
/** How long an unused subscription (and then the subscriber connection) is kept. */
const LINGER_MS = 500;


const processTag = randomBytes(6).toString("hex");
let sequence = 0;
function nextId(): string {
  return `${processTag}.${(sequence++).toString(36)}`;
}

interface PendingRelease {
  readonly id: string;
  readonly resolve: () => void;
}
const NO_RELEASES: PendingRelease[] = [];

const SENDING = 0;
const QUEUED = 1;
const DONE = 2;
/** Redis was unavailable: waiting (option `whenUnavailable: "wait"`) to send again. */
const RETRY = 3;
/** How often a waiter retries while Redis is unavailable (whenUnavailable: "wait"). */
const RETRY_MS = 250;

interface Waiter {
  readonly id: string;
  readonly weight: number;
  readonly sem: RedisSemaphore;
  state: number;
  resolve: (permit: RedisPermit) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  timeout: number;
}

/**
 * One subscriber connection per client per process, shared by every
 * semaphore on that client: it routes each wake-up to the waiter it names.
 */
class Hub {
  readonly #adapter: RedisAdapter;
  #pubsub: PubSub | undefined;
  readonly #channels = new Map<
    string,
    { refs: number; ready: Promise<void> | undefined; live: boolean; epoch: number; idleSince: number }
  >();
  #epochs = 0;
  readonly waiters: Map<string, Waiter> = new Map();
  readonly #semaphores = new Set<RedisSemaphore>();
  #linger: ReturnType<typeof setTimeout> | undefined;

  constructor(adapter: RedisAdapter) {
    this.#adapter = adapter;
  }

  #connection(): PubSub {
    this.#pubsub ??= this.#adapter.subscriber(
      (_channel, message) => this.#dispatch(message),
      () => {
        // (Re)connected: wake-ups sent while we were away are lost, so every
        // semaphore with waiters asks Redis where they stand, and requests
        // on the wire right now will ask once their reply is in.
        for (const entry of this.#channels.values()) entry.epoch = ++this.#epochs;
        for (const sem of this.#semaphores) sem._tickSoon();
      },
    );
    return this.#pubsub;
  }

  #dispatch(message: string): void {
    for (const entry of message.split(" ")) {
      const colon = entry.lastIndexOf(":");
      const waiter = this.waiters.get(entry.slice(0, colon));
      if (waiter !== undefined) waiter.sem._granted(waiter, Number(entry.slice(colon + 1)));
    }
  }

  /** Takes a reference on `channel`; says whether it is subscribed already. */
  hold(sem: RedisSemaphore, channel: string): boolean {
    this.#semaphores.add(sem);
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      entry = { refs: 0, ready: undefined, live: false, epoch: ++this.#epochs, idleSince: 0 };
      this.#channels.set(channel, entry);
    }
    entry.refs++;
    if (entry.ready === undefined) {
      const e = entry;
      e.ready = this.#connection()
        .subscribe(channel)
        .then(
          () => {
            e.live = true;
          },
          () => {
            // Without the subscription wake-ups are only heard at heartbeats:
            // try again with the next waiter.
            e.ready = undefined;
            e.epoch = ++this.#epochs;
          },
        );
    }
    return entry.live;
  }

  /**
   * An id of the current, confirmed subscription to `channel` (-1 if none):
   * the same id before and after a request proves no wake-up could be missed
   * in between.
   */
  epoch(channel: string): number {
    const entry = this.#channels.get(channel);
    return entry?.live === true ? entry.epoch : -1;
  }

  /** Resolves once `channel` is subscribed (or the attempt failed). */
  ready(channel: string): Promise<void> {
    return this.#channels.get(channel)?.ready ?? Promise.resolve();
  }

  unhold(sem: RedisSemaphore, channel: string): void {
    this.#semaphores.delete(sem);
    const entry = this.#channels.get(channel);
    if (entry === undefined) return;
    entry.refs--;
    if (entry.refs <= 0) {
      entry.idleSince = performance.now();
      this.#sweepIn(LINGER_MS);
    }
  }

  #sweepIn(ms: number): void {
    if (this.#linger !== undefined) return;
    this.#linger = setTimeout(() => this.#sweep(), ms);
    this.#linger.unref?.();
  }

  /**
   * Drops subscriptions unused for LINGER_MS, and the connection with the
   * last one: a busy semaphore whose waiters come and go keeps its
   * subscription, an idle process keeps no connection open.
   */
  #sweep(): void {
    this.#linger = undefined;
    const now = performance.now();
    let next = Infinity;
    for (const [channel, entry] of this.#channels) {
      if (entry.refs > 0) continue;
      const idleFor = now - entry.idleSince;
      if (idleFor < LINGER_MS) {
        next = Math.min(next, LINGER_MS - idleFor);
        continue;
      }
      this.#channels.delete(channel);
      if (entry.live) this.#pubsub?.unsubscribe(channel).catch(() => {});
    }
    if (next !== Infinity) this.#sweepIn(next + 1);
    if (this.#channels.size === 0 && this.#pubsub !== undefined) {
      this.#pubsub.close();
      this.#pubsub = undefined;
    }
  }
}

const hubs = new WeakMap<RedisAdapter, Hub>();
function hubOf(adapter: RedisAdapter): Hub {
  let hub = hubs.get(adapter);
  if (hub === undefined) {
    hub = new Hub(adapter);
    hubs.set(adapter, hub);
  }
  return hub;
}

/**
 * Permits held in a {@link RedisSemaphore}, with a lease that is renewed
 * automatically while held and a fencing token.
 *
 * Release it exactly once — `release()`, `using`/`await using`, or let
 * `run()` do it. Releasing again does nothing, so it never frees anyone
 * else's permits.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore } from "permits/redis";
 * const redis = new Redis();
 * const sem = new RedisSemaphore(redis, "partner-api", 3);
 * {
 *   await using permit = await sem.acquire();
 *   // pass the token to the resource so it can refuse a stale holder
 *   await fetch("https://partner.example/orders", {
 *     headers: { "x-fencing-token": String(permit.token) },
 *     signal: permit.signal, // aborts if the lease is lost
 *   });
 * }
 * redis.disconnect();
 * ```
 */
export class RedisPermit implements Disposable, AsyncDisposable {
  /** How many units of capacity this permit holds. */
  readonly weight: number;
  /**
   * Fencing token: strictly increasing across every grant of this semaphore,
   * in every process. Hand it to the resource you protect so it can reject a
   * request from a holder whose lease already ran out.
   */
  readonly token: number;
  /** This permit's id in Redis (as shown by `inspect()`). */
  readonly id: string;
  #controller: AbortController | undefined;
  #lost: LeaseLostError | undefined;
  readonly #sem: RedisSemaphore;
  #released = false;
  #releasing: Promise<void> | undefined;
  /** @internal Local deadline of the lease (performance.now() ms): past it, it is lost for sure. */
  _deadline: number;

  /** @internal */
  constructor(sem: RedisSemaphore, id: string, weight: number, token: number, deadline: number) {
    this.#sem = sem;
    this.id = id;
    this.weight = weight;
    this.token = token;
    this._deadline = deadline;
  }

  /**
   * Aborts (with a `LeaseLostError`) if the lease is lost while the permit is
   * held: the holder stalled past `leaseMs`, Redis forgot it, or Redis could
   * not be reached to renew it before the lease ran out. Pass it to the work
   * that the permit protects. Never aborts because of `release()`.
   */
  get signal(): AbortSignal {
    // Made on first use: most permits never need one.
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#lost !== undefined) this.#controller.abort(this.#lost);
    }
    return this.#controller.signal;
  }

  /** Whether `release()` was called. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Gives the permits back; in Redis the freed permits go straight to the
   * head of the queue. Idempotent. The returned promise resolves once Redis
   * has it (it never rejects: if Redis is unreachable the lease runs out on
   * its own); you need not await it — a later command on the same client is
   * ordered after it anyway.
   */
  release(): Promise<void> {
    if (!this.#released) {
      this.#released = true;
      this.#releasing = this.#sem._release(this);
    }
    return this.#releasing ?? Promise.resolve();
  }

  /** Same as `release()`, for `using` (does not wait for Redis). */
  [Symbol.dispose](): void {
    void this.release();
  }

  /** Same as `release()`, for `await using` (waits until Redis has it). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /** @internal */
  _lose(error: LeaseLostError): void {
    if (this.#lost !== undefined) return;
    this.#lost = error;
    this.#controller?.abort(error);
  }
}

/**
 * A counting semaphore shared by every process that uses the same Redis and
 * `name`: at most `capacity` units are held at once across all of them, and
 * the rest wait in one FIFO queue in Redis.
 *
 * It has the surface of the in-process `Semaphore` (`acquire`, `tryAcquire`,
 * `run`, `close`, `onIdle`, `stats`), so code moves from one process to a
 * fleet by changing the constructor. What changes: `tryAcquire` and
 * `release()` return promises (Redis answers them), and the counters of
 * `stats()` are this instance's own except `available`, which is the last
 * fleet-wide value Redis reported; `inspect()` shows the whole fleet.
 *
 * Adds a lease per permit (renewed automatically; `permit.signal` aborts if
 * it is lost), a fencing token (`permit.token`), and recovery of a crashed
 * holder's permits when its lease ends.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore } from "permits/redis";
 * const redis = new Redis(); // or iovalkey, or a connected node-redis v5 client
 * const sem = new RedisSemaphore(redis, "partner-api", 3, { leaseMs: 5_000 });
 * const results = await Promise.all(
 *   [1, 2, 3, 4, 5].map((n) => sem.run(async () => n * 2)), // at most 3 at once, fleet-wide
 * );
 * console.log(results); // [2, 4, 6, 8, 10]
 * redis.disconnect();
 * ```
 */
export class RedisSemaphore {
  /** The semaphore's name: processes that use the same name share it. */
  readonly name: string;
  /** Lease of each permit, in ms. */
  readonly leaseMs: number;
  readonly #capacity: number;
  readonly #adapter: RedisAdapter;
  readonly #hub: Hub;
  readonly #keys: readonly string[];
  readonly #channel: string;
  readonly #commandTimeoutMs: number;
  #wait = false;
  readonly #waiters = new Map<string, Waiter>();
  readonly #held = new Map<string, RedisPermit>();
  #heldWeight = 0;
  #observedUsed = 0;
  #inflight = 0;
  #releases: PendingRelease[] = [];
  #flushQueued = false;
  readonly #pending = new Set<Promise<void>>();
  #closed = false;
  #closeReason: unknown = undefined;
  #idle: (() => void)[] = [];
  #holding = false;
  #tickTimer: ReturnType<typeof setTimeout> | undefined;
  #tickDue = Infinity;
  #ticking = false;
  #tickAgain = false;
  #acquired = 0;
  #released = 0;
  #aborted = 0;
  #timedOut = 0;
  #maxQueued = 0;
  #leaseLost = 0;

  /**
   * @param client - A connected ioredis / iovalkey client (standalone or
   *   Cluster) or node-redis v5 client. It is used for scripts; one subscriber
   *   connection per client per process is made from it with `duplicate()`.
   * @param name - The semaphore's name, shared by every process that uses it:
   *   a non-empty string without `{` or `}` (it becomes the hash tag).
   * @param capacity - How many units may be held at once across the fleet: an
   *   integer from 1 and up. Stored in Redis by the first user; a process with
   *   another capacity gets a {@link CapacityMismatchError}.
   * @param options - See {@link RedisSemaphoreOptions}.
   * @throws TypeError | RangeError for a bad client, name, capacity or option.
   */
  constructor(client: unknown, name: string, capacity: number, options?: RedisSemaphoreOptions) {
    this.#adapter = adapt(client);
    checkName("name", name);
    this.#capacity = checkInteger("capacity", capacity);
    let prefix = "permits:";
    let leaseMs = 10_000;
    let commandTimeoutMs = 5_000;
    if (options !== undefined) {
      checkOptions("options", options, OPTION_KEYS);
      if (options.prefix !== undefined) {
        if (typeof options.prefix !== "string" || /[{}]/.test(options.prefix)) {
          throw new TypeError(`Expected \`prefix\` to be a string without \`{\` or \`}\`, got ${describe(options.prefix)}`);
        }
        prefix = options.prefix;
      }
      if (options.leaseMs !== undefined) leaseMs = checkInteger("leaseMs", options.leaseMs, 30);
      if (options.commandTimeoutMs !== undefined) {
        commandTimeoutMs = checkInteger("commandTimeoutMs", options.commandTimeoutMs, 1);
      }
      if (options.whenUnavailable !== undefined) {
        if (options.whenUnavailable !== "reject" && options.whenUnavailable !== "wait") {
          throw new TypeError(
            `Expected \`whenUnavailable\` to be "reject" or "wait", got ${describe(options.whenUnavailable)}`,
          );
        }
        this.#wait = options.whenUnavailable === "wait";
      }
    }
    this.name = name;
    this.leaseMs = leaseMs;
    this.#commandTimeoutMs = commandTimeoutMs;
    this.#hub = hubOf(this.#adapter);
    const base = `${prefix}{${name}}:`;
    this.#keys = ["meta", "leases", "held", "queue", "waiting", "beats"].map((k) => base + k);
    this.#channel = `${base}wake`;
  }

  /** Total permits, shared by every process. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Permits free across the fleet, as of this process's last reply from Redis. */
  get available(): number {
    return Math.max(0, this.#capacity - this.#observedUsed);
  }

  /** Permits held by this instance, by weight. */
  get inUse(): number {
    return this.#heldWeight;
  }

  /** Waiters of this instance. */
  get queued(): number {
    return this.#waiters.size;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits for `weight` permits and resolves to a {@link RedisPermit} that
   * holds them until released.
   *
   * **Fairness:** FIFO across every process: waiters queue in Redis in arrival
   * order (the order Redis received the requests), a newcomer queues behind
   * them even when permits are free, and a waiter that does not fit blocks
   * those behind it until it does. A holder that releases and re-acquires goes
   * to the back.
   *
   * **Cancel safety:** aborting `signal` or reaching `timeout` rejects at once
   * with `signal.reason` (or a `"TimeoutError"` `DOMException`) and loses your
   * place: the waiter is taken out of the Redis queue (O(log n)), and if a
   * grant crossed the cancellation on the wire its permits are handed on to
   * the next waiter — never lost, never doubled. A signal that fires after the
   * grant has no effect.
   *
   * @throws TypeError | RangeError synchronously for a bad weight, a weight
   *   above the capacity, a bad signal or timeout, or an unknown option.
   * @returns The permit. Rejects with the close reason (a `ClosedError` by
   *   default) after `close()`; with a {@link RedisUnavailableError} naming
   *   the server and cause when Redis cannot be reached (also for a waiter
   *   whose heartbeat fails); with a {@link CapacityMismatchError} if Redis
   *   holds another capacity for this name.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisSemaphore } from "permits/redis";
   * const redis = new Redis();
   * const sem = new RedisSemaphore(redis, "db", 4);
   * const permit = await sem.acquire({ weight: 2, timeout: 1_000 });
   * try {
   *   console.log(permit.token > 0); // true
   * } finally {
   *   await permit.release();
   * }
   * redis.disconnect();
   * ```
   */
  acquire(options?: AcquireOptions): Promise<RedisPermit> {
    let weight = 1;
    let signal: AbortSignal | undefined;
    let timeout: number | undefined;
    if (options !== undefined) ({ weight, signal, timeout } = readAcquireOptions(options));
    if (weight > this.#capacity) throw this.#tooHeavy(weight);
    if (this.#closed) return Promise.reject(this.#closedError());
    // An already-aborted signal fails even when permits are free: the caller
    // no longer wants them (as in the core, and Go's semaphore).
    if (signal?.aborted) {
      this.#aborted++;
      return Promise.reject(signal.reason);
    }
    if (timeout === 0) {
      // "Only if free now": one script, never queued.
      return this.#tryNow(weight).then((permit) => {
        if (permit !== undefined) return permit;
        this.#timedOut++;
        throw timeoutError(0, this.#what(weight));
      });
    }
    return this.#enqueue(weight, signal, timeout);
  }

  /**
   * Takes `weight` permits only if they are free now and nobody (in any
   * process) is queued.
   *
   * **Fairness:** never barges: while anyone waits it resolves to `undefined`.
   *
   * **Cancel safety:** nothing is queued, so there is nothing to cancel; a
   * dropped promise whose permit was granted keeps it until its lease ends —
   * await it and release.
   *
   * @param weight - An integer from 1 up to the capacity. Defaults to 1.
   * @returns The permit, or `undefined` (also after `close()`).
   * @throws TypeError | RangeError synchronously for a bad weight or one above the capacity.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisSemaphore } from "permits/redis";
   * const redis = new Redis();
   * const sem = new RedisSemaphore(redis, "report", 1);
   * const permit = await sem.tryAcquire();
   * if (permit === undefined) console.log("someone else is building the report");
   * else await permit.release();
   * redis.disconnect();
   * ```
   */
  tryAcquire(weight?: number): Promise<RedisPermit | undefined> {
    const w = weight === undefined ? 1 : checkInteger("weight", weight);
    if (w > this.#capacity) throw this.#tooHeavy(w);
    if (this.#closed) return Promise.resolve(undefined);
    return this.#tryNow(w);
  }

  /**
   * Acquires, calls `fn(permit)`, releases however `fn` ends, and returns
   * what `fn` returned (awaited) or rethrows what it threw — synchronous
   * throws included.
   *
   * **Fairness:** as `acquire`: FIFO across processes, no barging.
   *
   * **Cancel safety:** while waiting, as `acquire`. If the signal aborts in
   * the same tick as the grant, `fn` is not called and the permit goes on to
   * the next waiter. Once `fn` runs, aborting does not release early: the
   * permit is held until `fn` settles. Watch `permit.signal` inside `fn` to
   * learn that the lease was lost.
   *
   * @throws TypeError | RangeError synchronously for bad arguments (as `acquire`).
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisSemaphore } from "permits/redis";
   * const redis = new Redis();
   * const sem = new RedisSemaphore(redis, "partner-api", 3);
   * const status = await sem.run(async (permit) => {
   *   const response = await fetch("https://partner.example/health", { signal: permit.signal });
   *   return response.status;
   * }, { timeout: 10_000 });
   * console.log(status);
   * redis.disconnect();
   * ```
   */
  run<T>(fn: (permit: RedisPermit) => T | PromiseLike<T>, options?: AcquireOptions): Promise<Awaited<T>> {
    checkFunction("fn", fn);
    return runWith(this.acquire(options), fn, options?.signal);
  }

  /**
   * Closes this instance: its waiters and every later `acquire` reject with
   * `reason` (exactly that value), or a `ClosedError` when none is given.
   * Held permits still release normally (`onIdle()` waits for them). Other
   * processes are not affected. Resolves once this instance's waiters have
   * left the Redis queue. Idempotent.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisSemaphore } from "permits/redis";
   * const redis = new Redis();
   * const sem = new RedisSemaphore(redis, "jobs", 2);
   * await sem.close(new Error("shutting down"));
   * await sem.acquire().catch((error) => console.log(error.message)); // "shutting down"
   * redis.disconnect();
   * ```
   */
  close(reason?: unknown): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#closeReason = reason;
      for (const waiter of [...this.#waiters.values()]) this.#cancel(waiter, this.#closedError());
    }
    return Promise.all(this.#pending).then(() => {});
  }

  /**
   * Resolves when this instance holds nothing, has no waiters, and Redis has
   * acknowledged its releases and cancellations.
   *
   * **Cancel safety:** nothing to cancel.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisSemaphore } from "permits/redis";
   * const redis = new Redis();
   * const sem = new RedisSemaphore(redis, "jobs", 2);
   * void sem.run(async () => {});
   * await sem.onIdle();
   * redis.disconnect();
   * ```
   */
  onIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * A plain snapshot of this instance's state and counters (no round trip).
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisSemaphore } from "permits/redis";
   * const redis = new Redis();
   * const sem = new RedisSemaphore(redis, "jobs", 2);
   * await (await sem.acquire()).release();
   * console.log(sem.stats().acquired); // 1
   * redis.disconnect();
   * ```
   */
  stats(): RedisSemaphoreStats {
    return {
      capacity: this.#capacity,
      available: this.available,
      inUse: this.#heldWeight,
      queued: this.#waiters.size,
      acquired: this.#acquired,
      released: this.#released,
      aborted: this.#aborted,
      timedOut: this.#timedOut,
      maxQueued: this.#maxQueued,
      leaseLost: this.#leaseLost,
      closed: this.#closed,
    };
  }

  /**
   * The fleet-wide state from Redis: who holds what (with fencing tokens and
   * lease time left) and who waits, in queue order. One round trip. A holder
   * whose lease ran out, or a waiter whose process stopped sending
   * heartbeats, is not shown (nor counted in `inUse`) even before Redis has
   * reclaimed it: that happens lazily, when it could change a grant.
   *
   * **Cancel safety:** read-only.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisSemaphore } from "permits/redis";
   * const redis = new Redis();
   * const sem = new RedisSemaphore(redis, "partner-api", 3);
   * const { inUse, holders, waiters } = await sem.inspect();
   * console.log(inUse, holders.length, waiters.length);
   * redis.disconnect();
   * ```
   */
  async inspect(): Promise<RedisSemaphoreSnapshot> {
    const reply = (await this.#call(scripts.inspect, [])) as [unknown, unknown, unknown, unknown[], unknown[]];
    const [cap, used, now, holders, waiters] = reply;
    const snapshot: RedisSemaphoreSnapshot = {
      capacity: String(cap) === "" ? undefined : Number(cap),
      inUse: Number(used),
      holders: [],
      waiters: [],
    };
    for (let i = 0; i + 2 < holders.length; i += 3) {
      const [w, t] = String(holders[i + 1]).split(":");
      snapshot.holders.push({
        id: String(holders[i]),
        weight: Number(w),
        token: Number(t),
        expiresInMs: Number(holders[i + 2]) - Number(now),
      });
    }
    for (let i = 0; i + 1 < waiters.length; i += 2) {
      snapshot.waiters.push({ id: String(waiters[i]), weight: Number(String(waiters[i + 1]).split(":")[0]) });
    }
    return snapshot;
  }

  // ---------------------------------------------------------------- internals

  async #tryNow(weight: number): Promise<RedisPermit | undefined> {
    const id = nextId();
    const releases = this.#takeReleases();
    let reply: number[];
    try {
      reply = (await this.#call(scripts.acquire, this.#acquireArgs(id, weight, "try", false, releases))) as number[];
    } finally {
      this.#landed(releases);
    }
    this.#observedUsed = Number(reply[reply[0] === 1 ? 2 : 1]);
    if (reply[0] !== 1) return undefined;
    return this.#hold(id, weight, Number(reply[1]), performance.now());
  }

  #acquireArgs(
    id: string,
    weight: number,
    mode: string,
    retry: boolean,
    releases: readonly PendingRelease[],
  ): (string | number)[] {
    const args: (string | number)[] = [this.#capacity, id, weight, this.leaseMs, mode, this.#channel, this.leaseMs, retry ? "1" : "0"];
    for (const release of releases) args.push(release.id);
    return args;
  }

  /** Releases not yet sent: the next acquire carries them, or a microtask sends them. */
  #takeReleases(): PendingRelease[] {
    if (this.#releases.length === 0) return NO_RELEASES;
    const taken = this.#releases;
    this.#releases = [];
    return taken;
  }

  /** The command carrying these releases got its answer (or failed: the leases run out on their own). */
  #landed(releases: readonly PendingRelease[]): void {
    if (releases.length === 0) return;
    this.#inflight -= releases.length;
    for (const release of releases) release.resolve();
    this.#checkIdle();
  }

  #flushReleases(): void {
    this.#flushQueued = false;
    const releases = this.#takeReleases();
    if (releases.length === 0) return;
    this.#call(scripts.release, [this.#channel, ...releases.map((r) => r.id)]).then(
      (raw) => {
        this.#observedUsed = Number((raw as number[])[1]);
        this.#landed(releases);
      },
      () => this.#landed(releases),
    );
  }

  #enqueue(weight: number, signal: AbortSignal | undefined, timeout: number | undefined): Promise<RedisPermit> {
    let resolve!: (permit: RedisPermit) => void;
    let reject!: (reason: unknown) => void;
    const promise = new Promise<RedisPermit>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const waiter: Waiter = {
      id: nextId(),
      weight,
      sem: this,
      state: SENDING,
      resolve,
      reject,
      signal,
      onAbort: undefined,
      timer: undefined,
      timeout: timeout ?? Infinity,
    };
    this.#waiters.set(waiter.id, waiter);
    this.#hub.waiters.set(waiter.id, waiter);
    if (this.#waiters.size > this.#maxQueued) this.#maxQueued = this.#waiters.size;
    if (signal !== undefined) {
      waiter.onAbort = () => {
        this.#aborted++;
        this.#cancel(waiter, signal.reason);
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
    }
    if (timeout !== undefined && timeout <= MAX_TIMEOUT) {
      waiter.timer = setTimeout(() => {
        waiter.timer = undefined;
        this.#timedOut++;
        this.#cancel(waiter, timeoutError(timeout, this.#what(weight)));
      }, timeout);
    }
    this.#send(waiter);
    return promise;
  }

  /** Sends (or re-sends, after Redis forgot it) a waiter's acquire script. */
  #send(waiter: Waiter, retry = false): void {
    waiter.state = SENDING;
    const epoch = this.#hub.epoch(this.#channel);
    const releases = this.#takeReleases();
    this.#call(scripts.acquire, this.#acquireArgs(waiter.id, waiter.weight, "wait", retry, releases)).then(
      (raw) => {
        this.#landed(releases);
        const reply = raw as number[];
        if (reply[0] === 1) {
          this.#observedUsed = Number(reply[2]);
          const token = Number(reply[1]);
          if (waiter.state === SENDING) this.#granted(waiter, token, performance.now());
          else if (waiter.state === DONE && !this.#held.has(waiter.id)) void this.#background(scripts.cancel, waiter.id);
          return;
        }
        this.#observedUsed = Number(reply[1]);
        if (waiter.state === DONE) {
          // Cancelled while the request was on the wire: take it out again.
          if (!this.#held.has(waiter.id)) void this.#background(scripts.cancel, waiter.id);
          return;
        }
        if (waiter.state !== SENDING) return; // granted by a wake-up that overtook the reply
        waiter.state = QUEUED;
        // Subscribe only once someone actually waits: an uncontended acquire
        // never needs the subscriber connection.
        if (!this.#holding) {
          this.#holding = true;
          this.#hub.hold(this, this.#channel);
        }
        const delay = Number(reply[3]);
        this.#scheduleTick(this.leaseMs / 3);
        if (delay >= 0) this.#scheduleTick(delay + 1); // fallback: the earliest lease may run out
        if (epoch === -1 || epoch !== this.#hub.epoch(this.#channel)) {
          // The wake-up may have been published before our subscription was
          // in place: once it is, ask Redis.
          void this.#hub.ready(this.#channel).then(() => {
            if (waiter.state === QUEUED) this._tickSoon();
          });
        }
      },
      (error: unknown) => {
        this.#landed(releases);
        if (waiter.state === DONE) return;
        if (this.#wait && error instanceof RedisUnavailableError) {
          // Keep waiting; the retry re-sends the same id, which is idempotent.
          waiter.state = RETRY;
          this.#scheduleTick(RETRY_MS);
          return;
        }
        this.#settleWaiter(waiter);
        waiter.reject(error);
        // It may have been queued before the reply was lost: take it out.
        void this.#background(scripts.cancel, waiter.id);
        this.#checkIdle();
      },
    );
  }

  /** @internal A wake-up (or a heartbeat) says this waiter holds permits now. */
  _granted(waiter: Waiter, token: number): void {
    this.#granted(waiter, token, performance.now());
  }

  #granted(waiter: Waiter, token: number, now: number): void {
    if (waiter.state === DONE) return;
    this.#settleWaiter(waiter);
    waiter.resolve(this.#hold(waiter.id, waiter.weight, token, now));
  }

  #hold(id: string, weight: number, token: number, now: number): RedisPermit {
    const permit = new RedisPermit(this, id, weight, token, now + this.leaseMs);
    this.#held.set(id, permit);
    this.#heldWeight += weight;
    this.#acquired++;
    this.#scheduleTick(this.leaseMs / 3);
    if (channels.granted.hasSubscribers) channels.granted.publish({ limiter: this, weight, token });
    return permit;
  }

  /** Takes a waiter out of the local books (not out of Redis). */
  #settleWaiter(waiter: Waiter): void {
    waiter.state = DONE;
    this.#waiters.delete(waiter.id);
    this.#hub.waiters.delete(waiter.id);
    if (waiter.onAbort !== undefined) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.onAbort = undefined;
    }
    if (waiter.timer !== undefined) {
      clearTimeout(waiter.timer);
      waiter.timer = undefined;
    }
    if (this.#waiters.size === 0 && this.#holding) {
      this.#holding = false;
      this.#hub.unhold(this, this.#channel);
    }
  }

  /**
   * Rejects a waiter now and takes it out of Redis. If its request is still
   * on the wire, the reply handler does that instead; if a grant crossed the
   * cancellation, the cancel script hands the permits on.
   */
  #cancel(waiter: Waiter, reason: unknown): void {
    if (waiter.state === DONE) return;
    const wasQueued = waiter.state === QUEUED || waiter.state === RETRY;
    this.#settleWaiter(waiter);
    waiter.reject(reason);
    if (channels.aborted.hasSubscribers) channels.aborted.publish({ limiter: this, weight: waiter.weight, reason });
    if (wasQueued) void this.#background(scripts.cancel, waiter.id);
    this.#checkIdle();
  }

  /** @internal Called once by `RedisPermit.release()`. */
  _release(permit: RedisPermit): Promise<void> {
    if (this.#held.delete(permit.id)) this.#heldWeight -= permit.weight;
    this.#released++;
    this.#observedUsed = Math.max(0, this.#observedUsed - permit.weight);
    if (channels.released.hasSubscribers) channels.released.publish({ limiter: this, weight: permit.weight });
    // Sent at the end of this tick, or carried by an acquire made before then
    // (release-then-acquire is one round trip). Redis sees it first either way.
    this.#inflight++;
    return new Promise<void>((resolve) => {
      this.#releases.push({ id: permit.id, resolve });
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        queueMicrotask(() => this.#flushReleases());
      }
    });
  }

  /** Runs a release/cancel script whose failure only delays recovery to lease/heartbeat expiry. */
  #background(script: Script, id: string): Promise<void> {
    this.#inflight++;
    const done = this.#call(script, [this.#channel, id]).then(
      (raw) => {
        const reply = raw as number[];
        this.#observedUsed = Number(reply[1]);
        this.#inflight--;
        this.#checkIdle();
      },
      () => {
        // Redis unreachable: the lease (or the waiter's heartbeat) runs out on its own.
        this.#inflight--;
        this.#checkIdle();
      },
    );
    this.#pending.add(done);
    void done.then(() => this.#pending.delete(done));
    return done;
  }

  /** @internal Ask Redis where our waiters stand, soon (after a reconnect). */
  _tickSoon(): void {
    if (this.#waiters.size > 0 || this.#held.size > 0) this.#scheduleTick(0);
  }

  #scheduleTick(delay: number): void {
    const due = performance.now() + delay;
    if (due >= this.#tickDue) return;
    if (this.#tickTimer !== undefined) clearTimeout(this.#tickTimer);
    this.#tickDue = due;
    this.#tickTimer = setTimeout(() => {
      this.#tickTimer = undefined;
      this.#tickDue = Infinity;
      this.#tick();
    }, delay);
    // Held permits alone do not keep the process alive; the client's own
    // connection decides that.
    this.#tickTimer.unref?.();
  }

  /** One batched heartbeat: renew every lease we hold, refresh every waiter. */
  #tick(): void {
    if (this.#ticking) {
      this.#tickAgain = true;
      return;
    }
    const permits = [...this.#held.keys()];
    const waiters: string[] = [];
    let retrying = false;
    for (const waiter of this.#waiters.values()) {
      if (waiter.state === QUEUED) waiters.push(waiter.id);
      else if (waiter.state === RETRY) {
        retrying = true;
        if (this.#adapter.down === undefined) this.#send(waiter, true);
      }
    }
    if (retrying) this.#scheduleTick(RETRY_MS);
    if (permits.length === 0 && waiters.length === 0) {
      if (this.#waiters.size > 0) this.#scheduleTick(this.leaseMs / 3);
      return;
    }
    this.#ticking = true;
    const sent = performance.now();
    const args = [this.#channel, this.leaseMs, this.leaseMs, permits.length, ...permits, ...waiters];
    this.#call(scripts.tick, args)
      .then(
        (raw) => {
          const [used, earliest, lost, granted, missing] = raw as [number, number, string[], unknown[], string[]];
          this.#observedUsed = Number(used);
          const lostSet = new Set(lost.map(String));
          for (const id of permits) {
            const permit = this.#held.get(id);
            if (permit === undefined) continue;
            if (lostSet.has(id)) this.#lose(permit, undefined);
            else permit._deadline = sent + this.leaseMs;
          }
          for (let i = 0; i + 1 < granted.length; i += 2) {
            const waiter = this.#waiters.get(String(granted[i]));
            if (waiter !== undefined) this.#granted(waiter, Number(granted[i + 1]), sent);
          }
          for (const id of missing) {
            // Redis no longer knows this waiter (it restarted, or we were
            // silent past the heartbeat deadline): queue it again, at the back.
            const waiter = this.#waiters.get(String(id));
            if (waiter !== undefined && waiter.state === QUEUED) this.#send(waiter);
          }
          if (this.#waiters.size > 0 && Number(earliest) >= 0) this.#scheduleTick(Number(earliest) + 1);
        },
        (error: unknown) => {
          // Redis unreachable: waiters learn it now rather than hang (unless
          // asked to wait); a held permit is lost once its lease has surely
          // run out.
          if (this.#wait && error instanceof RedisUnavailableError) {
            for (const waiter of this.#waiters.values()) if (waiter.state === QUEUED) waiter.state = RETRY;
            this.#scheduleTick(RETRY_MS);
          }
          for (const waiter of [...this.#waiters.values()]) {
            if (waiter.state !== QUEUED) continue;
            this.#settleWaiter(waiter);
            waiter.reject(error);
            void this.#background(scripts.cancel, waiter.id);
          }
          const now = performance.now();
          let next = this.leaseMs / 3;
          for (const permit of [...this.#held.values()]) {
            if (permit._deadline <= now) this.#lose(permit, error);
            else next = Math.min(next, permit._deadline - now);
          }
          if (this.#held.size > 0) this.#scheduleTick(Math.max(1, next));
          this.#checkIdle();
        },
      )
      .finally(() => {
        this.#ticking = false;
        if (this.#held.size > 0 || this.#waiters.size > 0) this.#scheduleTick(this.leaseMs / 3);
        if (this.#tickAgain) {
          this.#tickAgain = false;
          this.#scheduleTick(0);
        }
      })
      .catch(() => {});
  }

  #lose(permit: RedisPermit, cause: unknown): void {
    if (!this.#held.delete(permit.id)) return;
    this.#heldWeight -= permit.weight;
    this.#leaseLost++;
    const error = new LeaseLostError(
      `The lease of permit ${permit.id} (token ${permit.token}) of semaphore "${this.name}" was lost` +
        (cause === undefined ? ": it ran out before it could be renewed" : `: ${errorText(cause)}`),
      cause === undefined ? undefined : { cause },
    );
    if (channels.leaseLost.hasSubscribers) channels.leaseLost.publish({ limiter: this, weight: permit.weight, error });
    permit._lose(error);
    this.#checkIdle();
  }

  /** Runs a script with a deadline, turning client errors into ours. */
  #call(script: Script, args: readonly (string | number)[]): Promise<unknown> {
    const adapter = this.#adapter;
    const down = adapter.down;
    if (down !== undefined) {
      return Promise.reject(new RedisUnavailableError(`Redis at ${adapter.server} is unavailable: ${down}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new RedisUnavailableError(
            `Redis at ${adapter.server} did not answer within ${this.#commandTimeoutMs} ms ` +
              "(raise `commandTimeoutMs` if the server is just slow)",
          ),
        );
      }, this.#commandTimeoutMs);
      adapter.run(script, this.#keys, args).then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(this.#translate(error));
        },
      );
    });
  }

  #translate(error: unknown): Error {
    const message = errorText(error);
    const capacity = /PERMITS_CAPACITY (\d+)/.exec(message);
    if (capacity !== null) return new CapacityMismatchError(this.name, Number(capacity[1]), this.#capacity);
    const name = error instanceof Error ? error.name : "";
    if (name === "ReplyError" || name === "ErrorReply" || /^[A-Z]+ /.test(message)) {
      if (!/^(LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY)/.test(message)) {
        return new RedisCommandError(`Redis at ${this.#adapter.server} refused a command: ${message}`, { cause: error });
      }
    }
    return new RedisUnavailableError(`Redis at ${this.#adapter.server} is unavailable: ${message}`, { cause: error });
  }

  #isIdle(): boolean {
    return this.#held.size === 0 && this.#waiters.size === 0 && this.#inflight === 0;
  }

  #checkIdle(): void {
    if (!this.#isIdle()) return;
    // The heartbeat timer is left to run out (it is unref'd and does nothing
    // when idle): clearing and re-arming it on every acquisition costs more.
    const idle = this.#idle;
    if (idle.length > 0) {
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
  }

  #closedError(): unknown {
    return this.#closeReason !== undefined ? this.#closeReason : new ClosedError(`The semaphore "${this.name}" is closed`);
  }

  #tooHeavy(weight: number): RangeError {
    return new RangeError(
      `Expected \`weight\` to be at most the capacity (${this.#capacity}), got ${describe(weight)}: ` +
        "such a request could never be granted",
    );
  }

  #what(weight: number): string {
    return `${weight === 1 ? "1 permit" : `${weight} permits`} of "${this.name}"`;
  }
}

async function runWith<T>(
  acquiring: Promise<RedisPermit>,
  fn: (permit: RedisPermit) => T | PromiseLike<T>,
  signal: AbortSignal | undefined,
): Promise<Awaited<T>> {
  const permit = await acquiring;
  // Granted in the same tick as the abort: the abort wins, the permit goes on.
  if (signal?.aborted) {
    void permit.release();
    throw signal.reason;
  }
  try {
    return await fn(permit);
  } finally {
    void permit.release();
  }
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

/** Names become part of keys and the hash tag: braces would break the layout. */
function checkName(argument: string, value: unknown): void {
  if (typeof value !== "string" || value.length === 0 || value.length > 512 || /[{}\s]/.test(value)) {
    throw new TypeError(
      `Expected \`${argument}\` to be a non-empty string of at most 512 characters without \`{\`, \`}\` or whitespace, got ${describe(value)}`,
    );
  }
}

/**
 * A distributed mutual-exclusion lock: a {@link RedisSemaphore} of capacity 1,
 * with the same `acquire`, `run`, `tryAcquire`, leases and fencing tokens.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisLock } from "permits/redis";
 * const redis = new Redis();
 * const lock = new RedisLock(redis, "nightly-report");
 * await lock.run(async (permit) => {
 *   console.log("only one process builds the report; token", permit.token);
 * });
 * redis.disconnect();
 * ```
 */
export class RedisLock extends RedisSemaphore {
  constructor(client: unknown, name: string, options?: RedisSemaphoreOptions) {
    super(client, name, 1, options);
  }

  /**
   * Whether any process holds the lock now (one round trip).
   *
   * **Cancel safety:** read-only.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisLock } from "permits/redis";
   * const redis = new Redis();
   * const lock = new RedisLock(redis, "migrations");
   * console.log(await lock.isLocked()); // false
   * redis.disconnect();
   * ```
   */
  async isLocked(): Promise<boolean> {
    return (await this.inspect()).inUse > 0;
  }
}

