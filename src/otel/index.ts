/**
 * `permit-pool/otel`: OpenTelemetry metrics for your limiters.
 *
 * Register each limiter under a name; the bridge then reports, per name:
 *
 * | instrument | kind | unit | what |
 * |---|---|---|---|
 * | `permits.limiter.in_use` | observable gauge | `{permit}` | permits held now (by weight) |
 * | `permits.limiter.queued` | observable gauge | `{waiter}` | waiters in the queue now |
 * | `permits.limiter.capacity` | observable gauge | `{permit}` | total permits (concurrency limiters only) |
 * | `permits.limiter.limit` | observable gauge | `{permit}` | the adaptive limit now (`AdaptiveSemaphore`; an HTTP limiter's adaptive `concurrency`, and per origin with `permits.http.origin`) |
 * | `permits.limiter.wait.duration` | histogram | `s` | time from `acquire()` to the grant |
 * | `permits.limiter.cancellations` | counter | `{waiter}` | waiters that gave up; `permits.cancellation.reason` is `aborted` or `timeout` |
 *
 * Every point carries `permits.limiter.name` (the name you registered) and
 * `permits.limiter.kind` (`concurrency` or `rate`; a `Limiter` reports both).
 *
 * The limit gauge is the value of the last `permits:limit` message (every
 * change of an adaptive limit is published there), read from the limiter at
 * collection: the same number, at no cost per change. An HTTP limiter
 * (`limitFetch(...)`, `limitInterceptor(...)`) registers like any limiter:
 * in-use and queued are its requests in flight and waiting, capacity is its
 * global limit, and with `perOrigin: "adaptive"` each remembered origin's
 * limit is a point of its own (at most 256, the origins it remembers).
 *
 * Gauges are read from the limiters when the SDK collects, so they cost
 * nothing in between. Wait times and cancellations come from the core's
 * `node:diagnostics_channel` channels (`permits:granted`, `permits:aborted`,
 * `permits:timedOut`), which the core only feeds while someone subscribes;
 * where `diagnostics_channel` does not exist (browsers) the gauges still work
 * and the histogram and counter stay empty.
 *
 * `@opentelemetry/api` is an optional peer dependency: install it (any 1.x)
 * to use this module; the core never imports it.
 *
 * @example
 * ```ts
 * import { Semaphore } from "permit-pool";
 * import { PermitsMetrics } from "permit-pool/otel";
 *
 * const db = new Semaphore(10, { name: "db" });
 * const metrics = new PermitsMetrics();      // uses the global MeterProvider
 * metrics.register("db", db);
 * // … later, on shutdown:
 * metrics.close();
 * ```
 *
 * @module
 */

// Types only (Symbol.dispose, Disposable) for projects whose lib lacks esnext.disposable.
import "../core/disposable.js";
import {
  metrics as otelMetrics,
  ValueType,
  type Attributes,
  type BatchObservableResult,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type Observable,
  type ObservableGauge,
} from "@opentelemetry/api";
import { ClosedError, invalidArgument } from "../core/errors.js";

/**
 * The attribute that names the limiter on every point.
 *
 * @example
 * ```ts
 * import { ATTR_LIMITER_NAME } from "permit-pool/otel";
 * console.log(ATTR_LIMITER_NAME); // "permits.limiter.name" — filter or group your dashboards by it
 * ```
 */
export const ATTR_LIMITER_NAME = "permits.limiter.name";
/**
 * The attribute that tells a concurrency limit from a rate: `concurrency` or `rate`.
 *
 * @example
 * ```ts
 * import { ATTR_LIMITER_KIND } from "permit-pool/otel";
 * console.log(ATTR_LIMITER_KIND); // "permits.limiter.kind"
 * ```
 */
export const ATTR_LIMITER_KIND = "permits.limiter.kind";
/**
 * The attribute that tells why a waiter gave up: `aborted` or `timeout`.
 *
 * @example
 * ```ts
 * import { ATTR_CANCELLATION_REASON } from "permit-pool/otel";
 * console.log(ATTR_CANCELLATION_REASON); // "permits.cancellation.reason"
 * ```
 */
export const ATTR_CANCELLATION_REASON = "permits.cancellation.reason";

/**
 * The attribute that names the origin of a per-origin adaptive limit of an HTTP limiter.
 *
 * @example
 * ```ts
 * import { ATTR_HTTP_ORIGIN } from "permit-pool/otel";
 * console.log(ATTR_HTTP_ORIGIN); // "permits.http.origin"
 * ```
 */
export const ATTR_HTTP_ORIGIN = "permits.http.origin";

/** Buckets (seconds) for the wait histogram: from "no wait" to a minute. */
const WAIT_BUCKETS: number[] = [0, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A concurrency limiter as the bridge reads it: `Semaphore`, `Lock`, or anything shaped like them. */
export interface ConcurrencySource {
  /** Total permits; the `permits.limiter.capacity` gauge. */
  readonly capacity: number;
  /** Permits held now, by weight; the `permits.limiter.in_use` gauge. */
  readonly inUse: number;
  /** Waiters in the queue now; the `permits.limiter.queued` gauge. */
  readonly queued: number;
  /** An adaptive limiter's current limit (`AdaptiveSemaphore`); the `permits.limiter.limit` gauge. */
  readonly limit?: number;
}

/** An HTTP limiter as the bridge reads it (`limitFetch(...)`, `limitInterceptor(...)`): from its `stats()`. */
export interface HttpSource {
  /** The snapshot the gauges are read from. */
  stats(): {
    inFlight: number;
    queued: number;
    global?: { capacity: number } | undefined;
    adaptive?: { limit: number } | undefined;
    origins: Record<string, { adaptive?: { limit: number } | undefined }>;
  };
}

/** A rate limiter as the bridge reads it (`RateLimiter`): no fixed capacity. */
export interface RateSource {
  /** Admitted and not yet released, by weight; the `permits.limiter.in_use` gauge. */
  readonly inUse: number;
  /** Waiters in the queue now; the `permits.limiter.queued` gauge. */
  readonly queued: number;
  /** The limiter's own name option: wait times of its internal queue are matched by it. */
  readonly name?: string | undefined;
}

/** A concurrency limit and a rate together (`Limiter`). */
export interface CombinedSource {
  /** The concurrency half, reported with `permits.limiter.kind` = `concurrency`. */
  readonly concurrency: ConcurrencySource;
  /** The rate half, reported with `permits.limiter.kind` = `rate`. */
  readonly rate: RateSource;
}

/** A keyed limiter (`KeyedSemaphore`): reported as the sum over its live keys. */
export interface KeyedSource<K = unknown> {
  // Method syntax on purpose: parameters of methods are bivariant, so a KeyedSemaphore<string> is a KeyedSource.
  /** The live keys. */
  keys(): Iterable<K>;
  /** One key's counters; summed over {@link KeyedSource.keys}. */
  stats(key: K): ConcurrencySource | undefined;
}

/** Anything `register` accepts: every limiter of `permits`. */
export type MeteredLimiter = ConcurrencySource | RateSource | CombinedSource | KeyedSource | HttpSource;

/** Options of {@link PermitsMetrics}. */
export interface PermitsMetricsOptions {
  /**
   * Where the instruments are created.
   * @defaultValue the global provider (`metrics.getMeterProvider()` of `@opentelemetry/api`)
   */
  meterProvider?: MeterProvider | undefined;
  /** Attributes added to every point (for example a pool or tenant name). */
  attributes?: Attributes | undefined;
}

interface Registration {
  readonly name: string;
  readonly limiter: MeteredLimiter;
  readonly attributes: Attributes;
}

interface DiagnosticsChannel {
  subscribe(name: string, listener: (message: unknown, name: string | symbol) => void): void;
  unsubscribe(name: string, listener: (message: unknown, name: string | symbol) => void): boolean;
}

interface ChannelMessage {
  limiter?: unknown;
  waitedMs?: unknown;
}

const OPTION_KEYS = new Set(["meterProvider", "attributes"]);

/** `node:diagnostics_channel` where the runtime has it (Node ≥ 20.16, Bun, Deno), found without importing a Node module. */
function loadDiagnostics(): DiagnosticsChannel | undefined {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const dc = proc?.getBuiltinModule?.("node:diagnostics_channel") as Partial<DiagnosticsChannel> | undefined;
    return typeof dc?.subscribe === "function" && typeof dc.unsubscribe === "function"
      ? (dc as DiagnosticsChannel)
      : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<PropertyKey, unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null;
}

function isConcurrency(value: unknown): value is ConcurrencySource {
  return isObject(value) && typeof value.capacity === "number" && typeof value.inUse === "number";
}

function isCombined(value: unknown): value is CombinedSource {
  return isObject(value) && isConcurrency(value.concurrency) && isObject(value.rate);
}

function isKeyed(value: unknown): value is KeyedSource<unknown> {
  return isObject(value) && typeof value.keys === "function" && typeof value.stats === "function" && !("inUse" in value);
}

function isHttp(value: unknown): value is HttpSource {
  return isObject(value) && typeof value.stats === "function" && !("inUse" in value) && !("keys" in value);
}

function isRate(value: unknown): value is RateSource {
  return isObject(value) && typeof value.inUse === "number" && typeof value.queued === "number" && !("capacity" in value);
}

/**
 * Reports the state of named limiters as OpenTelemetry metrics: in-use,
 * queued and capacity gauges, a wait-time histogram and a cancellation
 * counter (see the module documentation for names and units).
 *
 * One instance serves any number of limiters; register each under a name that
 * is stable and low in cardinality (a resource, not a request).
 *
 * @example
 * ```ts
 * import { MeterProvider } from "@opentelemetry/sdk-metrics";
 * import { Limiter, Semaphore } from "permit-pool";
 * import { PermitsMetrics } from "permit-pool/otel";
 *
 * const provider = new MeterProvider();
 * const metrics = new PermitsMetrics({ meterProvider: provider, attributes: { service: "crawler" } });
 * metrics.register("db", new Semaphore(10)).register("partner-api", new Limiter({ concurrency: 3, rate: { limit: 100, interval: 60_000 } }));
 * ```
 */
export class PermitsMetrics implements Disposable {
  readonly #meter: Meter;
  readonly #attributes: Attributes;
  readonly #byName = new Map<string, Registration>();
  /** Limiter object → registration, for attributing channel messages by identity. */
  readonly #byObject = new WeakMap<object, { registration: Registration; kind: "concurrency" | "rate" }>();
  readonly #inUse: ObservableGauge;
  readonly #queued: ObservableGauge;
  readonly #capacity: ObservableGauge;
  readonly #limit: ObservableGauge;
  readonly #wait: Histogram;
  readonly #cancellations: Counter;
  readonly #observables: Observable[];
  readonly #collect = (result: BatchObservableResult): void => this.#observe(result);
  readonly #diagnostics: DiagnosticsChannel | undefined = loadDiagnostics();
  readonly #onGranted = (message: unknown): void => this.#granted(message);
  readonly #onAborted = (message: unknown): void => this.#cancelled(message, "aborted");
  readonly #onTimedOut = (message: unknown): void => this.#cancelled(message, "timeout");
  #closed = false;

  /**
   * @param options - `{ meterProvider?, attributes? }`.
   * @throws TypeError for an unknown option.
   */
  constructor(options: PermitsMetricsOptions = {}) {
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.has(key)) {
        throw invalidArgument(`Unknown option \`${key}\` of PermitsMetrics; expected one of: ${[...OPTION_KEYS].join(", ")}`);
      }
    }
    const provider = options.meterProvider ?? otelMetrics.getMeterProvider();
    this.#meter = provider.getMeter("permit-pool");
    this.#attributes = { ...options.attributes };
    this.#inUse = this.#meter.createObservableGauge("permits.limiter.in_use", {
      description: "Permits held now, by weight.",
      unit: "{permit}",
      valueType: ValueType.INT,
    });
    this.#queued = this.#meter.createObservableGauge("permits.limiter.queued", {
      description: "Waiters in the queue now.",
      unit: "{waiter}",
      valueType: ValueType.INT,
    });
    this.#capacity = this.#meter.createObservableGauge("permits.limiter.capacity", {
      description: "Total permits of a concurrency limiter.",
      unit: "{permit}",
      valueType: ValueType.INT,
    });
    this.#limit = this.#meter.createObservableGauge("permits.limiter.limit", {
      description: "The adaptive limit now: what an adaptive limiter allows in flight (as last published on permits:limit).",
      unit: "{permit}",
      valueType: ValueType.INT,
    });
    this.#wait = this.#meter.createHistogram("permits.limiter.wait.duration", {
      description: "Time from acquire() to the grant.",
      unit: "s",
      valueType: ValueType.DOUBLE,
      advice: { explicitBucketBoundaries: WAIT_BUCKETS },
    });
    this.#cancellations = this.#meter.createCounter("permits.limiter.cancellations", {
      description: "Waiters that gave up: aborted by their signal or timed out.",
      unit: "{waiter}",
      valueType: ValueType.INT,
    });
    this.#observables = [this.#inUse, this.#queued, this.#capacity, this.#limit];
    this.#meter.addBatchObservableCallback(this.#collect, this.#observables);
    this.#diagnostics?.subscribe("permits:granted", this.#onGranted);
    this.#diagnostics?.subscribe("permits:aborted", this.#onAborted);
    this.#diagnostics?.subscribe("permits:timedOut", this.#onTimedOut);
  }

  /** Whether wait times and cancellations are recorded: false where `diagnostics_channel` does not exist. */
  get recordsWaits(): boolean {
    return this.#diagnostics !== undefined;
  }

  /** The registered names. */
  get names(): string[] {
    return [...this.#byName.keys()];
  }

  /**
   * Starts reporting `limiter` under `name`.
   *
   * - `Semaphore`, `Lock`: in-use, queued, capacity, wait time, cancellations.
   * - `RateLimiter`: in-use and queued; wait time and cancellations when it has
   *   a `name` (its internal queue reports under that name).
   * - `Limiter`: both halves, as `kind` `concurrency` and `rate`.
   * - `KeyedSemaphore`: in-use, queued and capacity summed over its live keys.
   * - `AdaptiveSemaphore`: as a `Semaphore`, plus the limit gauge.
   * - An HTTP limiter (`limitFetch(...)`, `limitInterceptor(...)`): requests in
   *   flight and queued, the global capacity, and its adaptive limits (the
   *   global one, and one point per origin with `permits.http.origin`).
   *
   * @param name - Stable, low-cardinality name; the `permits.limiter.name` attribute.
   * @param attributes - Extra attributes for this limiter's points.
   * @returns this, to chain.
   * @throws TypeError when `name` is taken, empty, or `limiter` is not a permits limiter; Error after `close()`.
   */
  register(name: string, limiter: MeteredLimiter, attributes: Attributes = {}): this {
    if (this.#closed) throw new ClosedError("PermitsMetrics is closed");
    if (typeof name !== "string" || name === "") throw invalidArgument(`Expected \`name\` to be a non-empty string, got ${String(name)}`);
    if (this.#byName.has(name)) throw invalidArgument(`A limiter is already registered as "${name}"; unregister it first`);
    if (!isConcurrency(limiter) && !isCombined(limiter) && !isKeyed(limiter) && !isRate(limiter) && !isHttp(limiter)) {
      throw invalidArgument(
        "Expected `limiter` to be a permits limiter (Semaphore, Lock, RateLimiter, Limiter, KeyedSemaphore, AdaptiveSemaphore, or a limitFetch / limitInterceptor)",
      );
    }
    const registration: Registration = { name, limiter, attributes: { ...this.#attributes, ...attributes, [ATTR_LIMITER_NAME]: name } };
    this.#byName.set(name, registration);
    if (isCombined(limiter)) {
      this.#byObject.set(limiter.concurrency, { registration, kind: "concurrency" });
      this.#byObject.set(limiter.rate, { registration, kind: "rate" });
    } else {
      this.#byObject.set(limiter, { registration, kind: isRate(limiter) ? "rate" : "concurrency" });
    }
    return this;
  }

  /**
   * Stops reporting the limiter registered as `name`.
   * @returns whether one was registered.
   */
  unregister(name: string): boolean {
    const registration = this.#byName.get(name);
    if (registration === undefined) return false;
    this.#byName.delete(name);
    const { limiter } = registration;
    if (isCombined(limiter)) {
      this.#byObject.delete(limiter.concurrency);
      this.#byObject.delete(limiter.rate);
    } else {
      this.#byObject.delete(limiter);
    }
    return true;
  }

  /** Unregisters everything, detaches the gauges' callback and unsubscribes from the channels. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#meter.removeBatchObservableCallback(this.#collect, this.#observables);
    this.#diagnostics?.unsubscribe("permits:granted", this.#onGranted);
    this.#diagnostics?.unsubscribe("permits:aborted", this.#onAborted);
    this.#diagnostics?.unsubscribe("permits:timedOut", this.#onTimedOut);
    for (const name of [...this.#byName.keys()]) this.unregister(name);
  }

  /** Same as {@link PermitsMetrics.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #observe(result: BatchObservableResult): void {
    for (const { limiter, attributes } of this.#byName.values()) {
      if (isCombined(limiter)) {
        this.#observeConcurrency(result, limiter.concurrency, { ...attributes, [ATTR_LIMITER_KIND]: "concurrency" });
        this.#observeRate(result, limiter.rate, { ...attributes, [ATTR_LIMITER_KIND]: "rate" });
      } else if (isConcurrency(limiter)) {
        this.#observeConcurrency(result, limiter, { ...attributes, [ATTR_LIMITER_KIND]: "concurrency" });
      } else if (isHttp(limiter)) {
        this.#observeHttp(result, limiter, { ...attributes, [ATTR_LIMITER_KIND]: "concurrency" });
      } else if (isKeyed(limiter)) {
        let capacity = 0;
        let inUse = 0;
        let queued = 0;
        for (const key of limiter.keys()) {
          const stats = limiter.stats(key);
          if (stats === undefined) continue;
          capacity += stats.capacity;
          inUse += stats.inUse;
          queued += stats.queued;
        }
        this.#observeConcurrency(result, { capacity, inUse, queued }, { ...attributes, [ATTR_LIMITER_KIND]: "concurrency" });
      } else {
        this.#observeRate(result, limiter, { ...attributes, [ATTR_LIMITER_KIND]: "rate" });
      }
    }
  }

  #observeConcurrency(result: BatchObservableResult, source: ConcurrencySource, attributes: Attributes): void {
    result.observe(this.#inUse, source.inUse, attributes);
    result.observe(this.#queued, source.queued, attributes);
    result.observe(this.#capacity, source.capacity, attributes);
    if (typeof source.limit === "number") result.observe(this.#limit, source.limit, attributes);
  }

  #observeHttp(result: BatchObservableResult, source: HttpSource, attributes: Attributes): void {
    const stats = source.stats();
    result.observe(this.#inUse, stats.inFlight, attributes);
    result.observe(this.#queued, stats.queued, attributes);
    if (stats.global !== undefined) result.observe(this.#capacity, stats.global.capacity, attributes);
    if (stats.adaptive !== undefined) result.observe(this.#limit, stats.adaptive.limit, attributes);
    for (const [origin, entry] of Object.entries(stats.origins)) {
      if (entry.adaptive !== undefined) result.observe(this.#limit, entry.adaptive.limit, { ...attributes, [ATTR_HTTP_ORIGIN]: origin });
    }
  }

  #observeRate(result: BatchObservableResult, source: RateSource, attributes: Attributes): void {
    result.observe(this.#inUse, source.inUse, attributes);
    result.observe(this.#queued, source.queued, attributes);
  }

  /**
   * Which registration a channel message belongs to: the limiter itself (a
   * `RateLimiter` publishes its own events, and a `Limiter`'s halves are
   * registered by object), or, for a named `KeyedSemaphore`, whose per-key
   * semaphores are named `name:key`, the registered limiter of that name.
   */
  #find(message: unknown): { registration: Registration; kind: "concurrency" | "rate" } | undefined {
    if (!isObject(message)) return undefined;
    const { limiter } = message as ChannelMessage;
    if (!isObject(limiter)) return undefined;
    const direct = this.#byObject.get(limiter);
    if (direct !== undefined) return direct;
    const name = limiter.name;
    if (typeof name !== "string") return undefined;
    for (const registration of this.#byName.values()) {
      const own = (registration.limiter as { name?: unknown }).name;
      if (typeof own !== "string") continue;
      if (name.startsWith(`${own}:`) && isKeyed(registration.limiter)) return { registration, kind: "concurrency" };
    }
    return undefined;
  }

  #granted(message: unknown): void {
    const found = this.#find(message);
    if (found === undefined) return;
    const waitedMs = (message as ChannelMessage).waitedMs;
    if (typeof waitedMs !== "number" || !Number.isFinite(waitedMs)) return;
    this.#wait.record(Math.max(0, waitedMs) / 1000, { ...found.registration.attributes, [ATTR_LIMITER_KIND]: found.kind });
  }

  #cancelled(message: unknown, reason: "aborted" | "timeout"): void {
    const found = this.#find(message);
    if (found === undefined) return;
    this.#cancellations.add(1, {
      ...found.registration.attributes,
      [ATTR_LIMITER_KIND]: found.kind,
      [ATTR_CANCELLATION_REASON]: reason,
    });
  }
}

/**
 * Shorthand: a {@link PermitsMetrics} with every limiter of `limiters`
 * registered under its key.
 *
 * @example
 * ```ts
 * import { Semaphore, RateLimiter } from "permit-pool";
 * import { instrument } from "permit-pool/otel";
 *
 * const metrics = instrument({
 *   db: new Semaphore(10),
 *   "partner-api": new RateLimiter({ limit: 100, interval: 60_000, name: "partner-api" }),
 * });
 * ```
 */
export function instrument(limiters: Record<string, MeteredLimiter>, options?: PermitsMetricsOptions): PermitsMetrics {
  const bridge = new PermitsMetrics(options);
  for (const [name, limiter] of Object.entries(limiters)) bridge.register(name, limiter);
  return bridge;
}
