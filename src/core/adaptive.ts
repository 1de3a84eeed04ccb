/**
 * `AdaptiveSemaphore`: a semaphore that finds its own limit from what the
 * resource tells it — success samples (the round-trip time from grant to
 * release), overload signals (`drop()`: a timeout, a 429/503, a rejection) and
 * outcomes that say nothing about load (`ignore()`).
 *
 * It is a thin layer on the one verified {@link Semaphore}: every grant, FIFO
 * rule and cancellation rule is the Semaphore's, reached only through its
 * public API (`acquire`, `tryAcquire`, `resize`, `stats`); the controller
 * moves the Semaphore's capacity with `resize`, which never revokes a permit.
 *
 * ## The control loop
 * Samples are gathered in windows. A window closes at the first success that
 * arrives once it holds at least `minSamples` successes and has lasted one
 * smoothed round trip (or `window` ms); a window that reaches ten times that
 * length without enough samples is skipped — a trickle of samples never moves
 * the limit. A drop acts at once (it needs no statistics), but only once per
 * congestion event: drops of permits granted before the last decrease reflect
 * the old limit and are counted, not acted on (TCP's rule, which the Netflix
 * AIMDLimit lacks: there every drop of one burst multiplies the limit by 0.9
 * again).
 *
 * Choices that differ from the anchors (Netflix concurrency-limits, Vector's
 * adaptive_concurrency, failsafe-go's adaptivelimiter, Envoy's adaptive
 * concurrency filter), each for a documented problem of theirs:
 * - **Slow start** for every algorithm (Netflix#35: Vegas starts linearly):
 *   from `initial`, the limit doubles per clean, utilised window until the
 *   first congestion signal, then the algorithm's steady rule takes over.
 * - **A no-load RTT that cannot drift** (Netflix#37, #165: a minimum that is
 *   reset under load re-learns a loaded RTT, and the limit never tightens).
 *   The estimate falls freely (a faster window is proof), but rises only in a
 *   probe at the start of each epoch: the enforced limit is halved for as long
 *   as it takes to collect `minSamples` successes of permits granted after the
 *   probe began (earlier ones are discarded, they queued under the old load),
 *   and their mean becomes the new no-load RTT. Epochs are jittered (up to
 *   `epochJitter` of their length) so a fleet's members do not probe in step —
 *   Envoy's choice too, though Envoy pins concurrency to a fixed minimum while
 *   probing; halving costs less throughput. `rttNoLoad` pins it instead.
 * - **Gradient2 without the creep** (PR #134): Netflix adds a constant queue
 *   term whatever the gradient, so under mild overload the limit climbs while
 *   latency climbs with it, and its long-term RTT average follows the short one
 *   up. Here the reference is the no-load RTT above (it does not follow), the
 *   growth term is added only when the window shows no queueing (RTT within
 *   10 % of no-load, #134's own restriction, made strict), and between that
 *   and `tolerance` the limit holds (a dead band, as failsafe-go's Vegas-style
 *   thresholds have) — so a steady mild overload neither creeps up nor
 *   collapses. Above `tolerance` it shrinks in proportion to the inflation.
 * - **A pause is not a collapse**: after a `Retry-After`, `retryAfter(ms)`
 *   halves the pre-pause limit once, and every outcome of a permit granted
 *   before the pause ends is discarded, instead of each 429 of the burst
 *   cutting the limit again down to `min`.
 *
 * @module
 */

import { channels } from "./diagnostics.js";
import { invalidArgument, outOfRange } from "./errors.js";
import {
  type AcquireOptions,
  type Permit,
  polyfillDispose,
  Semaphore,
  type SemaphoreStats,
} from "./semaphore.js";
import { checkDuration, checkFunction, checkInteger, checkInterval, checkOptions, describe } from "./validate.js";

/** The algorithms an {@link AdaptiveSemaphore} can run. */
export type AdaptiveAlgorithm = "gradient2" | "aimd" | "vegas";

/** Options of the {@link AdaptiveSemaphore} constructor. */
export interface AdaptiveSemaphoreOptions {
  /**
   * The update rule: `"aimd"` (drops only: +1 per utilised clean window,
   * ×`backoff` on a drop — for resources that say "too much" explicitly, with
   * 429/503s), `"vegas"` (estimated queue `limit × (1 − rttNoLoad / rtt)`
   * kept between 3·log10 and 6·log10 of the limit), or `"gradient2"` (RTT
   * inflation against the no-load RTT: grow when there is none, hold within
   * `tolerance`, shrink above it).
   * @defaultValue "gradient2"
   */
  algorithm?: AdaptiveAlgorithm | undefined;
  /**
   * The limit to start from (slow start grows it from here). An integer from
   * `min` to `max`.
   * @defaultValue 4, brought into `[min, max]`
   */
  initial?: number | undefined;
  /**
   * The lowest the limit goes: an integer from 1 and up. Weights up to `min`
   * always fit; a heavier acquire must fit the limit at the time it is made.
   * @defaultValue 1
   */
  min?: number | undefined;
  /**
   * The highest the limit goes: an integer from `min` and up.
   * @defaultValue 1000
   */
  max?: number | undefined;
  /** A name that identifies this semaphore in diagnostics and errors. */
  name?: string | undefined;
  /**
   * `false` for monitor-only mode (for rollout): the limit is computed and
   * reported (`limit`, `stats()`, the `permits:limit` channel) but the
   * semaphore enforces `max` — set `max` to the static limit you run with today.
   * @defaultValue true
   */
  enforce?: boolean | undefined;
  /**
   * Successes a window needs before it can move the limit: an integer from 1
   * and up. Windows that never get this many are skipped.
   * @defaultValue 10
   */
  minSamples?: number | undefined;
  /**
   * The shortest a window lasts, in ms (finite, above 0).
   * @defaultValue the smoothed round-trip time (one window per round trip, Vector's choice)
   */
  window?: number | undefined;
  /**
   * Pins the no-load round-trip time (ms, finite, above 0): no probes are
   * made and `vegas`/`gradient2` compare every window with this value.
   * @defaultValue measured: the fastest window, re-measured in each epoch's probe
   */
  rttNoLoad?: number | undefined;
  /**
   * How often the no-load RTT is re-measured, in ms (finite, above 0).
   * @defaultValue 30000
   */
  epoch?: number | undefined;
  /**
   * Random extra length of each epoch, as a fraction of `epoch` from 0 to 1,
   * so that the members of a fleet do not probe in step.
   * @defaultValue 0.25
   */
  epochJitter?: number | undefined;
  /**
   * `gradient2`: the RTT inflation (window mean ÷ no-load RTT) tolerated
   * before the limit shrinks; a number above 1.1 (the no-queueing band) and at
   * most 10.
   * @defaultValue 1.5 (Netflix's Gradient2 default)
   */
  tolerance?: number | undefined;
  /**
   * The factor a drop multiplies the limit by: a number above 0 and below 1
   * (each drop lowers the limit by at least 1).
   * @defaultValue 0.75 (between TCP's 0.5, which halves goodput's ceiling on
   * every drop, and Netflix's/Vector's 0.9, which needs 11 drops to halve)
   */
  backoff?: number | undefined;
  /**
   * Whether to start with slow start (doubling per clean window).
   * @defaultValue true
   */
  slowStart?: boolean | undefined;
  /**
   * The clock, in milliseconds (monotonic). For simulations and tests.
   * @defaultValue `performance.now()`, read through the global each time (fake timers replace it)
   */
  clock?: (() => number) | undefined;
}

/** Options of {@link AdaptiveSemaphore.run}: those of `acquire`, plus `isDrop`. */
export interface AdaptiveRunOptions extends AcquireOptions {
  /**
   * Classifies an error thrown by `fn`: `true` is a drop (an overload
   * signal), `false` releases without a sample. `fn` returning is a success.
   * If `isDrop` itself throws, the permit is released without a sample and
   * `fn`'s error is rethrown.
   * @defaultValue an error named `"TimeoutError"` is a drop; any other throw is ignored
   */
  isDrop?: ((error: unknown) => boolean) | undefined;
}

/** Why the limit moved. */
export type LimitCause = "slowStart" | "increase" | "decrease" | "drop" | "retryAfter";

/** One change of the limit, in {@link AdaptiveSemaphoreStats.history}. */
export interface LimitChange {
  /** The clock reading (ms) when it changed. */
  at: number;
  /** The new limit. */
  limit: number;
  /** Why. */
  cause: LimitCause;
}

/** What the controller is doing now. */
export type AdaptivePhase = "slowStart" | "steady" | "probe" | "paused";

/** `stats()` of an {@link AdaptiveSemaphore}: the Semaphore's, plus the controller's. */
export interface AdaptiveSemaphoreStats extends SemaphoreStats {
  /** The limit the algorithm computed (equal to `capacity` unless `enforce: false`, a probe or a heavy waiter). */
  limit: number;
  /** The algorithm. */
  algorithm: AdaptiveAlgorithm;
  /** Whether the limit is enforced (`enforce` option). */
  enforced: boolean;
  /** What the controller is doing now. */
  phase: AdaptivePhase;
  /** Success samples (`release()`). */
  successes: number;
  /** Overload signals (`drop()`), acted on or not. */
  drops: number;
  /** Releases without a sample (`ignore()`), and outcomes discarded by a pause. */
  ignored: number;
  /** Windows that moved (or held) the limit. */
  windows: number;
  /** Windows skipped for want of `minSamples` successes. */
  skippedWindows: number;
  /** The no-load round-trip time in ms (pinned or measured), or `undefined` before the first window. */
  rttNoLoad: number | undefined;
  /** The mean round-trip time of the last window, in ms. */
  rttWindow: number | undefined;
  /** The smoothed round-trip time (ms) that sets the window length. */
  rttSmoothed: number | undefined;
  /** The last 100 limit changes, oldest first. */
  history: LimitChange[];
}

const ALGORITHMS: readonly string[] = ["gradient2", "aimd", "vegas"];
const OPTION_KEYS: readonly string[] = [
  "algorithm",
  "initial",
  "min",
  "max",
  "name",
  "enforce",
  "minSamples",
  "window",
  "rttNoLoad",
  "epoch",
  "epochJitter",
  "tolerance",
  "backoff",
  "slowStart",
  "clock",
];
const RUN_KEYS: readonly string[] = ["weight", "signal", "timeout", "isDrop"];
const HISTORY = 100;
/** Below this RTT inflation a window shows no queueing (gradient2's growth band). */
const NO_QUEUE = 1.1;
/** A window (or probe) this many times its length without enough samples is skipped. */
const SKIP_AFTER = 10;
const SUCCESS = 0;
const DROP = 1;
const IGNORE = 2;

const defaultClock = (): number => globalThis.performance.now();

/** Whether `error` is a timeout: by default the one kind of throw `run()` counts as a drop. */
function isTimeout(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { name?: unknown }).name === "TimeoutError";
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw invalidArgument(`Expected \`${name}\` to be a boolean, got ${describe(value)}`);
  return value;
}

/** A number in an open/closed range, for the tuning options. */
function checkFraction(name: string, value: unknown, low: number, high: number, lowOpen: boolean, what: string): number {
  const message = `Expected \`${name}\` to be ${what}, got ${describe(value)}`;
  if (typeof value !== "number") throw invalidArgument(message);
  if (!(lowOpen ? value > low : value >= low) || !(value <= high)) throw outOfRange(message);
  return value;
}

/**
 * A permit of an {@link AdaptiveSemaphore}. Ending it says how the work went:
 * `release()` is a success (its round-trip time, grant to release, is a
 * sample), `drop()` an overload signal, `ignore()` neither. Whichever is
 * called first releases the permit; every later call of any of them does
 * nothing. `using` counts as `release()`: call `drop()` or `ignore()` inside
 * the block for the other outcomes.
 *
 * @example
 * ```ts
 * import { AdaptiveSemaphore } from "permit-pool";
 * const sem = new AdaptiveSemaphore({ algorithm: "aimd", initial: 4 });
 * const permit = await sem.acquire();
 * const status = 503; // what the resource answered
 * if (status === 503 || status === 429) permit.drop();
 * else if (status >= 400) permit.ignore();
 * else permit.release();
 * console.log(permit.released, sem.stats().drops); // true 1
 * ```
 */
export class AdaptivePermit implements Disposable, AsyncDisposable {
  /** How many units of capacity this permit holds. */
  readonly weight: number;
  #sem: AdaptiveSemaphore | null;
  readonly #inner: Permit;
  /** @internal Clock reading at the grant. */
  readonly _grantedAt: number;
  /** @internal Units in use right after the grant (this permit included). */
  readonly _inFlight: number;

  /** @internal */
  constructor(sem: AdaptiveSemaphore, inner: Permit, grantedAt: number, inFlight: number) {
    this.weight = inner.weight;
    this.#sem = sem;
    this.#inner = inner;
    this._grantedAt = grantedAt;
    this._inFlight = inFlight;
  }

  /** Whether this permit has been released (by `release`, `drop` or `ignore`). */
  get released(): boolean {
    return this.#sem === null;
  }

  /** Releases with a success sample: the round-trip time from grant to now. Idempotent. */
  release(): void {
    this.#end(SUCCESS);
  }

  /** Releases with an overload signal (a timeout, a 429/503, a rejection by the resource). Idempotent. */
  drop(): void {
    this.#end(DROP);
  }

  /** Releases without a sample (an outcome that says nothing about load, such as a 404). Idempotent. */
  ignore(): void {
    this.#end(IGNORE);
  }

  /** Same as `release()`, for `using`. */
  [Symbol.dispose](): void {
    this.#end(SUCCESS);
  }

  /** Same as `release()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#end(SUCCESS);
    return Promise.resolve();
  }

  #end(outcome: number): void {
    const sem = this.#sem;
    if (sem === null) return;
    this.#sem = null;
    // The sample first: it may resize, and the release then hands the units
    // to the waiters that fit the new limit.
    sem._sample(this, outcome);
    this.#inner.release();
  }
}
polyfillDispose(AdaptivePermit.prototype);

/**
 * A semaphore whose capacity is an adaptive limit: it grows while the resource
 * answers quickly and shrinks when it queues (round-trip times rise) or says
 * "too much" (`drop()`). It keeps the {@link Semaphore} contract — FIFO,
 * weights, `signal`/`timeout`, `using`, `run()`, `close()`, `onIdle()`,
 * `stats()` — and shrinking never revokes a permit: `available` stays 0 until
 * enough are released.
 *
 * `capacity` is what is enforced, `limit` what the algorithm computed; they are
 * equal except with `enforce: false` (which enforces `max`), during a no-load
 * probe (half the limit), and while a waiter heavier than a shrunk limit is
 * queued (it was accepted when it fitted, so the capacity stays at its weight
 * until it is served or leaves, rather than rejecting it).
 *
 * @example
 * ```ts
 * import { AdaptiveSemaphore } from "permit-pool";
 * const sem = new AdaptiveSemaphore({ algorithm: "gradient2", initial: 8, min: 1, max: 200 });
 * const results = await Promise.all(
 *   [1, 2, 3].map((n) => sem.run(async () => n * 2, { isDrop: (error) => error instanceof TypeError })),
 * );
 * console.log(results, sem.limit); // [2, 4, 6] 8
 * ```
 */
export class AdaptiveSemaphore {
  /** The name given in the options, for diagnostics. */
  readonly name: string | undefined;
  /** The algorithm. */
  readonly algorithm: AdaptiveAlgorithm;
  readonly #sem: Semaphore;
  readonly #min: number;
  readonly #max: number;
  readonly #enforce: boolean;
  readonly #minSamples: number;
  readonly #window: number | undefined;
  readonly #pinned: boolean;
  readonly #epoch: number;
  readonly #jitter: number;
  readonly #tolerance: number;
  readonly #backoff: number;
  readonly #clock: () => number;

  /** The real-valued limit; `#limit` is it rounded into [min, max]. */
  #estimate: number;
  #limit: number;
  #slowStart: boolean;
  #history: LimitChange[] = [];
  #lastDecrease = -Infinity;
  /** Outcomes of permits granted before this are discarded (a pause). */
  #pausedUntil = -Infinity;
  #paused = false;

  #rttNoLoad: number | undefined;
  #rttWindow: number | undefined = undefined;
  #rttSmoothed: number | undefined = undefined;

  // The current window.
  #wStart: number;
  #wCount = 0;
  #wSum = 0;
  #wInFlight = 0;
  /** Successes of permits granted before this are kept out of windows (they ran under a probe's lower limit). */
  #wFrom = -Infinity;

  // Epochs and the no-load probe.
  #epochEnds: number;
  #probing = false;
  #probeStart = 0;
  #pCount = 0;
  #pSum = 0;

  #successes = 0;
  #drops = 0;
  #ignored = 0;
  #windows = 0;
  #skipped = 0;
  /** Queued waiters heavier than `min`, by weight (they must keep fitting while they wait). */
  #heavy: Map<number, number> | undefined = undefined;

  /**
   * @param options - The algorithm, the limits and the tuning; see {@link AdaptiveSemaphoreOptions}.
   * @throws TypeError | RangeError for an option of the wrong type or out of
   *   range (naming it and the value), `min > max`, `initial` outside
   *   `[min, max]`, or an unknown option.
   */
  constructor(options: AdaptiveSemaphoreOptions = {}) {
    checkOptions("options", options, OPTION_KEYS);
    const algorithm = options.algorithm ?? "gradient2";
    if (typeof algorithm !== "string") {
      throw invalidArgument(`Expected \`algorithm\` to be "gradient2", "aimd" or "vegas", got ${describe(algorithm)}`);
    }
    if (!ALGORITHMS.includes(algorithm)) {
      throw outOfRange(`Expected \`algorithm\` to be "gradient2", "aimd" or "vegas", got ${describe(algorithm)}`);
    }
    const min = options.min === undefined ? 1 : checkInteger("min", options.min);
    const max = options.max === undefined ? Math.max(1000, min) : checkInteger("max", options.max);
    if (max < min) {
      throw outOfRange(`Expected \`max\` to be at least \`min\` (${min}), got ${describe(max)}`);
    }
    const initial = options.initial === undefined ? Math.min(max, Math.max(min, 4)) : checkInteger("initial", options.initial);
    if (initial < min || initial > max) {
      throw outOfRange(`Expected \`initial\` to be an integer from \`min\` (${min}) to \`max\` (${max}), got ${describe(initial)}`);
    }
    if (options.name !== undefined && typeof options.name !== "string") {
      throw invalidArgument(`Expected \`name\` to be a string, got ${describe(options.name)}`);
    }
    const enforce = options.enforce === undefined ? true : checkBoolean("enforce", options.enforce);
    const minSamples = options.minSamples === undefined ? 10 : checkInteger("minSamples", options.minSamples);
    const window = options.window === undefined ? undefined : checkInterval("window", options.window);
    const rttNoLoad = options.rttNoLoad === undefined ? undefined : checkInterval("rttNoLoad", options.rttNoLoad);
    const epoch = options.epoch === undefined ? 30_000 : checkInterval("epoch", options.epoch);
    const jitter =
      options.epochJitter === undefined
        ? 0.25
        : checkFraction("epochJitter", options.epochJitter, 0, 1, false, "a number from 0 to 1");
    const tolerance =
      options.tolerance === undefined
        ? 1.5
        : checkFraction("tolerance", options.tolerance, NO_QUEUE, 10, true, "a number above 1.1 and at most 10");
    const backoff =
      options.backoff === undefined
        ? 0.75
        : checkFraction("backoff", options.backoff, 0, 1, true, "a number above 0 and below 1");
    if (backoff === 1) throw outOfRange(`Expected \`backoff\` to be a number above 0 and below 1, got ${describe(backoff)}`);
    const slowStart = options.slowStart === undefined ? true : checkBoolean("slowStart", options.slowStart);
    if (options.clock !== undefined) checkFunction("clock", options.clock);

    this.name = options.name;
    this.algorithm = algorithm;
    this.#min = min;
    this.#max = max;
    this.#enforce = enforce;
    this.#minSamples = minSamples;
    this.#window = window;
    this.#pinned = rttNoLoad !== undefined;
    this.#rttNoLoad = rttNoLoad;
    this.#epoch = epoch;
    this.#jitter = jitter;
    this.#tolerance = tolerance;
    this.#backoff = backoff;
    this.#clock = options.clock ?? defaultClock;
    this.#estimate = this.#limit = initial;
    this.#slowStart = slowStart;
    this.#sem = new Semaphore(enforce ? initial : max, options.name === undefined ? undefined : { name: options.name });
    const now = this.#clock();
    this.#wStart = now;
    this.#epochEnds = this.#nextEpoch(now);
  }

  /** The limit the algorithm computed now (an integer from `min` to `max`). */
  get limit(): number {
    return this.#limit;
  }

  /** The capacity enforced now: `limit`, except as the class notes say. */
  get capacity(): number {
    return this.#sem.capacity;
  }

  /** Permits free now (never negative). */
  get available(): number {
    return this.#sem.available;
  }

  /** Permits held now, by weight. */
  get inUse(): number {
    return this.#sem.inUse;
  }

  /** Waiters in the queue now. */
  get queued(): number {
    return this.#sem.queued;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#sem.closed;
  }

  /**
   * Waits for `weight` permits and resolves to an {@link AdaptivePermit};
   * end it with `release()` (success), `drop()` (overload) or `ignore()`.
   *
   * **Fairness:** FIFO, as {@link Semaphore.acquire}: no barging, and a waiter
   * that does not fit blocks the ones behind it. A shrinking limit delays
   * waiters; it never reorders them.
   *
   * **Cancel safety:** as {@link Semaphore.acquire}: aborting `signal` or
   * reaching `timeout` loses your place in the queue and costs nothing else
   * (no sample is taken: a waiter that gave up never held anything). A signal
   * that fires after the grant has no effect: end the permit yourself.
   *
   * @throws TypeError | RangeError synchronously for a bad weight, a weight
   *   above the current capacity, a bad signal or timeout, or an unknown
   *   option; nothing held or queued changes.
   *
   * @example
   * ```ts
   * import { AdaptiveSemaphore } from "permit-pool";
   * const sem = new AdaptiveSemaphore({ algorithm: "vegas", initial: 4, max: 64 });
   * const permit = await sem.acquire({ timeout: 1_000 });
   * try {
   *   console.log(sem.inUse); // 1
   * } finally {
   *   permit.release();
   * }
   * ```
   */
  acquire(options?: AcquireOptions): Promise<AdaptivePermit> {
    const sem = this.#sem;
    const before = sem.queued;
    const acquiring = sem.acquire(options);
    if (sem.queued > before) {
      const weight = options?.weight ?? 1;
      if (weight > this.#min) this.#track(weight, acquiring);
    }
    return acquiring.then((permit) => this.#wrap(permit));
  }

  /**
   * Takes `weight` permits only if they are free now and nobody is queued.
   *
   * **Fairness:** never barges: while anyone waits it returns `undefined`.
   *
   * @returns The permit, or `undefined` if it would have to wait (or the semaphore is closed).
   * @throws TypeError | RangeError for a bad weight or one above the current capacity.
   *
   * @example
   * ```ts
   * import { AdaptiveSemaphore } from "permit-pool";
   * const sem = new AdaptiveSemaphore({ algorithm: "aimd", initial: 1, max: 1 });
   * const first = sem.tryAcquire();
   * console.log(first !== undefined, sem.tryAcquire()); // true undefined
   * first?.ignore();
   * ```
   */
  tryAcquire(weight?: number): AdaptivePermit | undefined {
    const permit = this.#sem.tryAcquire(weight);
    return permit === undefined ? undefined : this.#wrap(permit);
  }

  /**
   * Acquires, calls `fn(permit)`, and ends the permit from how `fn` ends:
   * returning is a success sample; a throw is a drop if `isDrop(error)` says so
   * and otherwise released without a sample. Without `isDrop`, an error named
   * `"TimeoutError"` (`AbortSignal.timeout`, our own timeouts) is a drop and
   * any other throw is ignored: an exception is not evidence of load unless
   * you say so. `fn` may end the permit itself (`permit.drop()` for a 503 it
   * received as a value); `run` then does nothing more. Returns what `fn`
   * returned (awaited) or rethrows what it threw, synchronous throws included.
   *
   * **Fairness:** as `acquire`: FIFO, no barging.
   *
   * **Cancel safety:** while waiting, `signal`/`timeout` behave as in
   * `acquire`. If the signal aborts in the same tick as the grant, `fn` is not
   * called, the permit is released without a sample and the promise rejects
   * with `signal.reason`. Once `fn` runs, aborting does not release the permit
   * early: it is held until `fn` settles.
   *
   * @throws TypeError | RangeError synchronously for bad arguments (as `acquire`, and a non-function `isDrop`).
   *
   * @example
   * ```ts
   * import { AdaptiveSemaphore } from "permit-pool";
   * const sem = new AdaptiveSemaphore({ algorithm: "gradient2", initial: 8 });
   * const text = await sem.run(async () => "done", {
   *   timeout: 5_000,
   *   isDrop: (error) => error instanceof Error && error.message.includes("503"),
   * });
   * console.log(text); // "done"
   * ```
   */
  run<T>(fn: (permit: AdaptivePermit) => T | PromiseLike<T>, options?: AdaptiveRunOptions): Promise<Awaited<T>> {
    checkFunction("fn", fn);
    let isDrop = isTimeout;
    let acquire: AcquireOptions | undefined;
    if (options !== undefined) {
      checkOptions("options", options, RUN_KEYS);
      if (options.isDrop !== undefined) {
        checkFunction("isDrop", options.isDrop);
        isDrop = options.isDrop;
      }
      const { weight, signal, timeout } = options;
      if (weight !== undefined || signal !== undefined || timeout !== undefined) {
        acquire = {};
        if (weight !== undefined) acquire.weight = weight;
        if (signal !== undefined) acquire.signal = signal;
        if (timeout !== undefined) acquire.timeout = timeout;
      }
    }
    if (acquire === undefined) {
      const permit = this.tryAcquire();
      if (permit !== undefined) return runHeld(fn, permit, isDrop);
    }
    const signal = acquire?.signal;
    return this.acquire(acquire).then((permit) => {
      // Granted in the same tick as the abort: the abort wins, fn never starts.
      if (signal?.aborted === true) {
        permit.ignore();
        throw signal.reason;
      }
      return runHeld(fn, permit, isDrop);
    });
  }

  /**
   * Tells the controller that the resource asked for a pause of `ms`
   * milliseconds (a `Retry-After`). The limit is halved from its pre-pause
   * value at once — once per pause, however many 429s the burst brings — and
   * every outcome of a permit granted before the pause ends is discarded
   * (counted as ignored), so the controller resumes at half the pre-pause
   * limit, in its steady rule, not at `min` and not in slow start. A call
   * during a pause only extends it.
   *
   * It does not hold back grants itself: the caller waits out the pause
   * (`permit-pool/http` does, per origin), and the semaphore adapts.
   *
   * @param ms - The pause, in ms: a finite number from 0 and up.
   * @throws TypeError | RangeError for a bad `ms`.
   *
   * @example
   * ```ts
   * import { AdaptiveSemaphore } from "permit-pool";
   * const sem = new AdaptiveSemaphore({ algorithm: "aimd", initial: 40, max: 100 });
   * sem.retryAfter(2_000); // a 429 with Retry-After: 2
   * console.log(sem.limit); // 20
   * ```
   */
  retryAfter(ms: number): void {
    checkDuration("ms", ms);
    if (!Number.isFinite(ms)) throw outOfRange(`Expected \`ms\` to be a finite number of milliseconds, got ${describe(ms)}`);
    const now = this.#clock();
    const until = now + ms;
    if (this.#paused && now < this.#pausedUntil) {
      if (until > this.#pausedUntil) this.#pausedUntil = until;
      return;
    }
    this.#paused = true;
    this.#pausedUntil = until;
    this.#slowStart = false;
    this.#probing = false;
    this.#lastDecrease = until;
    this.#set(Math.max(this.#min, Math.floor(this.#limit / 2)), "retryAfter", now);
  }

  /**
   * Closes the semaphore: every queued waiter and every later `acquire`
   * rejects with `reason` (a {@link ClosedError} when none is given). Held
   * permits still end normally (their samples still count). Idempotent.
   *
   * @example
   * ```ts
   * import { AdaptiveSemaphore } from "permit-pool";
   * const sem = new AdaptiveSemaphore({ algorithm: "aimd" });
   * sem.close(new Error("shutting down"));
   * await sem.acquire().catch((error) => console.log(error.message)); // "shutting down"
   * ```
   */
  close(reason?: unknown): void {
    this.#sem.close(reason);
  }

  /**
   * Resolves when nothing is held or queued.
   *
   * **Cancel safety:** nothing to cancel.
   *
   * @example
   * ```ts
   * import { AdaptiveSemaphore } from "permit-pool";
   * const sem = new AdaptiveSemaphore({ algorithm: "aimd" });
   * void sem.run(async () => {});
   * await sem.onIdle();
   * console.log(sem.inUse); // 0
   * ```
   */
  onIdle(): Promise<void> {
    return this.#sem.onIdle();
  }

  /**
   * A plain-object snapshot: the Semaphore's counters, the limit, the
   * controller's phase, samples, windows, RTTs and the last 100 limit changes.
   *
   * @example
   * ```ts
   * import { AdaptiveSemaphore } from "permit-pool";
   * const sem = new AdaptiveSemaphore({ algorithm: "vegas", initial: 4, rttNoLoad: 50 });
   * (await sem.acquire()).drop();
   * const { limit, drops, phase, history } = sem.stats();
   * console.log(limit, drops, phase, history.length); // 3 1 steady 1
   * ```
   */
  stats(): AdaptiveSemaphoreStats {
    this.#refreshPause(this.#clock());
    return {
      ...this.#sem.stats(),
      limit: this.#limit,
      algorithm: this.algorithm,
      enforced: this.#enforce,
      phase: this.#phase(),
      successes: this.#successes,
      drops: this.#drops,
      ignored: this.#ignored,
      windows: this.#windows,
      skippedWindows: this.#skipped,
      rttNoLoad: this.#rttNoLoad,
      rttWindow: this.#rttWindow,
      rttSmoothed: this.#rttSmoothed,
      history: this.#history.slice(),
    };
  }

  /** @internal Called by the permit exactly once, before it releases. */
  _sample(permit: AdaptivePermit, outcome: number): void {
    const now = this.#clock();
    this.#refreshPause(now);
    if (outcome === IGNORE) {
      this.#ignored++;
      return;
    }
    const grantedAt = permit._grantedAt;
    if (grantedAt < this.#pausedUntil) {
      // Its outcome belongs to the paused period (or the queue before it).
      if (outcome === DROP) this.#drops++;
      else this.#ignored++;
      return;
    }
    if (outcome === DROP) {
      this.#drops++;
      // One decrease per congestion event: a permit granted before the last
      // decrease reports on the old limit.
      if (grantedAt <= this.#lastDecrease) return;
      this.#slowStart = false;
      this.#probing = false;
      this.#lastDecrease = now;
      const dropped = Math.min(this.#estimate * this.#backoff, this.#limit - 1);
      this.#set(dropped, "drop", now);
      this.#newWindow(now);
      return;
    }
    this.#successes++;
    const rtt = now - grantedAt;
    if (this.#probing) {
      if (grantedAt >= this.#probeStart) {
        this.#pCount++;
        this.#pSum += rtt;
      }
      if (this.#pCount >= this.#minSamples) {
        this.#rttNoLoad = this.#pSum / this.#pCount;
        this.#endProbe(now);
      } else if (now - this.#probeStart >= SKIP_AFTER * this.#windowLength()) {
        this.#endProbe(now); // no verdict: keep the old estimate
      }
      return;
    }
    if (!this.#pinned && this.algorithm !== "aimd" && now >= this.#epochEnds && this.#rttNoLoad !== undefined) {
      this.#startProbe(now);
      return;
    }
    if (grantedAt < this.#wFrom) return;
    const length = this.#windowLength();
    if (this.#wCount < this.#minSamples && length > 0 && now - this.#wStart >= SKIP_AFTER * length) {
      this.#skipped++;
      this.#newWindow(now);
    }
    this.#wCount++;
    this.#wSum += rtt;
    // Utilisation: the most in flight at a grant or a completion in this window.
    const inFlight = Math.max(permit._inFlight, this.#sem.inUse);
    if (inFlight > this.#wInFlight) this.#wInFlight = inFlight;
    if (this.#wCount >= this.#minSamples && now - this.#wStart >= length) this.#closeWindow(now);
  }

  #windowLength(): number {
    return this.#window ?? this.#rttSmoothed ?? 0;
  }

  #closeWindow(now: number): void {
    const mean = this.#wSum / this.#wCount;
    const utilised = this.#wInFlight * 2 >= this.#limit;
    this.#windows++;
    this.#rttWindow = mean;
    this.#rttSmoothed = this.#rttSmoothed === undefined ? mean : this.#rttSmoothed * 0.75 + mean * 0.25;
    if (!this.#pinned && (this.#rttNoLoad === undefined || mean < this.#rttNoLoad)) this.#rttNoLoad = mean;
    this.#newWindow(now);

    const L = this.#estimate;
    const noLoad = this.#rttNoLoad ?? mean;
    // RTTs below the clock's resolution read 0: no queueing to see (and no 0/0).
    const ratio = mean > 0 && noLoad > 0 ? noLoad / mean : 1;
    // The verdict: 1 grow, 0 hold, -1 shrink (to `target`).
    let verdict: number;
    let target = L;
    let step = 1;
    if (this.algorithm === "aimd") {
      verdict = 1; // drops act at once; a window that gets here was clean
    } else if (this.algorithm === "vegas") {
      const log = Math.log10(Math.max(L, 1));
      const queue = L * (1 - ratio);
      const alpha = Math.max(1, 3 * log);
      const beta = Math.max(2, 6 * log);
      step = Math.max(1, log);
      if (queue < alpha) verdict = 1;
      else if (queue > beta) {
        verdict = -1;
        target = L - step;
      } else verdict = 0;
    } else {
      const inflation = 1 / ratio;
      step = Math.max(1, Math.sqrt(L));
      if (inflation <= NO_QUEUE) verdict = 1;
      else if (inflation <= this.#tolerance) verdict = 0;
      else {
        verdict = -1;
        // Aim at the middle of the hold band, at most halving; half-way there
        // per window, so one noisy window cannot cut the limit in half.
        const aim = Math.max(0.5, (NO_QUEUE + this.#tolerance) / 2 / inflation);
        target = L + (L * aim - L) / 2;
      }
    }
    if (this.#slowStart) {
      if (verdict === 1) {
        if (utilised) this.#set(L * 2, "slowStart", now);
        return;
      }
      this.#slowStart = false; // the first congestion signal: the steady rule from here on
    }
    if (verdict === 1) {
      if (utilised) this.#set(L + step, "increase", now);
    } else if (verdict === -1) {
      this.#lastDecrease = now;
      this.#set(Math.min(target, this.#limit - 1), "decrease", now);
    }
  }

  #newWindow(now: number): void {
    this.#wStart = now;
    this.#wCount = 0;
    this.#wSum = 0;
    this.#wInFlight = 0;
  }

  #startProbe(now: number): void {
    this.#probing = true;
    this.#probeStart = now;
    this.#pCount = 0;
    this.#pSum = 0;
    this.#apply();
  }

  #endProbe(now: number): void {
    this.#probing = false;
    this.#epochEnds = this.#nextEpoch(now);
    this.#newWindow(now);
    this.#wFrom = now;
    this.#apply();
  }

  #nextEpoch(now: number): number {
    return now + this.#epoch * (1 + this.#jitter * Math.random());
  }

  #refreshPause(now: number): void {
    if (this.#paused && now >= this.#pausedUntil) {
      this.#paused = false;
      this.#newWindow(this.#pausedUntil);
    }
  }

  #phase(): AdaptivePhase {
    if (this.#paused) return "paused";
    if (this.#probing) return "probe";
    return this.#slowStart ? "slowStart" : "steady";
  }

  /** Moves the limit to `value` (clamped into [min, max]) and records the change. */
  #set(value: number, cause: LimitCause, now: number): void {
    const estimate = Math.min(this.#max, Math.max(this.#min, value));
    this.#estimate = estimate;
    const limit = Math.round(estimate);
    if (limit === this.#limit) return;
    const previous = this.#limit;
    this.#limit = limit;
    this.#history.push({ at: now, limit, cause });
    if (this.#history.length > HISTORY) this.#history.shift();
    this.#apply();
    if (channels.limit.hasSubscribers) channels.limit.publish({ limiter: this, limit, previous, cause });
  }

  /** Sets the Semaphore's capacity to what should be enforced now. */
  #apply(): void {
    let capacity = this.#enforce ? this.#limit : this.#max;
    if (this.#probing && this.#enforce) capacity = Math.max(this.#min, Math.floor(capacity / 2));
    const heavy = this.#heavy;
    if (heavy !== undefined) for (const weight of heavy.keys()) if (weight > capacity) capacity = weight;
    if (capacity !== this.#sem.capacity) this.#sem.resize(capacity);
  }

  #track(weight: number, acquiring: Promise<Permit>): void {
    const heavy = (this.#heavy ??= new Map());
    heavy.set(weight, (heavy.get(weight) ?? 0) + 1);
    const done = (): void => {
      const left = (heavy.get(weight) ?? 1) - 1;
      if (left === 0) heavy.delete(weight);
      else heavy.set(weight, left);
      this.#apply();
    };
    acquiring.then(done, done);
  }

  #wrap(permit: Permit): AdaptivePermit {
    return new AdaptivePermit(this, permit, this.#clock(), this.#sem.inUse);
  }
}

async function runHeld<T>(
  fn: (permit: AdaptivePermit) => T | PromiseLike<T>,
  permit: AdaptivePermit,
  isDrop: (error: unknown) => boolean,
): Promise<Awaited<T>> {
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
    if (drop) permit.drop();
    else permit.ignore();
    throw error;
  }
  permit.release();
  return result;
}
