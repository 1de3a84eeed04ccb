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
 * - **Adaptive** (`{ adaptive }`): the capacity is one AIMD limit in Redis,
 *   moved by the release script from the outcome marked on each release
 *   (success, drop, neither); changes are published on the same channel and
 *   carried, versioned, in every reply (scripts.ts, "AIMD").
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { channels } from "../core/diagnostics.js";
import { ClosedError, invalidArgument, LeaseLostError, outOfRange, timeoutError } from "../core/errors.js";
import { Tenant } from "../core/schedule.js";
import type { AcquireOptions, LimiterCounters, TenantStats } from "../core/semaphore.js";
import {
  checkAging,
  checkFunction,
  checkInteger,
  checkOptions,
  describe,
  readAcquireOptions,
  tenantWeight,
} from "../core/validate.js";
import { adapt, callScript, errorText, type RedisAdapter, type RedisClient } from "./client.js";
import { AdaptiveMismatchError, CapacityMismatchError, RedisUnavailableError } from "./errors.js";
import { hubOf, type Hub } from "./hub.js";
import { DROP, RedisPermit, SUCCESS } from "./permit.js";
import { checkMs, MAX_TIMEOUT } from "./options.js";
import {
  acquireArgs,
  agingArg,
  freeArgs,
  PLAIN,
  placement,
  readAcquire,
  readInspect,
  readReleaseLimit,
  readTick,
  readUsed,
  scripts,
  tickArgs,
  type AcquireReply,
  type LimitReport,
  type Placement,
  type Script,
} from "./scripts.js";

/**
 * Options of the `RedisSemaphore` constructor.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore, type RedisSemaphoreOptions } from "permit-pool/redis";
 * const options: RedisSemaphoreOptions = { leaseMs: 5_000, prefix: "billing:", whenUnavailable: "wait" };
 * const redis = new Redis();
 * const sem = new RedisSemaphore(redis, "invoices", 2, options);
 * console.log(sem.leaseMs); // 5000
 * redis.disconnect();
 * ```
 */
export interface RedisSemaphoreOptions {
  /**
   * How long a permit stays valid without a renewal, in ms: an integer from
   * 30 to 2_147_483_647. Held permits are renewed every `leaseMs / 3`
   * automatically; a crashed holder's permits are free again about `leaseMs`
   * after its last renewal. Shorter means faster recovery but less tolerance
   * for a stalled event loop. Every process of one semaphore should use the
   * same value.
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
   * with a {@link RedisUnavailableError}, in ms: an integer from 1 to
   * 2_147_483_647. This is what keeps a hung server from hanging your
   * acquire. It does not bound how long a holder believes in its lease: the
   * lease's own deadline does (see {@link RedisPermit.valid}).
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
  /**
   * Hold off grants for one lease when Redis may have lost this semaphore's
   * state while permits were held — Redlock's "delayed restart". It acts on
   * evidence — Redis answered this semaphore before, or this client's
   * connection was lost since it was first up (a restart or failover drops
   * every connection) — when Redis then has no state for the semaphore on a
   * server up for less than `leaseMs`, nothing is granted until the server
   * has been up `leaseMs` (the old holders' leases have surely run out by
   * then); and a heartbeat that finds its permits gone with the state holds
   * off grants for `leaseMs`. A first use of a fresh server is granted at
   * once. Turn it off only where Redis keeps its data across restarts (AOF
   * with `appendfsync always`): without it, for up to `leaseMs` after a
   * restart that lost data, new holders and old ones who have not yet heard
   * of the loss may both believe they hold permits.
   * @defaultValue true
   */
  restartGuard?: boolean | undefined;
  /**
   * A starvation bound for priorities, in milliseconds: a waiter that has
   * waited this long is served before every waiter that came after it,
   * whatever their priority. So at full load with higher-priority work
   * arriving all the time, a priority-0 waiter starts within `aging` plus
   * the time to serve those that came before it. Measured on the Redis
   * server's clock, from when the waiter was queued there. Each process
   * sends its own value with the commands that may grant: every process of
   * one semaphore should use the same.
   * @defaultValue no aging: strict priority
   */
  aging?: number | undefined;
  /**
   * The share of each tenant (see `AcquireOptions.tenant`): a finite number
   * above 0, asked each time this process queues a waiter of the tenant and
   * sent with it. A tenant of weight 4 gets four times the permits of a
   * tenant of weight 1 while both have waiters, across every process. Every
   * process of one semaphore should use the same function.
   * @defaultValue every tenant weighs 1
   */
  weights?: ((tenant: string) => number) | undefined;
  /**
   * One adaptive limit for the whole fleet, in place of a fixed capacity:
   * pass the options as the third argument,
   * `new RedisSemaphore(redis, name, { adaptive: { … } })` (with a capacity
   * as well it is a `TypeError`). The limit lives in Redis and moves by AIMD
   * inside the release script: `permit.drop()` anywhere lowers it, successes
   * at high utilisation raise it. See {@link RedisAdaptiveOptions} and
   * docs/redis.md ("Fleet adaptive limits").
   * @defaultValue none: the capacity is fixed
   */
  adaptive?: RedisAdaptiveOptions | undefined;
}

/**
 * The `adaptive` option of a {@link RedisSemaphore}: the settings of the one
 * limit the fleet shares. Every process of one semaphore must use the same
 * (Redis stores them with the semaphore; another process gets an
 * {@link AdaptiveMismatchError}). What the in-process `AdaptiveSemaphore`
 * also has but a fleet cannot share (RTT windows, `rttNoLoad`, epochs,
 * `enforce: false`) is not accepted here.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore, type RedisAdaptiveOptions } from "permit-pool/redis";
 * const adaptive: RedisAdaptiveOptions = { algorithm: "aimd", initial: 8, min: 2, max: 64 };
 * const redis = new Redis();
 * const sem = new RedisSemaphore(redis, "partner-api", { adaptive });
 * console.log(sem.limit); // 8 until Redis reports another
 * redis.disconnect();
 * ```
 */
export interface RedisAdaptiveOptions {
  /**
   * The update rule. Only `"aimd"` runs in Redis (its rule needs nothing but
   * counts, which a script can keep for the fleet); `"gradient2"` and
   * `"vegas"` compare round-trip times and are a `RangeError` here — use the
   * in-process `AdaptiveSemaphore` for them.
   * @defaultValue "aimd"
   */
  algorithm?: "aimd" | undefined;
  /**
   * The limit a new semaphore starts from (and starts over from when Redis
   * lost its state): an integer from `min` to `max`.
   * @defaultValue 4, brought into `[min, max]`
   */
  initial?: number | undefined;
  /**
   * The lowest the limit goes: an integer from 1 and up. It is also the
   * heaviest `weight` an acquire may ask for (a heavier one could wait for
   * ever at the head of the queue while the limit is low).
   * @defaultValue 1
   */
  min?: number | undefined;
  /**
   * The highest the limit goes: an integer from `min` and up.
   * @defaultValue 1000 (or `min` if higher)
   */
  max?: number | undefined;
  /**
   * The factor a drop multiplies the limit by: a number above 0 and below 1
   * (each decrease lowers the limit by at least 1, to no less than `min`).
   * @defaultValue 0.75, as the in-process `AdaptiveSemaphore`
   */
  backoff?: number | undefined;
  /**
   * The fewest successes a window counts: a window is
   * `max(limit, minSamples)` successes across the fleet.
   * @defaultValue 10
   */
  minSamples?: number | undefined;
  /**
   * Whether a new (or reset) limit doubles per utilised window until the
   * first drop, instead of growing by 1.
   * @defaultValue true
   */
  slowStart?: boolean | undefined;
}

/** Options of {@link RedisSemaphore.run}: those of `acquire`, plus `isDrop`. */
export interface RedisRunOptions extends AcquireOptions {
  /**
   * Classifies an error thrown by `fn`: `true` ends the permit with
   * `drop()` (an overload signal for an adaptive limit), `false` with
   * `ignore()`. `fn` returning ends it with `release()` (a success). On a
   * semaphore without `adaptive` all three just release.
   * @defaultValue an error named `"TimeoutError"` is a drop; any other throw is ignored
   */
  isDrop?: ((error: unknown) => boolean) | undefined;
}

/**
 * A snapshot of one process's view of a Redis semaphore, from `stats()`.
 * The counters ({@link LimiterCounters}) are this instance's.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore, type RedisSemaphoreStats } from "permit-pool/redis";
 * const redis = new Redis();
 * const sem = new RedisSemaphore(redis, "jobs", 2);
 * const { inUse, queued, leaseLost }: RedisSemaphoreStats = sem.stats();
 * console.log(inUse, queued, leaseLost); // 0 0 0
 * redis.disconnect();
 * ```
 */
export interface RedisSemaphoreStats extends LimiterCounters {
  /** Total permits (shared by every process): the limit, as last reported by Redis, for an adaptive semaphore. */
  capacity: number;
  /** The same as `capacity` (named as the in-process `AdaptiveSemaphore` names it). */
  limit: number;
  /** Adaptive only: this instance's permits ended with `release()` (success samples). */
  successes?: number;
  /** Adaptive only: this instance's permits ended with `drop()`, acted on or not. */
  drops?: number;
  /** Adaptive only: this instance's permits ended with `ignore()`. */
  ignored?: number;
  /** Permits free across the fleet, as of this process's last reply from Redis. */
  available: number;
  /** Permits whose lease was lost. */
  leaseLost: number;
  /**
   * Per tenant (only once an acquire named one), this instance's own:
   * waiters queued here, units held here, acquisitions granted here and
   * their wait p50/p99 in ms. Other processes count their own.
   */
  tenants?: Record<string, TenantStats>;
}

/**
 * The fleet-wide state of a Redis semaphore, from `inspect()`.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore, type RedisSemaphoreSnapshot } from "permit-pool/redis";
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

const OPTION_KEYS: readonly string[] = [
  "leaseMs",
  "prefix",
  "commandTimeoutMs",
  "whenUnavailable",
  "restartGuard",
  "aging",
  "weights",
  "adaptive",
];
const ADAPTIVE_KEYS: readonly string[] = ["algorithm", "initial", "min", "max", "backoff", "minSamples", "slowStart"];

/** The `adaptive` option, checked, and as the scripts take it. */
interface AdaptiveSettings {
  readonly min: number;
  /** ACQUIRE's first argument: `~<initial>:<settings>`. */
  readonly arg: string;
  /** `aimd:<min>:<max>:<backoff>:<minSamples>:<slowStart 0|1>`: what Redis stores and compares. */
  readonly settings: string;
}

function readAdaptive(value: unknown): AdaptiveSettings {
  checkOptions("adaptive", value, ADAPTIVE_KEYS);
  const o = value as RedisAdaptiveOptions;
  const algorithm: unknown = o.algorithm;
  if (algorithm !== undefined && algorithm !== "aimd") {
    const message = `Expected \`adaptive.algorithm\` to be "aimd", got ${describe(algorithm)}`;
    if (algorithm === "gradient2" || algorithm === "vegas") {
      throw outOfRange(
        `${message}: only "aimd" runs fleet-wide on Redis (its rule needs only counts a script can keep); ` +
          `use the in-process AdaptiveSemaphore for "${algorithm}"`,
      );
    }
    throw typeof algorithm === "string" ? outOfRange(message) : invalidArgument(message);
  }
  const min = o.min === undefined ? 1 : checkInteger("adaptive.min", o.min);
  const max = o.max === undefined ? Math.max(1000, min) : checkInteger("adaptive.max", o.max);
  if (max < min) throw outOfRange(`Expected \`adaptive.max\` to be at least \`adaptive.min\` (${min}), got ${describe(max)}`);
  const initial = o.initial === undefined ? Math.min(max, Math.max(min, 4)) : checkInteger("adaptive.initial", o.initial);
  if (initial < min || initial > max) {
    throw outOfRange(
      `Expected \`adaptive.initial\` to be an integer from \`adaptive.min\` (${min}) to \`adaptive.max\` (${max}), got ${describe(initial)}`,
    );
  }
  let backoff = 0.75;
  if (o.backoff !== undefined) {
    const message = `Expected \`adaptive.backoff\` to be a number above 0 and below 1, got ${describe(o.backoff)}`;
    if (typeof o.backoff !== "number") throw invalidArgument(message);
    if (!(o.backoff > 0 && o.backoff < 1)) throw outOfRange(message);
    backoff = o.backoff;
  }
  const minSamples = o.minSamples === undefined ? 10 : checkInteger("adaptive.minSamples", o.minSamples);
  if (o.slowStart !== undefined && typeof o.slowStart !== "boolean") {
    throw invalidArgument(`Expected \`adaptive.slowStart\` to be a boolean, got ${describe(o.slowStart)}`);
  }
  const settings = `aimd:${min}:${max}:${String(backoff)}:${minSamples}:${o.slowStart === false ? 0 : 1}`;
  return { min, settings, arg: `~${initial}:${settings}` };
}

/** Whether `error` is a timeout: by default the one kind of throw `run()` counts as a drop (as the core's). */
function isTimeout(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { name?: unknown }).name === "TimeoutError";
}
/** How many idle tenants `stats().tenants` keeps (active ones are always kept). */
const TENANTS_KEPT = 1_024;
/**
 * How much faster than ours the server's clock may run, as a share of a
 * lease: a holder stops believing in its lease this much (plus
 * {@link DRIFT_MS}) before the server can end it. Redlock uses the same 1 %.
 */
const DRIFT = 0.01;
/** A fixed part of the drift margin, in ms (timer and clock granularity). */
const DRIFT_MS = 2;

/**
 * The local deadline of a lease that ran for at least `leftMs` from the
 * moment `sent` (performance.now()) a command that set or renewed it was
 * sent: the server set it while handling that command, so no earlier than
 * `sent` — never from when the reply arrived, which may be much later.
 */
function deadlineFrom(sent: number, leftMs: number): number {
  return sent + leftMs - Math.ceil(leftMs * DRIFT) - DRIFT_MS;
}

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
const NO_IDS: readonly string[] = [];

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
  /** Its place in the serving order (priority, tenant), sent with each acquire. */
  readonly place: Placement;
  /** This instance's counters of the waiter's tenant (undefined: none). */
  readonly tenant: Tenant | undefined;
  /** When it started waiting (performance.now()), for the tenant's wait figures. */
  readonly start: number;
  readonly sem: RedisSemaphore;
  state: number;
  /**
   * A time (performance.now()) no later than when Redis last set this
   * waiter's heartbeat deadline: the send time of its first acquire, then of
   * each command whose reply confirmed it queued. A grant to a queued waiter
   * is leased until that heartbeat deadline, so `since + leaseMs` bounds it.
   */
  since: number;
  resolve: (permit: RedisPermit) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  timeout: number;
}

/**
 * A counting semaphore shared by every process that uses the same Redis and
 * `name`: at most `capacity` units are held at once across all of them, and
 * the rest wait in one queue in Redis — FIFO, or by `priority` and fair
 * share between tenants (`aging`, `weights`), decided in the scripts.
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
 * With `{ adaptive }` in place of the capacity it has one limit for the
 * whole fleet, kept in Redis and moved by AIMD in the release script:
 * `permit.drop()` in any process lowers it (once per congestion event),
 * successes at high utilisation raise it, and every process hears each
 * change without polling (`limit`, the `permits:limit` channel). See
 * {@link RedisAdaptiveOptions} and docs/redis.md.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore } from "permit-pool/redis";
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
  /** The capacity: fixed, or (adaptive) the limit as last reported by Redis. */
  #capacity: number;
  /** The `adaptive` option (undefined: a fixed capacity). */
  readonly #adaptive: AdaptiveSettings | undefined;
  /** The version of the limit last heard (-1: none yet): an older report never overrides a newer one. */
  #limitVersion = -1;
  /** Whether this adaptive semaphore is subscribed to hear its limit's changes. */
  #listening = false;
  #successes = 0;
  #drops = 0;
  #ignored = 0;
  readonly #adapter: RedisAdapter;
  readonly #hub: Hub<Waiter>;
  readonly #keys: readonly string[];
  readonly #channel: string;
  readonly #commandTimeoutMs: number;
  /** How long Redis holds off grants on a state it may have lost (0: restartGuard off). */
  readonly #guardMs: number;
  /** Whether Redis has answered any script of this semaphore (evidence its state existed). */
  #answered = false;
  /** The `aging` option as the scripts take it ("-1": none). */
  readonly #aging: string;
  readonly #weights: ((tenant: string) => number) | undefined;
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
  /** Why the last heartbeat failed (the cause of a lease lost at its deadline), until one succeeds. */
  #tickError: unknown = undefined;
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  #expiryDue = Infinity;
  #acquired = 0;
  #released = 0;
  #aborted = 0;
  #timedOut = 0;
  #maxQueued = 0;
  #leaseLost = 0;
  /** Per-tenant counters of this instance (kept while active, plus the last TENANTS_KEPT idle ones). */
  readonly #tenants = new Map<string, Tenant>();
  /** The tenant of each held permit that has one. */
  readonly #permitTenants = new Map<string, Tenant>();

  /**
   * @param client - A connected ioredis / iovalkey client (standalone or
   *   Cluster) or node-redis v5 client. It is used for scripts; one subscriber
   *   connection per client per process is made from it with `duplicate()`.
   * @param name - The semaphore's name, shared by every process that uses it:
   *   a non-empty string without `{` or `}` (it becomes the hash tag).
   * @param capacity - How many units may be held at once across the fleet: an
   *   integer from 1 and up. Stored in Redis by the first user; a process with
   *   another capacity gets a {@link CapacityMismatchError}. Or, in its
   *   place, the options with `adaptive` (see {@link RedisAdaptiveOptions}):
   *   one limit for the fleet that moves by itself. A capacity *and*
   *   `adaptive` is a `TypeError` (which would the limit start from?).
   * @param options - See {@link RedisSemaphoreOptions}.
   * @throws TypeError | RangeError for a bad client, name, capacity or option.
   */
  // The fixed-capacity form last: `ConstructorParameters<typeof RedisSemaphore>` keeps naming it.
  constructor(client: RedisClient, name: string, options: RedisSemaphoreOptions & { adaptive: RedisAdaptiveOptions });
  constructor(client: RedisClient, name: string, capacity: number, options?: RedisSemaphoreOptions);
  constructor(
    client: RedisClient,
    name: string,
    capacityOrOptions: number | RedisSemaphoreOptions,
    fourth?: RedisSemaphoreOptions,
  ) {
    this.#adapter = adapt(client);
    checkName("name", name);
    let options = fourth;
    if (typeof capacityOrOptions === "object" && capacityOrOptions !== null && !Array.isArray(capacityOrOptions)) {
      if (fourth !== undefined) {
        throw invalidArgument(
          `Expected no fourth argument after the options (\`new RedisSemaphore(client, name, { adaptive, … })\`), got ${describe(fourth)}`,
        );
      }
      if (capacityOrOptions.adaptive === undefined) {
        throw invalidArgument(
          "Expected `capacity` to be an integer from 1 and up, or options with `adaptive`, got options without `adaptive`",
        );
      }
      options = capacityOrOptions;
      this.#adaptive = readAdaptive(capacityOrOptions.adaptive);
      this.#capacity = Number(/^~(\d+)/.exec(this.#adaptive.arg)?.[1]);
    } else {
      this.#capacity = checkInteger("capacity", capacityOrOptions);
      if (options?.adaptive !== undefined) {
        throw invalidArgument(
          `Expected either \`capacity\` or \`adaptive\`, got both (capacity ${describe(capacityOrOptions)}): ` +
            "an adaptive semaphore starts from `adaptive.initial`; use `new RedisSemaphore(client, name, { adaptive })`",
        );
      }
    }
    let prefix = "permits:";
    let leaseMs = 10_000;
    let commandTimeoutMs = 5_000;
    if (options !== undefined) {
      checkOptions("options", options, OPTION_KEYS);
      if (options.prefix !== undefined) {
        if (typeof options.prefix !== "string" || /[{}]/.test(options.prefix)) {
          throw invalidArgument(`Expected \`prefix\` to be a string without \`{\` or \`}\`, got ${describe(options.prefix)}`);
        }
        prefix = options.prefix;
      }
      // Both become timer delays, which setTimeout cannot take past 2^31 - 1 ms.
      if (options.leaseMs !== undefined) leaseMs = checkMs("leaseMs", options.leaseMs, 30);
      if (options.commandTimeoutMs !== undefined) {
        commandTimeoutMs = checkMs("commandTimeoutMs", options.commandTimeoutMs, 1);
      }
      if (options.whenUnavailable !== undefined) {
        if (options.whenUnavailable !== "reject" && options.whenUnavailable !== "wait") {
          throw invalidArgument(
            `Expected \`whenUnavailable\` to be "reject" or "wait", got ${describe(options.whenUnavailable)}`,
          );
        }
        this.#wait = options.whenUnavailable === "wait";
      }
      if (options.restartGuard !== undefined && typeof options.restartGuard !== "boolean") {
        throw invalidArgument(`Expected \`restartGuard\` to be a boolean, got ${describe(options.restartGuard)}`);
      }
      if (options.aging !== undefined) checkAging(options.aging);
      if (options.weights !== undefined) checkFunction("weights", options.weights);
    }
    this.#aging = agingArg(options?.aging ?? Infinity);
    this.#weights = options?.weights;
    this.name = name;
    this.leaseMs = leaseMs;
    this.#commandTimeoutMs = commandTimeoutMs;
    this.#guardMs = options?.restartGuard === false ? 0 : leaseMs;
    this.#hub = hubOf<Waiter>(this.#adapter);
    const base = `${prefix}{${name}}:`;
    this.#keys = ["meta", "leases", "held", "queue", "waiting", "beats", "order", "fair"].map((k) => base + k);
    this.#channel = `${base}wake`;
  }

  /**
   * Total permits, shared by every process. On an adaptive semaphore, the
   * limit as this process last heard it from Redis (a reply, or a message on
   * the semaphore's channel: every change is pushed, no polling).
   */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * The current limit: the same as `capacity`. On an adaptive semaphore it
   * starts at `adaptive.initial` and follows the fleet's one limit in Redis
   * from the first reply on (every change is also published on the
   * `permits:limit` diagnostics channel).
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisSemaphore } from "permit-pool/redis";
   * const redis = new Redis();
   * const sem = new RedisSemaphore(redis, "partner-api", { adaptive: { initial: 8, max: 64 } });
   * await (await sem.acquire()).drop(); // an overload signal: the fleet's limit goes 8 → 6
   * console.log(sem.limit); // 6
   * redis.disconnect();
   * ```
   */
  get limit(): number {
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
   * **Fairness:** one order across every process, decided in Redis: the
   * `aging` bound first (a waiter queued `aging` ms on the server clock goes
   * before everyone who came after it), then higher `priority`, then fair
   * share between tenants of one priority (in proportion to `weights`,
   * counted in permit weight), then arrival (the order Redis received the
   * requests) — plain FIFO when no priority or tenant is given. A newcomer
   * queues behind waiters of equal or higher priority even when permits are
   * free, and the next waiter that does not fit blocks the rest until it
   * does. A holder that releases and re-acquires goes to the back. See
   * docs/scheduling.md and docs/redis.md.
   *
   * **Cancel safety:** aborting `signal` or reaching `timeout` rejects at once
   * with `signal.reason` (or a `"TimeoutError"` `DOMException`) and loses your
   * place: the waiter is taken out of every Redis structure of the queue
   * (arrival, serving order, fair-share counts: O(log n)), and if a
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
   * import { RedisSemaphore } from "permit-pool/redis";
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
    let place = PLAIN;
    if (options !== undefined) {
      let priority: number;
      let tenant: string | undefined;
      ({ weight, signal, timeout, priority, tenant } = readAcquireOptions(options));
      // The share is asked before anything is sent: a bad `weights` answer throws here.
      if (priority !== 0 || tenant !== undefined) {
        const share = tenant !== undefined && this.#weights !== undefined ? tenantWeight(this.#weights, tenant) : 1;
        place = placement(priority, tenant, share);
      }
    }
    if (weight > this.#heaviest()) throw this.#tooHeavy(weight);
    if (this.#closed) return Promise.reject(this.#closedError());
    // An already-aborted signal fails even when permits are free: the caller
    // no longer wants them (as in the core, and Go's semaphore).
    if (signal?.aborted) {
      this.#aborted++;
      return Promise.reject(signal.reason);
    }
    if (timeout === 0) {
      // "Only if free now": one script, never queued.
      return this.#tryNow(weight, place).then((permit) => {
        if (permit !== undefined) return permit;
        this.#timedOut++;
        throw timeoutError(0, this.#what(weight));
      });
    }
    return this.#enqueue(weight, signal, timeout, place);
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
   * import { RedisSemaphore } from "permit-pool/redis";
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
    if (w > this.#heaviest()) throw this.#tooHeavy(w);
    if (this.#closed) return Promise.resolve(undefined);
    return this.#tryNow(w, PLAIN);
  }

  /**
   * Acquires, calls `fn(permit)`, releases however `fn` ends, and returns
   * what `fn` returned (awaited) or rethrows what it threw — synchronous
   * throws included.
   *
   * **Fairness:** as `acquire`: one order across processes (aging,
   * priority, fair share, arrival), no barging.
   *
   * **Cancel safety:** while waiting, as `acquire`. If the signal aborts in
   * the same tick as the grant, `fn` is not called and the permit goes on to
   * the next waiter. Once `fn` runs, aborting does not release early: the
   * permit is held until `fn` settles. Watch `permit.signal` inside `fn` to
   * learn that the lease was lost.
   *
   * On an adaptive semaphore `run()` also samples: `fn` returning ends the
   * permit with `release()` (a success), a throw with `drop()` if
   * `options.isDrop(error)` says so (default: an error named
   * `"TimeoutError"`) and with `ignore()` otherwise (also when the grant
   * lost a race with the signal, or `isDrop` itself throws).
   *
   * @throws TypeError | RangeError synchronously for bad arguments (as `acquire`, and a non-function `isDrop`).
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisSemaphore } from "permit-pool/redis";
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
  run<T>(fn: (permit: RedisPermit) => T | PromiseLike<T>, options?: RedisRunOptions): Promise<Awaited<T>> {
    checkFunction("fn", fn);
    if (options === undefined) return runWith(this.acquire(), fn, undefined, isTimeout);
    let acquireOptions: AcquireOptions = options;
    let isDrop = isTimeout;
    if (typeof options === "object" && options !== null && "isDrop" in options) {
      const { isDrop: given, ...rest } = options;
      if (given !== undefined) {
        checkFunction("isDrop", given);
        isDrop = given;
      }
      acquireOptions = rest;
    }
    return runWith(this.acquire(acquireOptions), fn, options.signal, isDrop);
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
   * import { RedisSemaphore } from "permit-pool/redis";
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
      if (this.#listening) {
        this.#listening = false;
        this.#hub.unlisten(this, this.#channel);
      }
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
   * import { RedisSemaphore } from "permit-pool/redis";
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
   * import { RedisSemaphore } from "permit-pool/redis";
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
      limit: this.#capacity,
      ...(this.#adaptive === undefined
        ? undefined
        : { successes: this.#successes, drops: this.#drops, ignored: this.#ignored }),
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
      ...(this.#tenants.size > 0 ? { tenants: this.#tenantStats() } : undefined),
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
   * import { RedisSemaphore } from "permit-pool/redis";
   * const redis = new Redis();
   * const sem = new RedisSemaphore(redis, "partner-api", 3);
   * const { inUse, holders, waiters } = await sem.inspect();
   * console.log(inUse, holders.length, waiters.length);
   * redis.disconnect();
   * ```
   */
  async inspect(): Promise<RedisSemaphoreSnapshot> {
    const { capacity, used, holders, waiters } = readInspect(await this.#call(scripts.inspect, []));
    return { capacity, inUse: used, holders, waiters };
  }

  // ---------------------------------------------------------------- internals

  async #tryNow(weight: number, place: Placement): Promise<RedisPermit | undefined> {
    this.#listen();
    const id = nextId();
    const releases = this.#takeReleases();
    const sent = performance.now();
    let reply: AcquireReply;
    try {
      reply = readAcquire(await this.#call(scripts.acquire, this.#acquireArgs(id, weight, "try", releases, place)));
    } catch (error) {
      // Unanswered, the command may still run (the client re-sends it after
      // a reconnect): take back whatever it grants.
      if (error instanceof RedisUnavailableError) void this.#background(scripts.cancel, id);
      throw error;
    } finally {
      this.#landed(releases);
    }
    this.#observedUsed = reply.used;
    this.#observe(reply.limit);
    if (!reply.granted) return undefined;
    const tenant = place.tenant === undefined ? undefined : this.#tenant(place.tenant);
    if (tenant !== undefined) tenant.record(0);
    return this.#hold(id, weight, reply.token, deadlineFrom(sent, reply.leaseLeftMs), tenant);
  }

  #acquireArgs(
    id: string,
    weight: number,
    mode: "try" | "wait",
    releases: readonly PendingRelease[],
    place: Placement,
  ): string[] {
    return acquireArgs(
      this.#adaptive === undefined ? this.#capacity : this.#adaptive.arg,
      id,
      weight,
      this.leaseMs,
      mode,
      this.#channel,
      this.leaseMs,
      // Held off only on evidence that a state this process knew may have
      // been lost: Redis has answered this semaphore before (so a command
      // built now and re-sent by the client after a restart still carries
      // the guard), or this client's connection was lost since it was first
      // up. A first use of a fresh server is granted at once.
      this.#answered || this.#hub.reconnected ? this.#guardMs : 0,
      releases.length === 0 ? NO_IDS : releases.map((r) => r.id),
      place,
      this.#aging,
    );
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
    this.#call(scripts.release, freeArgs(this.#channel, this.#aging, releases.map((r) => r.id))).then(
      (raw) => {
        this.#observedUsed = readUsed(raw);
        this.#observe(readReleaseLimit(raw));
        this.#landed(releases);
      },
      () => this.#landed(releases),
    );
  }

  #enqueue(
    weight: number,
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    place: Placement,
  ): Promise<RedisPermit> {
    let resolve!: (permit: RedisPermit) => void;
    let reject!: (reason: unknown) => void;
    const promise = new Promise<RedisPermit>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const now = performance.now();
    const tenant = place.tenant === undefined ? undefined : this.#tenant(place.tenant);
    if (tenant !== undefined) tenant.queued++;
    const waiter: Waiter = {
      id: nextId(),
      weight,
      place,
      tenant,
      start: now,
      sem: this,
      state: SENDING,
      since: now,
      resolve,
      reject,
      signal,
      onAbort: undefined,
      timer: undefined,
      timeout: timeout ?? Infinity,
    };
    this.#listen();
    this.#waiters.set(waiter.id, waiter);
    this.#hub.waiters.set(waiter.id, waiter);
    this.#hub.active.add(this);
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

  /**
   * Sends (or re-sends: after Redis forgot it, or while it was unavailable)
   * a waiter's acquire script. The same id is idempotent: a second execution
   * finds the grant or the queue place of the first.
   */
  #send(waiter: Waiter): void {
    waiter.state = SENDING;
    const epoch = this.#hub.epoch(this.#channel);
    const releases = this.#takeReleases();
    const sent = performance.now();
    this.#call(scripts.acquire, this.#acquireArgs(waiter.id, waiter.weight, "wait", releases, waiter.place)).then(
      (raw) => {
        this.#landed(releases);
        const reply = readAcquire(raw);
        this.#observedUsed = reply.used;
        this.#observe(reply.limit);
        if (reply.granted) {
          if (waiter.state === SENDING) this.#granted(waiter, reply.token, deadlineFrom(sent, reply.leaseLeftMs));
          else if (waiter.state === DONE && !this.#held.has(waiter.id)) void this.#background(scripts.cancel, waiter.id);
          return;
        }
        if (waiter.state === DONE) {
          // Cancelled while the request was on the wire: take it out again.
          if (!this.#held.has(waiter.id)) void this.#background(scripts.cancel, waiter.id);
          return;
        }
        if (waiter.state !== SENDING) return; // granted by a wake-up that overtook the reply
        waiter.state = QUEUED;
        // Its heartbeat deadline was set no earlier than this send.
        if (sent > waiter.since) waiter.since = sent;
        // Subscribe only once someone actually waits: an uncontended acquire
        // never needs the subscriber connection.
        if (!this.#holding) {
          this.#holding = true;
          this.#hub.hold(this, this.#channel);
        }
        this.#scheduleTick(this.leaseMs / 3);
        // Fallback: a lease, a silent waiter's heartbeat or a restart guard
        // may run out with nobody's command to notice.
        if (reply.delayMs >= 0) this.#scheduleTick(reply.delayMs + 1);
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
        // It may have been queued (or granted) before the reply was lost, or
        // run later when the client re-sends it: take it out.
        void this.#background(scripts.cancel, waiter.id);
        this.#checkIdle();
      },
    );
  }

  /** @internal A wake-up says this waiter holds permits now. */
  _granted(waiter: Waiter, token: number): void {
    if (waiter.state === DONE) return;
    // The grant leased the permits until the waiter's heartbeat deadline,
    // which Redis set no earlier than `since`.
    const deadline = deadlineFrom(waiter.since, this.leaseMs);
    if (deadline - performance.now() < this.leaseMs / 4) {
      // Too little of that bound is left to hand out (heartbeats were
      // failing): the next heartbeat renews the lease and reports the grant.
      this._tickSoon();
      return;
    }
    this.#granted(waiter, token, deadline);
  }

  #granted(waiter: Waiter, token: number, deadline: number): void {
    if (waiter.state === DONE) return;
    this.#settleWaiter(waiter);
    waiter.tenant?.record(performance.now() - waiter.start);
    waiter.resolve(this.#hold(waiter.id, waiter.weight, token, deadline, waiter.tenant));
  }

  #hold(id: string, weight: number, token: number, deadline: number, tenant: Tenant | undefined): RedisPermit {
    const permit = new RedisPermit(this, id, weight, token, deadline);
    if (tenant !== undefined) {
      tenant.granted++;
      tenant.inUse += weight;
      this.#permitTenants.set(id, tenant);
    }
    if (this.#held.size === 0) this.#hub.active.add(this);
    this.#held.set(id, permit);
    this.#heldWeight += weight;
    this.#acquired++;
    this.#scheduleTick(this.leaseMs / 3);
    this.#armExpiry(deadline);
    if (channels.granted.hasSubscribers) channels.granted.publish({ limiter: this, weight, token });
    return permit;
  }

  /** A timer at the earliest local lease deadline: past it, a permit is lost whatever is in flight. */
  #armExpiry(deadline: number): void {
    if (deadline >= this.#expiryDue) return;
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#expiryDue = deadline;
    this.#expiryTimer = setTimeout(() => this.#expire(), Math.max(0, deadline - performance.now()));
    this.#expiryTimer.unref?.();
  }

  #expire(): void {
    this.#expiryTimer = undefined;
    this.#expiryDue = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const permit of [...this.#held.values()]) {
      if (permit._deadline <= now) this.#lose(permit, this.#tickError);
      else if (permit._deadline < next) next = permit._deadline;
    }
    if (next !== Infinity) this.#armExpiry(next);
  }

  /** @internal A permit found its deadline passed when read (before the timer ran). */
  _expire(permit: RedisPermit): void {
    if (this.#held.get(permit.id) === permit) this.#lose(permit, this.#tickError);
  }

  /** Takes a waiter out of the local books (not out of Redis). */
  #settleWaiter(waiter: Waiter): void {
    if (waiter.state === DONE) return;
    waiter.state = DONE;
    if (waiter.tenant !== undefined) {
      waiter.tenant.queued--;
      this.#rest(waiter.tenant);
    }
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

  /** @internal Called once by `RedisPermit.release()`, `drop()` or `ignore()` (the outcome's mark). */
  _release(permit: RedisPermit, outcome: string): Promise<void> {
    if (this.#held.delete(permit.id)) {
      this.#heldWeight -= permit.weight;
      this.#untenant(permit);
    }
    this.#released++;
    this.#observedUsed = Math.max(0, this.#observedUsed - permit.weight);
    if (channels.released.hasSubscribers) channels.released.publish({ limiter: this, weight: permit.weight });
    // Sent at the end of this tick, or carried by an acquire made before then
    // (release-then-acquire is one round trip). Redis sees it first either way.
    let id = permit.id;
    if (this.#adaptive !== undefined) {
      // The mark tells the release script what to sample (see scripts.ts, AIMD).
      id = outcome + id;
      if (outcome === SUCCESS) this.#successes++;
      else if (outcome === DROP) this.#drops++;
      else this.#ignored++;
    }
    this.#inflight++;
    return new Promise<void>((resolve) => {
      this.#releases.push({ id, resolve });
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        queueMicrotask(() => this.#flushReleases());
      }
    });
  }

  /** Runs a release/cancel script whose failure only delays recovery to lease/heartbeat expiry. */
  #background(script: Script, id: string): Promise<void> {
    this.#inflight++;
    const done = this.#call(script, freeArgs(this.#channel, this.#aging, [id])).then(
      (raw) => {
        this.#observedUsed = readUsed(raw);
        this.#observe(readReleaseLimit(raw));
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
        if (this.#adapter.down === undefined) this.#send(waiter);
      }
    }
    if (retrying) this.#scheduleTick(RETRY_MS);
    if (permits.length === 0 && waiters.length === 0) {
      if (this.#waiters.size > 0) this.#scheduleTick(this.leaseMs / 3);
      return;
    }
    this.#ticking = true;
    const sent = performance.now();
    this.#call(scripts.tick, tickArgs(this.#channel, this.leaseMs, this.leaseMs, this.#guardMs, this.#aging, permits, waiters))
      .then(
        (raw) => {
          this.#tickError = undefined;
          const reply = readTick(raw);
          this.#observedUsed = reply.used;
          this.#observe(reply.limit);
          const renewed = deadlineFrom(sent, this.leaseMs);
          for (const id of permits) {
            const permit = this.#held.get(id);
            if (permit === undefined) continue; // released, or lost at its deadline meanwhile
            if (reply.lost.has(id)) this.#lose(permit, undefined);
            else if (renewed > permit._deadline) permit._deadline = renewed;
          }
          for (const id of waiters) {
            const waiter = this.#waiters.get(id);
            if (waiter === undefined) continue;
            const token = reply.granted.get(id);
            // Granted meanwhile. This tick also renewed the lease, but the
            // permit is believed only as far as its grant surely ran (to
            // the heartbeat deadline set no earlier than `since`); the next
            // heartbeat renews it as a held permit.
            if (token !== undefined) this.#granted(waiter, token, deadlineFrom(waiter.since, this.leaseMs));
            else if (waiter.state === QUEUED && !reply.missing.has(id) && sent > waiter.since) waiter.since = sent;
          }
          for (const id of reply.missing) {
            // Redis no longer knows this waiter (it restarted, or we were
            // silent past the heartbeat deadline): queue it again, at the back.
            const waiter = this.#waiters.get(id);
            if (waiter !== undefined && waiter.state === QUEUED) this.#send(waiter);
          }
          if (this.#waiters.size > 0 && reply.delayMs >= 0) this.#scheduleTick(reply.delayMs + 1);
        },
        (error: unknown) => {
          // Redis unreachable: waiters learn it now rather than hang (unless
          // asked to wait). Held permits stay valid until their deadlines,
          // where the expiry timer ends them; meanwhile try again soon, so a
          // short outage does not cost them.
          this.#tickError = error;
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
          if (this.#held.size > 0) this.#scheduleTick(Math.min(this.leaseMs / 3, RETRY_MS));
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
    this.#untenant(permit);
    this.#leaseLost++;
    const error = new LeaseLostError(
      `The lease of permit ${permit.id} (token ${permit.token}) of semaphore "${this.name}" was lost` +
        (cause === undefined ? ": it ran out before it could be renewed" : `: ${errorText(cause)}`),
      cause === undefined ? undefined : { cause },
    );
    if (channels.leaseLost.hasSubscribers) channels.leaseLost.publish({ limiter: this, weight: permit.weight, error });
    permit._lose(error);
    // Redis may still count it (a renewal on the wire, the drift margin):
    // give it back now rather than when the server's lease runs out.
    void this.#background(scripts.release, permit.id);
    this.#checkIdle();
  }

  /** Subscribes an adaptive semaphore to its channel on first use, to hear its limit move. */
  #listen(): void {
    if (this.#adaptive === undefined || this.#listening || this.#closed) return;
    this.#listening = true;
    this.#hub.listen(this, this.#channel);
  }

  /** @internal A limit message on the semaphore's channel. */
  _limit(report: LimitReport): void {
    this.#observe(report);
  }

  /**
   * The limit as a reply or message reports it: the newest version wins
   * (replies and messages come on different connections, so an older one
   * may arrive last). A change is published on `permits:limit` here, in the
   * process that observed it.
   */
  #observe(report: LimitReport | undefined): void {
    if (report === undefined || this.#adaptive === undefined || !(report.version > this.#limitVersion)) return;
    if (!Number.isSafeInteger(report.limit) || report.limit < 1) return;
    this.#limitVersion = report.version;
    const previous = this.#capacity;
    if (report.limit === previous) return;
    this.#capacity = report.limit;
    if (channels.limit.hasSubscribers) {
      channels.limit.publish({ limiter: this, limit: report.limit, previous, cause: report.cause });
    }
  }

  /** Runs a script with a deadline, turning client errors into ours. */
  #call(script: Script, args: readonly (string | number)[]): Promise<unknown> {
    const reply = callScript(this.#adapter, script, this.#keys, args, this.#commandTimeoutMs, (message) => {
      const capacity = /PERMITS_CAPACITY (\d+)/.exec(message);
      if (capacity !== null) {
        const stored = Number(capacity[1]);
        return new CapacityMismatchError(this.name, stored, this.#capacity);
      }
      const adaptive = /PERMITS_ADAPTIVE (static \d+|\S+)/.exec(message);
      if (adaptive === null) return undefined;
      const stored = adaptive[1] ?? "";
      return new AdaptiveMismatchError(
        this.name,
        stored.startsWith("static ") ? `static capacity ${stored.slice(7)}` : `adaptive with ${stored}`,
        this.#adaptive === undefined ? `static capacity ${this.#capacity}` : `adaptive with ${this.#adaptive.settings}`,
      );
    });
    if (!this.#answered) {
      reply.then(
        () => (this.#answered = true),
        () => {},
      );
    }
    return reply;
  }

  /** This instance's counters of tenant `name`. */
  #tenant(name: string): Tenant {
    let tenant = this.#tenants.get(name);
    if (tenant === undefined) {
      tenant = new Tenant(name, 1);
      this.#tenants.set(name, tenant);
    }
    return tenant;
  }

  /** A held permit of a tenant is gone (released or lost). */
  #untenant(permit: RedisPermit): void {
    const tenant = this.#permitTenants.get(permit.id);
    if (tenant === undefined) return;
    this.#permitTenants.delete(permit.id);
    tenant.inUse -= permit.weight;
    this.#rest(tenant);
  }

  /** An idle tenant moves to the end; past TENANTS_KEPT, the longest idle are forgotten. */
  #rest(tenant: Tenant): void {
    if (tenant.active) return;
    this.#tenants.delete(tenant.name);
    this.#tenants.set(tenant.name, tenant);
    if (this.#tenants.size <= TENANTS_KEPT) return;
    for (const [name, t] of this.#tenants) {
      if (this.#tenants.size <= TENANTS_KEPT) break;
      if (!t.active) this.#tenants.delete(name);
    }
  }

  #tenantStats(): Record<string, TenantStats> {
    const out = Object.create(null) as Record<string, TenantStats>;
    for (const [name, tenant] of this.#tenants) out[name] = tenant.stats();
    return out;
  }

  #isIdle(): boolean {
    return this.#held.size === 0 && this.#waiters.size === 0 && this.#inflight === 0;
  }

  #checkIdle(): void {
    if (this.#held.size === 0 && this.#waiters.size === 0) this.#hub.active.delete(this);
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

  /** The heaviest acquire: the capacity, or `adaptive.min` (the limit never goes below it). */
  #heaviest(): number {
    return this.#adaptive === undefined ? this.#capacity : this.#adaptive.min;
  }

  #tooHeavy(weight: number): RangeError {
    if (this.#adaptive !== undefined) {
      return outOfRange(
        `Expected \`weight\` to be at most \`adaptive.min\` (${this.#adaptive.min}), got ${describe(weight)}: ` +
          "a heavier waiter could block the queue whenever the adaptive limit falls below it",
      );
    }
    return outOfRange(
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
  isDrop: (error: unknown) => boolean,
): Promise<Awaited<T>> {
  const permit = await acquiring;
  // Granted in the same tick as the abort: the abort wins, the permit goes on
  // (no sample: no work was done under it).
  if (signal?.aborted) {
    void permit.ignore();
    throw signal.reason;
  }
  let result: Awaited<T>;
  try {
    result = await fn(permit);
  } catch (error) {
    let drop = false;
    try {
      drop = isDrop(error) === true;
    } catch {
      // A broken classifier must not hide fn's error: no sample, fn's error rethrown.
    }
    void (drop ? permit.drop() : permit.ignore());
    throw error;
  }
  void permit.release();
  return result;
}

/** Names become part of keys and the hash tag: braces would break the layout. */
function checkName(argument: string, value: unknown): void {
  if (typeof value !== "string" || value.length === 0 || value.length > 512 || /[{}\s]/.test(value)) {
    throw invalidArgument(
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
 * import { RedisLock } from "permit-pool/redis";
 * const redis = new Redis();
 * const lock = new RedisLock(redis, "nightly-report");
 * await lock.run(async (permit) => {
 *   console.log("only one process builds the report; token", permit.token);
 * });
 * redis.disconnect();
 * ```
 */
export class RedisLock extends RedisSemaphore {
  constructor(client: RedisClient, name: string, options?: Omit<RedisSemaphoreOptions, "adaptive">) {
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
   * import { RedisLock } from "permit-pool/redis";
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

