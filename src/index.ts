/**
 * `permits`: limit how many operations touch a shared resource at once.
 *
 * The core has no dependencies and imports nothing from Node, so it runs in
 * Node, Deno, Bun and browsers.
 *
 * @example
 * ```ts
 * import { Semaphore } from "permit-pool";
 * const sem = new Semaphore(3);
 * const pages = await Promise.all([1, 2, 3, 4, 5].map((page) => sem.run(async () => page * 10)));
 * console.log(pages); // [10, 20, 30, 40, 50]
 * ```
 *
 * @packageDocumentation
 */

// Types only (Symbol.dispose, Disposable) for projects whose lib lacks esnext.disposable.
import "./core/disposable.js";
export {
  type AdaptiveAlgorithm,
  type AdaptivePhase,
  AdaptivePermit,
  type AdaptiveRunOptions,
  AdaptiveSemaphore,
  type AdaptiveSemaphoreOptions,
  type AdaptiveSemaphoreStats,
  type LimitCause,
  type LimitChange,
} from "./core/adaptive.js";
export { channels, type Channel } from "./core/diagnostics.js";
export { ClosedError, LeaseLostError, PermitsError } from "./core/errors.js";
export { KeyedSemaphore, type KeyedSemaphoreOptions } from "./core/keyed.js";
export { limit, limitFunction, type LimitFunction, type LimitOptions } from "./core/limit.js";
export { map, type MapContext, type MapOptions } from "./core/map.js";
export {
  type AcquireOptions,
  type LimiterCounters,
  Lock,
  Permit,
  Semaphore,
  type SemaphoreOptions,
  type SemaphoreStats,
} from "./core/semaphore.js";
export * from "./core/rate.js";
