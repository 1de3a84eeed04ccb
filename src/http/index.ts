/**
 * `permit-pool/http`: concurrency, rate and `Retry-After` limits for HTTP clients.
 *
 * - {@link limitFetch} wraps any `fetch` (Node, Deno, Bun, browsers).
 * - {@link limitInterceptor} does the same for undici dispatchers
 *   (`dispatcher.compose(...)`). It imports nothing from undici, so this entry
 *   point stays free of Node-only code.
 *
 * @example
 * ```ts
 * import { limitFetch } from "permit-pool/http";
 * const limitedFetch = limitFetch({ concurrency: 3 });
 * const res = await limitedFetch("https://example.com/");
 * console.log(res.status, (await res.text()).length > 0);
 * ```
 *
 * @module
 */

export { type FetchFunction, type LimitedFetch, type LimitedRequestInit, limitFetch, type LimitFetchOptions, type LimitFetchStats } from "./fetch.js";
export type { HttpLimitOptions, HttpLimitStats, OriginStats, SharedRate, SharedRateStats } from "./limits.js";
export { type LimitInterceptor, limitInterceptor, type LimitInterceptorOptions } from "./undici.js";
export { parseRetryAfter } from "./headers.js";
export type { AdaptiveLimitStats } from "./adaptive.js";
