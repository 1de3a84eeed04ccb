/**
 * The one semaphore every other limiter in `permits` is built on.
 *
 * ## Contract
 * - **Fairness.** Waiters are served first in, first out (unless they give a
 *   `priority` or `tenant`: see `schedule.ts` and docs/scheduling.md). A waiter
 *   that does not fit blocks the ones behind it, so a heavy request is never
 *   starved by a stream of lighter ones, and the fast path is taken only when
 *   nobody is queued: a newcomer never barges past the queue.
 * - **Synchronous accounting.** `inUse`, `available` and `queued` change as
 *   soon as `acquire()`/`release()` is called; a release hands its permits
 *   straight to the waiters that now fit.
 * - **Cancellation.** An aborted `signal` or an elapsed `timeout` removes the
 *   waiter from the queue in O(1) and rejects it with `signal.reason` (or a
 *   `DOMException` named `"TimeoutError"`). Once a waiter has been granted its
 *   abort listener and timer are gone, so a grant and an abort in the same tick
 *   resolve one way only: either the waiter keeps the permit, or the abort wins
 *   and the permits go on to the next waiter. Nothing is lost or doubled.
 *
 * Design notes (see also Go's `x/sync/semaphore` and tokio's
 * `batch_semaphore`): the queue is an intrusive doubly linked list whose nodes
 * are the `Permit` objects themselves, so a queued acquire allocates one object
 * and one promise; timers take the node as an argument, and only a waiter
 * with a signal gets a closure: its abort listener. (A listener object with
 * `handleEvent` would save that closure, but Node's EventTarget wraps object
 * listeners in an async function: 1.7× the dispatch cost of a function on
 * Node 20 and 3.6× on Node 24, paid on every abort.)
 *
 * @module
 */

import { channels } from "./diagnostics.js";
import { ClosedError, invalidArgument, outOfRange, timeoutError } from "./errors.js";
import { type Entry, type Queue, Scheduler, type Tenant, type TenantStats } from "./schedule.js";
import { MAX_TIMEOUT } from "./wait.js";
import {
  checkAging,
  checkFunction,
  checkInteger,
  checkOptions,
  describe,
  readAcquireOptions,
  tenantWeight,
} from "./validate.js";

export type { TenantStats } from "./schedule.js";

/**
 * Options of `acquire`, `run` and the methods built on them.
 */
export interface AcquireOptions {
  /**
   * How many permits to take at once. An integer from 1 up to the capacity.
   * @defaultValue 1
   */
  weight?: number | undefined;
  /**
   * Gives up waiting when this signal aborts: the returned promise rejects with
   * `signal.reason` and the waiter leaves the queue. A signal that is already
   * aborted rejects even when permits are free. Has no effect once granted.
   */
  signal?: AbortSignal | undefined;
  /**
   * Gives up after this many milliseconds of waiting, rejecting with a
   * `DOMException` named `"TimeoutError"`. `0` means "only if free now";
   * `Infinity` (and anything above 2³¹−1 ms, about 24.8 days) means no timeout.
   * @defaultValue no timeout
   */
  timeout?: number | undefined;
  /**
   * Where this waiter goes in the queue: an integer, higher is served first;
   * equal priorities are served in the order they came (or shared fairly
   * between tenants, see `tenant`). A newcomer never passes a waiter of equal
   * or higher priority, and a higher-priority waiter that does not fit yet
   * blocks the lower ones (a heavy urgent request is not starved by light
   * ones). With the limiter's `aging` option a waiter that has waited `aging`
   * ms is served before everyone who came after it, whatever their priority.
   * Has no effect on `tryAcquire` or on a call that finds permits free and
   * nobody queued.
   * @defaultValue 0
   */
  priority?: number | undefined;
  /**
   * Who this waiter works for (a customer, a user, a job type): waiters of
   * different tenants at the same priority share the capacity fairly, in
   * proportion to the limiter's `weights` (default 1 each), counted in permit
   * weight; within a tenant they are served in order. Capacity is never
   * reserved: one busy tenant alone gets all of it. Any string.
   * @defaultValue none: one shared FIFO
   */
  tenant?: string | undefined;
}

/** Options of the `Semaphore` constructor. */
export interface SemaphoreOptions {
  /** A name that identifies this semaphore in diagnostics and errors. */
  name?: string | undefined;
  /**
   * A starvation bound for priorities, in milliseconds: a waiter that has
   * waited this long is served before every waiter that came after it,
   * whatever their priority. So at full load with higher-priority work
   * arriving all the time, a priority-0 waiter starts within `aging` plus
   * the time to serve those that came before it.
   * @defaultValue no aging: strict priority
   */
  aging?: number | undefined;
  /**
   * The share of each tenant (see `AcquireOptions.tenant`): a finite number
   * above 0, asked once each time a tenant starts waiting (so it may change
   * between bursts). A tenant of weight 4 gets four times the permits of a
   * tenant of weight 1 while both have waiters.
   * @defaultValue every tenant weighs 1
   */
  weights?: ((tenant: string) => number) | undefined;
}

/**
 * The counters every limiter's `stats()` reports: {@link SemaphoreStats},
 * `RateLimiterStats` and, counted per process, the Redis limiters' stats.
 *
 * @example
 * ```ts
 * import { Semaphore, type LimiterCounters } from "permit-pool";
 * const sem = new Semaphore(1);
 * (await sem.acquire()).release();
 * const { acquired, released }: LimiterCounters = sem.stats();
 * console.log(acquired, released); // 1 1
 * ```
 */
export interface LimiterCounters {
  /** Units held now (by weight). */
  inUse: number;
  /** Waiters in the queue now (not their weights). */
  queued: number;
  /** Acquisitions granted since creation. */
  acquired: number;
  /** Permits released since creation (acquisitions, not weights). */
  released: number;
  /** Waiters whose signal aborted (queued or already aborted on arrival). */
  aborted: number;
  /** Waiters whose timeout elapsed. */
  timedOut: number;
  /** The longest the queue has been. */
  maxQueued: number;
  /** Whether `close()` was called. */
  closed: boolean;
}

/** A plain snapshot of a semaphore's state and counters, from `stats()`. */
export interface SemaphoreStats extends LimiterCounters {
  /** Total permits. */
  capacity: number;
  /** Permits free now (0 when the capacity was shrunk below what is held). */
  available: number;
  /**
   * Per tenant (see `AcquireOptions.tenant`): present only once a tenant has
   * been named. Tenants that wait or hold permits, and the last 1,024 idle
   * ones.
   */
  tenants?: Record<string, TenantStats>;
}

const ONCE: AddEventListenerOptions = { once: true };
const INERT = { hasSubscribers: false, publish(): void {} };
const QUIET: typeof channels = {
  queued: INERT,
  granted: INERT,
  released: INERT,
  aborted: INERT,
  timedOut: INERT,
  leaseLost: INERT,
  limit: INERT,
};
// setTimeout's largest delay (MAX_TIMEOUT): longer timeouts mean "wait forever".
const SEMAPHORE_KEYS: readonly string[] = ["name", "aging", "weights"];


/**
 * The right to use `weight` units of a semaphore's capacity, from `acquire()`
 * until `release()`. Each acquisition gets its own `Permit`; releasing it a
 * second time does nothing, so it can never free someone else's permits.
 *
 * It is disposable: `using permit = await sem.acquire()` releases it at the end
 * of the block, also when the block throws.
 *
 * @example
 * ```ts
 * import { Semaphore } from "permit-pool";
 * const sem = new Semaphore(2);
 * {
 *   using permit = await sem.acquire();
 *   console.log(sem.inUse); // 1
 * }
 * console.log(sem.inUse); // 0
 * ```
 */
export class Permit implements Disposable, AsyncDisposable {
  /** How many units of capacity this permit holds. */
  declare readonly weight: number;
  // The node is kept to five fields: with 1,000,000 waiters queued, every
  // field is 8 MB and garbage-collector time. State is derived:
  // queued ⇔ `_resolve` set; held ⇔ not queued and `_sem` set; released (or
  // cancelled) ⇔ `_sem` null.
  // Fields are assigned in the constructor rather than by class-field
  // initializers: one allocation with a stable shape and no initializer call.
  /** @internal */ declare _sem: Semaphore | null;
  /** @internal */ declare _next: Permit | null;
  /** @internal */ declare _prev: Permit | null;
  /**
   * @internal While queued: the promise's resolve function or, for a waiter
   * with a signal, a timeout or a diagnostics subscriber, its `Wait` (which
   * holds resolve). One field for both keeps the node at five fields.
   */
  declare _resolve: ((permit: Permit) => void) | Wait | undefined;

  /** @internal */
  constructor(sem: Semaphore, weight: number) {
    this.weight = weight;
    this._sem = sem;
    this._next = null;
    this._prev = null;
    this._resolve = undefined;
  }

  /** Whether this permit has been released. */
  get released(): boolean {
    return this._sem === null;
  }

  /**
   * Gives the permits back, waking the waiters that now fit, in order.
   * Idempotent: a second call does nothing.
   */
  release(): void {
    const sem = this._sem;
    if (sem !== null) {
      this._sem = null;
      sem._release(this);
    }
  }

  /** Same as `release()`, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }

  /** Same as `release()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.release();
    return Promise.resolve();
  }
}

/**
 * What a waiter with a signal, a timeout or a diagnostics subscriber carries.
 * Timers take the node as an argument; a signal gets one function listener.
 * @internal
 */
export class Wait {
  /** The queued node (replaced once if the semaphore starts scheduling while it waits). */
  declare node: Permit;
  declare signal: AbortSignal | undefined;
  /** The abort listener, registered with `once` (a function: see the module notes). */
  declare onAbort: (() => void) | undefined;
  declare timer: ReturnType<typeof setTimeout> | undefined;
  /** The timeout asked for, for the error message. */
  declare timeoutMs: number;
  /** Date.now() at enqueue, only while diagnostics are subscribed. */
  declare since: number;
  /** The waiter's promise's resolve function (the node's `_resolve` holds this `Wait`). */
  declare resolve: ((permit: Permit) => void) | undefined;
  /** Kept only for cancellable waiters, so that an abort or timeout rejects at once. */
  declare reject: ((reason: unknown) => void) | undefined;

  constructor(node: Permit) {
    this.node = node;
    this.resolve = undefined;
    this.signal = undefined;
    this.onAbort = undefined;
    this.timer = undefined;
    this.timeoutMs = 0;
    this.since = 0;
    this.reject = undefined;
  }

  aborted(): void {
    const { node, signal } = this;
    if (signal === undefined) return;
    // Registered with `once`: the platform has already removed the listener.
    this.signal = undefined;
    this.onAbort = undefined;
    node._sem?._cancel(node, signal.reason, false);
  }
}

/**
 * Makes a class disposable on runtimes that predate `Symbol.dispose` (older
 * browsers), under the registered symbols a `using` polyfill looks up. Where
 * the symbols exist, the class methods above already use them.
 * @internal
 */
export function polyfillDispose(proto: { release(): unknown }): void {
  const target = proto as unknown as Record<symbol, unknown>;
  const sync = Symbol.for("Symbol.dispose");
  const async = Symbol.for("Symbol.asyncDispose");
  if (typeof (Symbol as { dispose?: symbol }).dispose !== "symbol" && !(sync in target)) {
    target[sync] = function (this: { release(): unknown }) {
      this.release();
    };
  }
  if (typeof (Symbol as { asyncDispose?: symbol }).asyncDispose !== "symbol" && !(async in target)) {
    target[async] = function (this: { release(): unknown }) {
      return Promise.resolve(this.release());
    };
  }
}
polyfillDispose(Permit.prototype);

function onTimeout(wait: Wait): void {
  wait.timer = undefined;
  const node = wait.node;
  node._sem?._cancel(node, undefined, true);
}

/**
 * A permit (queued, or granted at once) of a semaphore that schedules
 * (priority, tenant, aging): it carries its place in the {@link Scheduler}.
 * Plain FIFO permits stay five fields.
 * @internal
 */
export class Ranked extends Permit implements Entry {
  declare tag: number;
  declare tenant: Tenant | undefined;
  declare since: number;
  declare queue: Queue<Entry> | null;
  declare qnext: Entry | null;
  declare qprev: Entry | null;

  constructor(sem: Semaphore, weight: number, tenant: Tenant | undefined) {
    super(sem, weight);
    this.tag = 0;
    this.tenant = tenant;
    this.since = 0;
    this.queue = null;
    this.qnext = null;
    this.qprev = null;
  }
}

// A shared promise executor: set `pending` right before `new Promise`, so no
// closure is allocated per waiter. `reject` is kept only by waiters that can
// be cancelled (they carry a `Wait`); the others are rejected only by
// `close()`, `resize()` or `clearQueue()`, through `resolve(rejectedPromise)`,
// which settles two microtasks later but retains one function less per
// waiter (56 bytes of the 224 a plain waiter costs).
let pending: Permit;
function executor(resolve: (permit: Permit) => void, reject: (reason: unknown) => void): void {
  const wait = pending._resolve;
  if (typeof wait === "object") {
    wait.resolve = resolve;
    wait.reject = reject;
  } else pending._resolve = resolve;
}

/** `readAcquireOptions`, with the tenant's name under the name `acquire` uses. */
function readAcquire(options: AcquireOptions): {
  weight: number;
  signal: AbortSignal | undefined;
  timeout: number | undefined;
  priority: number;
  tenantName: string | undefined;
} {
  const { weight, signal, timeout, priority, tenant } = readAcquireOptions(options);
  return { weight, signal, timeout, priority, tenantName: tenant };
}

/**
 * A counting semaphore: at most `capacity` units are held at once; the rest
 * wait in a FIFO queue — or, for waiters that give a `priority` or a
 * `tenant`, in the order docs/scheduling.md states (aging, priority, fair
 * share between tenants by `weights`).
 *
 * @example
 * ```ts
 * import { Semaphore } from "permit-pool";
 * const sem = new Semaphore(3); // never more than 3 at once
 * const urls = ["a", "b", "c", "d", "e"];
 * const lengths = await Promise.all(
 *   urls.map((url) => sem.run(async () => url.length)),
 * );
 * console.log(lengths); // [1, 1, 1, 1, 1]
 * ```
 */
export class Semaphore {
  /** The name given in the options, for diagnostics. */
  readonly name: string | undefined;
  #capacity: number;
  /** capacity − inUse; negative after shrinking below what is held. */
  #free: number;
  /**
   * The arrival list (`_prev`/`_next`): every waiter in FIFO mode; once
   * scheduling, only with `aging` (the oldest waiter is its head). Without
   * aging a scheduled waiter is not linked: unlinking from the middle of
   * the arrival order touches two more nodes per grant, scattered in memory.
   */
  #head: Permit | null = null;
  #tail: Permit | null = null;
  #arrival = true;
  #queued = 0;
  #closed = false;
  #closeReason: unknown = undefined;
  #acquired = 0;
  #released = 0;
  #aborted = 0;
  #timedOut = 0;
  #maxQueued = 0;
  #idle: (() => void)[] | undefined = undefined;
  /** The queue's discipline once a waiter asked for more than FIFO (or `aging`/`weights` were given). */
  #sched: Scheduler<Ranked> | undefined = undefined;
  #aging = Infinity;
  #weights: ((tenant: string) => number) | undefined = undefined;
  /** Where this semaphore publishes: the diagnostics channels, or nowhere (an internal gate). */
  #ch: typeof channels = channels;
  /**
   * @internal What the next queued waiter costs in the fair-share count when
   * it is not its weight (RateLimiter's gate: one permit, `weight` units of
   * the rate). 0: its weight. Set right before `acquire()`, reset after.
   */
  _cost = 0;
  /** @internal Called each time the semaphore becomes idle (KeyedSemaphore drops it). */
  _onIdle: (() => void) | undefined = undefined;

  /**
   * @param capacity - How many units may be held at once: an integer from 1 and up.
   * @param options - `{ name }` for diagnostics.
   * @throws TypeError | RangeError for a capacity that is not an integer ≥ 1, or an unknown option.
   */
  constructor(capacity: number, options?: SemaphoreOptions) {
    this.#capacity = this.#free = checkInteger("capacity", capacity);
    if (options !== undefined) {
      checkOptions("options", options, SEMAPHORE_KEYS);
      if (options.name !== undefined && typeof options.name !== "string") {
        throw invalidArgument(`Expected \`name\` to be a string, got ${describe(options.name)}`);
      }
      if (options.aging !== undefined) this.#aging = checkAging(options.aging);
      if (options.weights !== undefined) {
        checkFunction("weights", options.weights);
        this.#weights = options.weights;
      }
      if (this.#aging !== Infinity || this.#weights !== undefined) this.#schedule();
    }
    this.name = options?.name;
  }

  /** Total permits. Setting it is the same as `resize(value)`. */
  get capacity(): number {
    return this.#capacity;
  }
  set capacity(value: number) {
    this.resize(value);
  }

  /** Permits free now (never negative). */
  get available(): number {
    return this.#free > 0 ? this.#free : 0;
  }

  /** Permits held now, by weight. */
  get inUse(): number {
    return this.#capacity - this.#free;
  }

  /** Waiters in the queue now (each counts once, whatever its weight). */
  get queued(): number {
    return this.#queued;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits for `weight` permits and resolves to a {@link Permit} that holds them
   * until `permit.release()` (or the end of a `using` block).
   *
   * **Fairness:** FIFO, unless waiters give a `priority` or a `tenant` (then:
   * aging, priority, fair share between tenants, arrival — see
   * docs/scheduling.md). If anyone is queued the call queues even when enough
   * permits are free (a newcomer of higher priority than every waiter may be
   * granted at once if it fits); the next waiter in that order that does not
   * fit blocks the ones after it until it does.
   *
   * **Cancel safety:** aborting `signal` or reaching `timeout` loses your place
   * in the queue and costs nothing else: the waiter is unlinked in O(1), the
   * promise rejects with `signal.reason` (or a `"TimeoutError"` `DOMException`),
   * and the waiters behind it that now fit are woken. A signal that fires after
   * the grant has no effect: release the permit yourself (or use `run`, which
   * checks the signal before calling your function).
   *
   * @throws TypeError | RangeError synchronously for a bad weight, a weight
   *   above the capacity, a bad signal or timeout, or an unknown option; nothing
   *   held or queued changes.
   * @returns A promise of the permit; rejects with the close reason (a
   *   {@link ClosedError} by default) once the semaphore is closed.
   *
   * @example
   * ```ts
   * import { Semaphore } from "permit-pool";
   * const sem = new Semaphore(4);
   * const permit = await sem.acquire({ weight: 2, timeout: 1_000 });
   * try {
   *   console.log(sem.available); // 2
   * } finally {
   *   permit.release();
   * }
   * ```
   */
  acquire(options?: AcquireOptions): Promise<Permit> {
    let weight = 1;
    let signal: AbortSignal | undefined;
    let timeout: number | undefined;
    let priority = 0;
    let tenantName: string | undefined;
    if (options !== undefined) ({ weight, signal, timeout, priority, tenantName } = readAcquire(options));
    if (weight > this.#capacity) throw this.#tooHeavy(weight);
    let sched = this.#sched;
    let tenant: Tenant | undefined;
    if (sched !== undefined || priority !== 0 || tenantName !== undefined) {
      // Asked before anything changes: a bad `weights` answer throws here.
      sched ??= this.#schedule();
      if (tenantName !== undefined) tenant = sched.tenant(tenantName);
    }
    if (this.#closed) return Promise.reject(this.#closedError());
    // An already-aborted signal fails even when permits are free: the caller
    // has said it no longer wants them, and granting would start work nobody
    // will use (Go's semaphore makes the same choice).
    if (signal !== undefined && signal.aborted) {
      this.#aborted++;
      return Promise.reject(signal.reason);
    }
    // Fast path only when nobody waits: a newcomer never barges.
    if (this.#queued === 0 && weight <= this.#free) {
      return Promise.resolve(sched === undefined ? this.#grantNow(weight) : this.#grantRanked(weight, tenant));
    }
    if (sched !== undefined) return this.#enqueueRanked(sched, weight, signal, timeout, priority, tenant);
    if (timeout === 0) {
      this.#timedOut++;
      return Promise.reject(timeoutError(0, this.#what(weight)));
    }
    const node = new Permit(this, weight);
    return this.#enqueue(node, signal, timeout);
  }

  /**
   * Takes `weight` permits only if they are free now and nobody is queued.
   *
   * **Fairness:** never barges: while anyone waits it returns `undefined`, even
   * if enough permits are free.
   *
   * @param weight - An integer from 1 up to the capacity. Defaults to 1.
   * @returns The permit, or `undefined` if it would have to wait (or the
   *   semaphore is closed: check `closed`).
   * @throws TypeError | RangeError for a bad weight or one above the capacity.
   *
   * @example
   * ```ts
   * import { Semaphore } from "permit-pool";
   * const sem = new Semaphore(1);
   * const first = sem.tryAcquire();
   * console.log(first !== undefined, sem.tryAcquire()); // true undefined
   * first?.release();
   * ```
   */
  tryAcquire(weight?: number): Permit | undefined {
    const w = weight === undefined ? 1 : checkInteger("weight", weight);
    if (w > this.#capacity) throw this.#tooHeavy(w);
    if (this.#closed || this.#queued > 0 || w > this.#free) return undefined;
    return this.#sched === undefined ? this.#grantNow(w) : this.#grantRanked(w, undefined);
  }

  /**
   * Acquires, calls `fn(permit)`, releases however `fn` ends, and returns what
   * `fn` returned (awaited) or rethrows what it threw — synchronous throws
   * included. `fn` is never called inside `run()` itself, with or without
   * options (as p-limit, async-mutex's `runExclusive` and p-queue's `add` do):
   * a free permit is taken at once — `inUse`, `tryAcquire()` and the queue
   * order see the call immediately — and `fn` runs one microtask later. A plain
   * (non-thenable) result releases the permit as soon as `fn` returns.
   *
   * **Fairness:** as `acquire`: FIFO, no barging.
   *
   * **Cancel safety:** while waiting, `signal`/`timeout` behave as in
   * `acquire`. If the signal aborts in the same tick as the grant, `fn` is not
   * called, the permit is released to the next waiter and the promise rejects
   * with `signal.reason`. Once `fn` runs, aborting does **not** release the
   * permit early: it is held until `fn` settles, because the point is to bound
   * the real work on the resource. Pass the signal on to `fn`'s own work.
   *
   * @throws TypeError | RangeError synchronously for bad arguments (as `acquire`).
   *
   * @example
   * ```ts
   * import { Semaphore } from "permit-pool";
   * const sem = new Semaphore(2);
   * const text = await sem.run(async () => "done", { timeout: 5_000 });
   * console.log(text); // "done"
   * ```
   */
  run<T>(fn: (permit: Permit) => T | PromiseLike<T>, options?: AcquireOptions): Promise<Awaited<T>> {
    checkFunction("fn", fn);
    if (options === undefined && this.#queued === 0 && this.#free >= 1 && !this.#closed && this.#sched === undefined) {
      // The permit is taken now, so `inUse`, `tryAcquire()` and the FIFO order
      // see this call at once; fn is called in a microtask, never inside run(),
      // as p-limit, async-mutex and p-queue do (and as the queued path does).
      return runLater(fn, this.#grantNow(1));
    }
    return runQueued(this.acquire(options), fn, options?.signal);
  }

  /**
   * Changes the capacity. Growing wakes waiters in FIFO order; shrinking never
   * revokes held permits (`available` stays 0 until enough are released).
   * Waiters heavier than the new capacity could never be served, so they are
   * rejected with a `RangeError` rather than left to block the queue forever.
   *
   * @throws TypeError | RangeError for a capacity that is not an integer ≥ 1.
   *
   * @example
   * ```ts
   * import { Semaphore } from "permit-pool";
   * const sem = new Semaphore(1);
   * const held = await sem.acquire();
   * const next = sem.acquire();
   * sem.resize(2); // `next` is granted now
   * (await next).release();
   * held.release();
   * ```
   */
  resize(capacity: number): void {
    checkInteger("capacity", capacity);
    const shrinking = capacity < this.#capacity;
    this.#free += capacity - this.#capacity;
    this.#capacity = capacity;
    // Only a smaller capacity can leave a waiter too heavy to ever fit (every
    // queued weight fitted the old one): growing walks nothing.
    if (shrinking && this.#queued > 0) {
      for (const node of this.#waiters()) {
        if (node.weight > capacity) this.#settle(node, false, this.#tooHeavy(node.weight));
      }
    }
    this.#drain();
  }

  /**
   * Closes the semaphore: every queued waiter and every later `acquire`
   * rejects with `reason` (exactly that value), or with a new
   * {@link ClosedError} when no reason is given. Held permits still release
   * normally, and `onIdle()` still resolves once they are. Idempotent.
   *
   * @example
   * ```ts
   * import { Semaphore } from "permit-pool";
   * const sem = new Semaphore(1);
   * sem.close(new Error("shutting down"));
   * await sem.acquire().catch((error) => console.log(error.message)); // "shutting down"
   * ```
   */
  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    for (let node = this.#first(); node !== null; node = this.#first()) this.#settle(node, false, this.#closedError());
    this.#checkIdle();
  }

  /**
   * Resolves when nothing is held or queued (at once if that is so now).
   *
   * **Cancel safety:** nothing to cancel; an abandoned promise costs one array
   * slot until the semaphore next becomes idle.
   *
   * @example
   * ```ts
   * import { Semaphore } from "permit-pool";
   * const sem = new Semaphore(2);
   * void sem.run(async () => {});
   * await sem.onIdle();
   * console.log(sem.inUse); // 0
   * ```
   */
  onIdle(): Promise<void> {
    if (this.#queued === 0 && this.#free === this.#capacity) return Promise.resolve();
    return new Promise((resolve) => (this.#idle ??= []).push(resolve));
  }

  /**
   * A plain-object snapshot of the state and counters.
   *
   * @example
   * ```ts
   * import { Semaphore } from "permit-pool";
   * const sem = new Semaphore(3);
   * (await sem.acquire()).release();
   * const { capacity, acquired, released } = sem.stats();
   * console.log(capacity, acquired, released); // 3 1 1
   * ```
   */
  stats(): SemaphoreStats {
    return {
      capacity: this.#capacity,
      available: this.available,
      inUse: this.inUse,
      queued: this.#queued,
      acquired: this.#acquired,
      released: this.#released,
      aborted: this.#aborted,
      timedOut: this.#timedOut,
      maxQueued: this.#maxQueued,
      closed: this.#closed,
      ...(this.#sched?.hasTenants === true ? { tenants: this.#sched.stats() } : undefined),
    };
  }

  /**
   * @internal Rejects every queued waiter with `reason` without closing
   * (`limit().clearQueue()`).
   */
  _clear(reason: unknown): void {
    for (let node = this.#first(); node !== null; node = this.#first()) this.#settle(node, false, reason);
  }

  /**
   * @internal Publishes nothing from now on: a limiter that waits on this
   * semaphore internally (RateLimiter's gate) publishes its own events.
   */
  _mute(): void {
    this.#ch = QUIET;
  }

  /** @internal Called by `Permit.release()` exactly once per held permit. */
  _release(permit: Permit): void {
    this.#free += permit.weight;
    this.#released++;
    if (this.#sched !== undefined && permit instanceof Ranked && permit.tenant !== undefined) {
      this.#sched.released(permit.tenant, permit.weight);
    }
    if (this.#ch.released.hasSubscribers) this.#ch.released.publish({ limiter: this, weight: permit.weight });
    if (this.#queued > 0) this.#drain();
    else if (this.#free === this.#capacity && (this.#idle !== undefined || this._onIdle !== undefined)) {
      this.#checkIdle();
    }
  }

  /** @internal Abort or timeout of a waiter; a no-op unless it is still queued. */
  _cancel(node: Permit, reason: unknown, timedOut: boolean): void {
    if (node._resolve === undefined) return;
    const wasHead = node._prev === null;
    if (timedOut) {
      this.#timedOut++;
      const wait = node._resolve;
      reason = timeoutError(typeof wait === "object" ? wait.timeoutMs : 0, this.#what(node.weight));
    } else {
      this.#aborted++;
    }
    this.#settle(node, false, reason);
    // Subscribers run only once the state is consistent again: one that
    // releases a permit re-enters `_release` safely.
    if (timedOut) {
      if (this.#ch.timedOut.hasSubscribers) this.#ch.timedOut.publish({ limiter: this, weight: node.weight });
    } else if (this.#ch.aborted.hasSubscribers) {
      this.#ch.aborted.publish({ limiter: this, weight: node.weight, reason });
    }
    // The head was the only waiter that could block the others: removing it
    // may let the ones behind it fit now. (Scheduled, the one that blocks is
    // the next in the discipline's order, wherever it is in the list.)
    if ((wasHead || this.#sched !== undefined) && this.#queued > 0) this.#drain();
  }

  /** Gives a cancellable (or observed) waiter its `Wait`: listener, timer, timestamp. */
  #arm(node: Permit, signal: AbortSignal | undefined, timeout: number | undefined): void {
    const wait = new Wait(node);
    node._resolve = wait;
    if (signal !== undefined) {
      wait.signal = signal;
      const onAbort = (): void => wait.aborted();
      wait.onAbort = onAbort;
      signal.addEventListener("abort", onAbort, ONCE);
    }
    if (timeout !== undefined && timeout <= MAX_TIMEOUT) {
      wait.timeoutMs = timeout;
      wait.timer = setTimeout(onTimeout, timeout, wait);
    }
    // Wait time is measured only for someone who will read it.
    if (this.#ch.queued.hasSubscribers || this.#ch.granted.hasSubscribers) wait.since = Date.now();
  }

  #grantNow(weight: number): Permit {
    this.#free -= weight;
    this.#acquired++;
    if (this.#ch.granted.hasSubscribers) this.#ch.granted.publish({ limiter: this, weight, waitedMs: 0 });
    return new Permit(this, weight);
  }

  /** Arms (signal, timer, timestamp) and links a new waiter at the tail of the arrival list; returns its promise. */
  #enqueue(node: Permit, signal: AbortSignal | undefined, timeout: number | undefined): Promise<Permit> {
    if (
      signal !== undefined ||
      (timeout !== undefined && timeout <= MAX_TIMEOUT) ||
      this.#ch.queued.hasSubscribers ||
      this.#ch.granted.hasSubscribers
    ) {
      this.#arm(node, signal, timeout);
    }
    pending = node;
    const promise = new Promise<Permit>(executor);
    if (this.#arrival) {
      const tail = this.#tail;
      if (tail === null) this.#head = node;
      else {
        tail._next = node;
        node._prev = tail;
      }
      this.#tail = node;
    }
    if (++this.#queued > this.#maxQueued) this.#maxQueued = this.#queued;
    if (this.#ch.queued.hasSubscribers) this.#ch.queued.publish({ limiter: this, weight: node.weight });
    return promise;
  }

  /** `#grantNow` for a semaphore that schedules: the permit carries its tenant. */
  #grantRanked(weight: number, tenant: Tenant | undefined): Permit {
    this.#free -= weight;
    this.#acquired++;
    if (tenant !== undefined) this.#sched!.grantedNow(tenant, weight);
    if (this.#ch.granted.hasSubscribers) this.#ch.granted.publish({ limiter: this, weight, waitedMs: 0 });
    return new Ranked(this, weight, tenant);
  }

  /** The queued path of a semaphore that schedules (as `acquire`'s, plus the waiter's place in the discipline). */
  #enqueueRanked(
    sched: Scheduler<Ranked>,
    weight: number,
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    priority: number,
    tenant: Tenant | undefined,
  ): Promise<Permit> {
    const node = new Ranked(this, weight, tenant);
    sched.add(node, priority, tenant, Date.now(), this._cost > 0 ? this._cost : weight);
    // Served now if it is next in the discipline and fits (it passed waiters
    // of lower priority, or of tenants that had more than their share).
    if (weight <= this.#free && sched.peek(this.#head as Ranked | null, node.since) === node) {
      sched.remove(node, true, node.since);
      this.#free -= weight;
      this.#acquired++;
      if (this.#ch.granted.hasSubscribers) this.#ch.granted.publish({ limiter: this, weight, waitedMs: 0 });
      return Promise.resolve(node);
    }
    if (timeout === 0) {
      sched.remove(node, false, 0);
      node._sem = null;
      this.#timedOut++;
      return Promise.reject(timeoutError(0, this.#what(weight)));
    }
    return this.#enqueue(node, signal, timeout);
  }

  /** `#drain` for a semaphore that schedules: the discipline's next waiter while it fits. */
  #drainRanked(sched: Scheduler<Ranked>): void {
    let node: Ranked | undefined;
    while (this.#queued > 0) {
      const now = Date.now();
      node = sched.peek(this.#head as Ranked | null, now);
      if (node === undefined || node.weight > this.#free) return;
      this.#free -= node.weight;
      this.#acquired++;
      const wait = node._resolve;
      const since = this.#ch.granted.hasSubscribers ? (typeof wait === "object" ? wait.since : 0) : -1;
      sched.remove(node, true, now);
      this.#settle(node, true, undefined);
      if (since >= 0) {
        this.#ch.granted.publish({ limiter: this, weight: node.weight, waitedMs: since > 0 ? Date.now() - since : 0 });
      }
    }
    this.#checkIdle();
  }

  /**
   * Starts scheduling: from now on every waiter is a {@link Ranked} node in
   * the discipline. Waiters already queued (plain FIFO, priority 0, no
   * tenant) are moved over in their order, each to a new node: a queued node
   * is not yet seen by its caller, who gets whatever node is granted.
   */
  #schedule(): Scheduler<Ranked> {
    const sched = new Scheduler<Ranked>(this.#aging, this.#weights, tenantWeight);
    this.#sched = sched;
    // Without aging, the scheduler's queues alone order the waiters.
    const arrival = this.#aging !== Infinity;
    const now = Date.now();
    let last: Permit | null = null;
    for (let old = this.#head; old !== null; ) {
      const next = old._next;
      const node = new Ranked(this, old.weight, undefined);
      const wait = old._resolve;
      node._resolve = wait;
      if (typeof wait === "object") wait.node = node;
      if (arrival) {
        node._prev = last;
        if (last === null) this.#head = node;
        else last._next = node;
        last = node;
      }
      old._sem = old._next = old._prev = null;
      old._resolve = undefined;
      sched.add(node, 0, undefined, now);
      old = next;
    }
    if (arrival) this.#tail = last;
    else this.#head = this.#tail = null;
    this.#arrival = arrival;
    return sched;
  }

  /** Any queued waiter (the arrival list's head, or the discipline's next); null when none. */
  #first(): Permit | null {
    return this.#arrival ? this.#head : (this.#sched?.peek(null, 0) ?? null);
  }

  /** Every queued waiter, as a snapshot (the caller may settle them as it goes). */
  #waiters(): Permit[] {
    if (!this.#arrival) return this.#sched?.entries() ?? [];
    const all: Permit[] = [];
    for (let node = this.#head; node !== null; node = node._next) all.push(node);
    return all;
  }

  /** Grants queued waiters from the head while they fit; stops at the first that does not. */
  #drain(): void {
    if (this.#sched !== undefined) {
      this.#drainRanked(this.#sched);
      return;
    }
    // The head is read afresh each time: a diagnostics subscriber may release
    // (and so drain) re-entrantly, and must never see a waiter granted twice.
    let node: Permit | null;
    while ((node = this.#head) !== null && node.weight <= this.#free) {
      this.#free -= node.weight;
      this.#acquired++;
      const wait = node._resolve;
      const since = this.#ch.granted.hasSubscribers ? (typeof wait === "object" ? wait.since : 0) : -1;
      this.#settle(node, true, undefined);
      if (since >= 0) {
        this.#ch.granted.publish({ limiter: this, weight: node.weight, waitedMs: since > 0 ? Date.now() - since : 0 });
      }
    }
    if (node === null) this.#checkIdle();
  }

  /** Unlinks a queued node, drops its listener and timer, and grants it or rejects it with `reason`. */
  #settle(node: Permit, granted: boolean, reason: unknown): void {
    if (this.#arrival) {
      const prev = node._prev;
      const next = node._next;
      if (prev === null) this.#head = next;
      else prev._next = next;
      if (next === null) this.#tail = prev;
      else next._prev = prev;
      node._prev = node._next = null;
    }
    this.#queued--;
    if (this.#sched !== undefined) this.#sched.remove(node as Ranked, false, 0);
    const wait = node._resolve!;
    node._resolve = undefined;
    let resolve: (permit: Permit) => void;
    let reject: ((reason: unknown) => void) | undefined;
    if (typeof wait === "function") resolve = wait;
    else {
      resolve = wait.resolve!;
      reject = wait.reject;
      wait.resolve = wait.reject = undefined;
      if (wait.signal !== undefined) {
        wait.signal.removeEventListener("abort", wait.onAbort!);
        wait.signal = undefined;
        wait.onAbort = undefined;
      }
      if (wait.timer !== undefined) {
        clearTimeout(wait.timer);
        wait.timer = undefined;
      }
    }
    if (granted) resolve(node);
    else {
      node._sem = null; // a cancelled node never holds anything
      if (reject !== undefined) reject(reason);
      else resolve(Promise.reject(reason) as never);
      if (this.#queued === 0) this.#checkIdle();
    }
  }

  #checkIdle(): void {
    if (this.#queued > 0 || this.#free !== this.#capacity) return;
    const idle = this.#idle;
    if (idle !== undefined) {
      this.#idle = undefined;
      for (const resolve of idle) resolve();
    }
    this._onIdle?.();
  }

  #closedError(): unknown {
    return this.#closeReason !== undefined
      ? this.#closeReason
      : new ClosedError(this.name === undefined ? "The semaphore is closed" : `The semaphore "${this.name}" is closed`);
  }

  #tooHeavy(weight: number): RangeError {
    return outOfRange(
      `Expected \`weight\` to be at most the capacity (${this.#capacity}), got ${describe(weight)}: ` +
        "such a request could never be granted",
    );
  }

  #what(weight: number): string {
    const permits = weight === 1 ? "1 permit" : `${weight} permits`;
    return this.name === undefined ? permits : `${permits} of "${this.name}"`;
  }
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * `run()` with the permit already held: calls `fn` in a microtask, not now.
 * A plain (non-thenable) result or a synchronous throw releases as soon as
 * `fn` returns, without an async frame; a thenable result is awaited, then the
 * permit released. (One `then` on a shared resolved promise is the cheapest
 * deferral: no executor closure, no async function state.)
 */
function runLater<T>(fn: (permit: Permit) => T | PromiseLike<T>, permit: Permit): Promise<Awaited<T>> {
  // An async function returns a promise: awaiting it in an async frame settles
  // run() one microtask after it, where returning it from a `then` callback
  // would add the two microtasks of adopting a thenable.
  if ((fn as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === "AsyncFunction") return runAsyncLater(fn, permit);
  return RESOLVED.then(() => callHeld(fn, permit));
}

async function runAsyncLater<T>(fn: (permit: Permit) => T | PromiseLike<T>, permit: Permit): Promise<Awaited<T>> {
  await RESOLVED; // one microtask: fn never runs inside the call
  try {
    return await fn(permit);
  } finally {
    permit.release();
  }
}

/** Calls `fn` with the permit held; releases however it ends. */
function callHeld<T>(fn: (permit: Permit) => T | PromiseLike<T>, permit: Permit): Awaited<T> | Promise<Awaited<T>> {
  let result: T | PromiseLike<T>;
  let then: unknown;
  try {
    result = fn(permit);
    if (result !== null && (typeof result === "object" || typeof result === "function")) {
      then = (result as { then?: unknown }).then;
    }
  } catch (error) {
    permit.release();
    throw error;
  }
  if (typeof then === "function") return awaitHeld(result as PromiseLike<T>, permit);
  permit.release();
  return result as Awaited<T>;
}

async function awaitHeld<T>(result: PromiseLike<T>, permit: Permit): Promise<Awaited<T>> {
  try {
    return await result;
  } finally {
    permit.release();
  }
}

async function runQueued<T>(
  acquiring: Promise<Permit>,
  fn: (permit: Permit) => T | PromiseLike<T>,
  signal: AbortSignal | undefined,
): Promise<Awaited<T>> {
  const permit = await acquiring;
  // Granted in the same tick as the abort: the abort wins, the permit goes on
  // to the next waiter, and fn never starts.
  if (signal?.aborted) {
    permit.release();
    throw signal.reason;
  }
  try {
    return await fn(permit);
  } finally {
    permit.release();
  }
}

/**
 * A mutual-exclusion lock: a {@link Semaphore} of capacity 1, with `locked`.
 * It has the same `acquire`, `run`, `tryAcquire`, `close` and `onIdle`, and the
 * same FIFO and cancellation guarantees.
 *
 * @example
 * ```ts
 * import { Lock } from "permit-pool";
 * const lock = new Lock();
 * let balance = 100;
 * await Promise.all([1, 2, 3].map(() =>
 *   lock.run(async () => {
 *     const read = balance;
 *     await Promise.resolve(); // no other writer can interleave here
 *     balance = read - 10;
 *   }),
 * ));
 * console.log(balance); // 70
 * ```
 */
export class Lock extends Semaphore {
  constructor(options?: SemaphoreOptions) {
    super(1, options);
  }

  /** Whether the lock is held now. */
  get locked(): boolean {
    return this.inUse > 0;
  }

  /**
   * A lock has capacity 1 by definition.
   * @throws TypeError always.
   */
  override resize(capacity: number): never {
    throw invalidArgument(`A Lock's capacity is always 1; use a Semaphore to resize (got ${describe(capacity)})`);
  }
}
