/**
 * Error classes of `permits`.
 *
 * Every error has a `name` and a stable `code`. `instanceof` is answered by a
 * brand registered with `Symbol.for`, so it holds when two copies of the
 * package are installed side by side (as undici does).
 *
 * Cancellation is not reported with these classes: an aborted `signal` rejects
 * with `signal.reason` (the platform's `AbortError` `DOMException` by default)
 * and an elapsed `timeout` with a `DOMException` named `"TimeoutError"`, so
 * code that already handles `fetch` cancellation handles ours too.
 *
 * @module
 */

const kBrand: unique symbol = Symbol.for("permits.error") as never;

/**
 * Base class of every error `permits` creates. Match on `code`, which is
 * stable across versions, rather than on the message.
 *
 * @example
 * ```ts
 * import { PermitsError, Semaphore } from "permit-pool";
 * const sem = new Semaphore(1);
 * sem.close();
 * try {
 *   await sem.acquire();
 * } catch (error) {
 *   if (error instanceof PermitsError) console.log(error.code); // "ERR_PERMITS_CLOSED"
 * }
 * ```
 */
export class PermitsError extends Error {
  /** Stable machine-readable code, such as `"ERR_PERMITS_CLOSED"`. */
  readonly code: string;

  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "PermitsError";
    Object.defineProperty(this, kBrand, { value: code });
  }

  /**
   * `instanceof` by brand: true for a permits error of this class's code from
   * any copy of the package (the base class matches all of them).
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== "object" || value === null) return false;
    const brand = (value as { [kBrand]?: unknown })[kBrand];
    if (typeof brand !== "string") return false;
    const code = (this as { readonly code?: string }).code;
    return code === undefined || code === brand;
  }
}

/**
 * The semaphore (or limiter) was closed with `close()` and no reason: waiters
 * that were queued and every later `acquire` reject with it.
 *
 * @example
 * ```ts
 * import { ClosedError, Semaphore } from "permit-pool";
 * const sem = new Semaphore(1);
 * const held = await sem.acquire();
 * const waiting = sem.acquire();
 * sem.close();
 * await waiting.catch((error) => console.log(error instanceof ClosedError)); // true
 * held.release(); // held permits still release normally
 * ```
 */
export class ClosedError extends PermitsError {
  /** The code every `ClosedError` carries. */
  static readonly code = "ERR_PERMITS_CLOSED";
  declare readonly code: "ERR_PERMITS_CLOSED";

  constructor(message = "The semaphore is closed", options?: { cause?: unknown }) {
    super(message, ClosedError.code, options);
    this.name = "ClosedError";
  }
}

/**
 * A distributed permit's lease was lost (its holder stalled past the lease, or
 * the server forgot it): the permit no longer protects anything. `permit.signal`
 * aborts with this error.
 *
 * @example
 * ```ts
 * import { LeaseLostError } from "permit-pool";
 * const error = new LeaseLostError("lease of permit 7 expired");
 * console.log(error.code); // "ERR_PERMITS_LEASE_LOST"
 * ```
 */
export class LeaseLostError extends PermitsError {
  /** The code every `LeaseLostError` carries. */
  static readonly code = "ERR_PERMITS_LEASE_LOST";
  declare readonly code: "ERR_PERMITS_LEASE_LOST";

  constructor(message = "The permit's lease was lost", options?: { cause?: unknown }) {
    super(message, LeaseLostError.code, options);
    this.name = "LeaseLostError";
  }
}

/** What `Error.captureStackTrace` is where the engine has it (V8, JavaScriptCore). */
type CaptureStackTrace = (target: object, constructorOpt: (...args: never[]) => unknown) => void;
const captureStackTrace = (Error as { captureStackTrace?: CaptureStackTrace }).captureStackTrace;

/**
 * Creates the `TypeError` for bad input — a value of the wrong type, an
 * unknown option — with `code` `"ERR_PERMITS_INVALID_ARGUMENT"` (as Node gives
 * its own argument errors a `code`). It stays a plain `TypeError`: `name`,
 * `instanceof TypeError` and the message are what they would be without it.
 */
export function invalidArgument(message: string): TypeError & { code: "ERR_PERMITS_INVALID_ARGUMENT" } {
  const error = new TypeError(message) as TypeError & { code: "ERR_PERMITS_INVALID_ARGUMENT" };
  error.code = "ERR_PERMITS_INVALID_ARGUMENT";
  captureStackTrace?.(error, invalidArgument); // the stack starts at the caller's check, not here
  return error;
}

/**
 * Creates the `RangeError` for a number outside what is allowed (a capacity
 * of 0, a weight above the capacity, a negative timeout) with `code`
 * `"ERR_PERMITS_OUT_OF_RANGE"`. It stays a plain `RangeError`.
 */
export function outOfRange(message: string): RangeError & { code: "ERR_PERMITS_OUT_OF_RANGE" } {
  const error = new RangeError(message) as RangeError & { code: "ERR_PERMITS_OUT_OF_RANGE" };
  error.code = "ERR_PERMITS_OUT_OF_RANGE";
  captureStackTrace?.(error, outOfRange);
  return error;
}

/** Creates the `DOMException` named `"TimeoutError"` that an elapsed `timeout` rejects with. */
export function timeoutError(ms: number, what: string): Error {
  return new DOMException(`Timed out after ${ms} ms waiting for ${what}`, "TimeoutError");
}

/** Creates the `DOMException` named `"AbortError"` used where no signal reason exists. */
export function abortError(message: string): Error {
  return new DOMException(message, "AbortError");
}
