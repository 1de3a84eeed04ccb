/**
 * `limitInterceptor`: the same limits as `limitFetch` for undici dispatchers
 * (`Agent`, `Pool`, `Client`, and clients built on them), as an undici 7
 * interceptor for `dispatcher.compose(...)`.
 *
 * This module imports nothing from undici: it works on the dispatch function
 * and handlers undici passes it, so importing `permit-pool/http` in a browser
 * never pulls undici in.
 *
 * @module
 */

import { checkOptions, describe } from "../core/validate.js";
import { errorOutcome, statusOutcome } from "./adaptive.js";
import { type HttpLimitOptions, HttpLimits, type HttpLimitStats, type Lease, readOrder, type RequestOrder } from "./limits.js";
import { invalidArgument } from "../core/errors.js";

/** Options of {@link limitInterceptor}: the limits of `limitFetch`, without its retry and body options. */
export type LimitInterceptorOptions = HttpLimitOptions;

/** The part of undici's dispatch controller this module uses. */
interface Controller {
  abort(reason: Error): void;
}

/** The part of an undici 7 dispatch handler this module calls (the new handler API). */
interface Handler {
  onRequestStart?(controller: Controller, context: unknown): void;
  onRequestUpgrade?(controller: Controller, statusCode: number, headers: Record<string, unknown>, socket: unknown): void;
  onResponseStart?(
    controller: Controller,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void;
  onResponseData?(controller: Controller, chunk: unknown): void;
  onResponseEnd?(controller: Controller, trailers: unknown): void;
  onResponseError?(controller: Controller, error: Error): void;
}

interface DispatchOptions {
  origin?: string | URL | null | undefined;
  signal?: unknown;
  /** The request's priority at every gate (an integer, higher first). Not an undici option: read here only. */
  priority?: unknown;
  /** The request's tenant (fair share, see the limiter's `weights`). Read here only. */
  tenant?: unknown;
}

type AnyDispatch = (options: never, handler: never) => boolean;

/** An undici interceptor with `stats()` and `close()`. */
export interface LimitInterceptor {
  <D extends AnyDispatch>(dispatch: D): D;
  /** A snapshot: in flight, queued, pauses per origin, the global semaphore, the adaptive limits. */
  stats(): HttpLimitStats;
  /** Fails every waiting request, and every later one, with `reason` (or a `ClosedError`). */
  close(reason?: unknown): void;
}

const OPTION_KEYS: readonly string[] = [
  "concurrency",
  "perOrigin",
  "rate",
  "maxRetryAfter",
  "rateLimitHeaders",
  "aging",
  "weights",
];

/** A controller for errors reported before undici created one. */
const detached: Controller = {
  abort() {},
};

function isSignal(value: unknown): value is AbortSignal {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as AbortSignal).aborted === "boolean" &&
    typeof (value as AbortSignal).addEventListener === "function"
  );
}

function headerGetter(headers: Record<string, string | string[] | undefined>): { get(name: string): string | null } {
  return {
    get(name) {
      const value = headers[name];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(", ") : value;
    },
  };
}

/** Releases the lease when the response ends, fails or upgrades; pauses the origin on 429/503 Retry-After. */
class LeaseHandler implements Handler {
  readonly #handler: Handler;
  readonly #lease: Lease;
  readonly #limits: HttpLimits;
  readonly #origin: string;

  constructor(handler: Handler, lease: Lease, limits: HttpLimits, origin: string) {
    this.#handler = handler;
    this.#lease = lease;
    this.#limits = limits;
    this.#origin = origin;
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.#handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(controller: Controller, statusCode: number, headers: Record<string, unknown>, socket: unknown): void {
    // The connection now belongs to the caller; it is no longer a request in flight.
    this.#lease.release();
    this.#handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(
    controller: Controller,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    this.#limits.respond(this.#origin, statusCode, headerGetter(headers));
    // The adaptive sample ends at the headers; the slots are held until the response ends.
    this.#lease.settle(statusOutcome(statusCode));
    this.#handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Controller, chunk: unknown): void {
    this.#handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Controller, trailers: unknown): void {
    this.#lease.release();
    this.#handler.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Controller, error: Error): void {
    // Before the headers, a timeout or a reset is a drop; after them the sample is already taken.
    this.#lease.settle(errorOutcome(error));
    this.#lease.release();
    this.#handler.onResponseError?.(controller, error);
  }
}

function originOf(origin: DispatchOptions["origin"]): string {
  // A Client or Pool may dispatch without an origin (it has only one): one key for all.
  if (origin === undefined || origin === null || origin === "") return "null";
  try {
    return new URL(String(origin)).origin;
  } catch {
    throw invalidArgument(`Expected the dispatch \`origin\` to be a URL, got ${describe(origin)}`);
  }
}

/**
 * An undici 7 interceptor that applies `limitFetch`'s limits to every request
 * of a dispatcher: a global `concurrency`, a `perOrigin` limit, a per-origin
 * `rate`, and origin pauses from 429/503 `Retry-After` and rate-limit headers.
 * A request holds its slots until its response has been fully received (or
 * fails, or upgrades). Retrying is left to undici's own `interceptors.retry`:
 * compose the limit *first* (innermost), so every retry waits its turn and
 * honours the pause.
 *
 * **Fairness:** FIFO at every gate, as `limitFetch`.
 *
 * **Cancel safety:** a request whose dispatch options carry an `AbortSignal`
 * (undici's `request()`/`stream()` do) leaves the queue when it aborts, with
 * `signal.reason`. undici's `fetch` aborts through the controller instead,
 * which exists only once the request is dispatched: an aborted `fetch` leaves
 * the queue when its turn comes, and is then aborted before being sent.
 *
 * Node only in practice (undici), but this module imports nothing from undici
 * or Node: pass it to your own dispatcher.
 *
 * @throws TypeError | RangeError synchronously for a bad or unknown option.
 *
 * @example
 * ```ts
 * import { Agent, interceptors, request } from "undici";
 * import { limitInterceptor } from "permit-pool/http";
 *
 * const limited = limitInterceptor({ concurrency: 10, perOrigin: 3, rate: { limit: 100, interval: 60_000 } });
 * const dispatcher = new Agent().compose(limited, interceptors.retry({ maxRetries: 3 }));
 * const { statusCode, body } = await request("https://example.com/", { dispatcher });
 * await body.text();
 * console.log(statusCode, limited.stats().inFlight); // 200 0
 * ```
 */
export function limitInterceptor(options: LimitInterceptorOptions = {}): LimitInterceptor {
  checkOptions("options", options, OPTION_KEYS);
  const limits = new HttpLimits(options);
  const interceptor = ((dispatch: (options: DispatchOptions, handler: Handler) => boolean) =>
    (opts: DispatchOptions, handler: Handler): boolean => {
      let origin: string;
      let order: RequestOrder | undefined;
      try {
        origin = originOf(opts.origin);
        order = readOrder(opts);
      } catch (error) {
        handler.onResponseError?.(detached, error as Error);
        return true;
      }
      const signal = isSignal(opts.signal) ? opts.signal : undefined;
      limits.admit(origin, signal, order).then(
        (lease) => {
          const wrapped = new LeaseHandler(handler, lease, limits, origin);
          try {
            dispatch(opts, wrapped);
          } catch (error) {
            wrapped.onResponseError(detached, error instanceof Error ? error : new Error(String(error)));
          }
        },
        (error: unknown) => {
          handler.onResponseError?.(detached, error instanceof Error ? error : new Error(String(error)));
        },
      );
      return true;
    }) as unknown as LimitInterceptor;
  interceptor.stats = () => limits.stats();
  interceptor.close = (reason?: unknown) => limits.close(reason);
  return interceptor;
}
