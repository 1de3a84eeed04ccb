/**
 * Errors specific to the Redis backend. Like every `permits` error they have a
 * `name`, a stable `code`, and `instanceof` that survives two installed copies.
 *
 * @module
 */

import { PermitsError } from "../core/errors.js";

/**
 * Redis could not be reached or did not answer in time (not connected,
 * connection refused or reset, or no reply within `commandTimeoutMs`). The
 * message names the server and the cause; the original error is `cause`.
 * Nothing hangs: `acquire` rejects with it, and works again once Redis is back.
 *
 * @example
 * ```ts
 * import { RedisUnavailableError } from "permits/redis";
 * const error = new RedisUnavailableError("Redis at 127.0.0.1:6379 is unavailable: connection refused");
 * console.log(error.code); // "ERR_PERMITS_REDIS_UNAVAILABLE"
 * ```
 */
export class RedisUnavailableError extends PermitsError {
  /** The code every `RedisUnavailableError` carries. */
  static readonly code = "ERR_PERMITS_REDIS_UNAVAILABLE";
  declare readonly code: "ERR_PERMITS_REDIS_UNAVAILABLE";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, RedisUnavailableError.code, options);
    this.name = "RedisUnavailableError";
  }
}

/**
 * Redis answered with an error we did not expect (a key of the wrong type, a
 * script the server refused, ...). The server's reply is `cause`.
 *
 * @example
 * ```ts
 * import { RedisCommandError } from "permits/redis";
 * const error = new RedisCommandError("WRONGTYPE ...");
 * console.log(error.code); // "ERR_PERMITS_REDIS_COMMAND"
 * ```
 */
export class RedisCommandError extends PermitsError {
  /** The code every `RedisCommandError` carries. */
  static readonly code = "ERR_PERMITS_REDIS_COMMAND";
  declare readonly code: "ERR_PERMITS_REDIS_COMMAND";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, RedisCommandError.code, options);
    this.name = "RedisCommandError";
  }
}

/**
 * Two processes disagree on a semaphore's capacity: the capacity is stored
 * with the semaphore in Redis by the first user, and a process constructed
 * with another one gets this error from `acquire` instead of silently
 * enforcing a different limit.
 *
 * @example
 * ```ts
 * import { CapacityMismatchError } from "permits/redis";
 * const error = new CapacityMismatchError("api", 3, 5);
 * console.log(error.stored, error.requested); // 3 5
 * ```
 */
export class CapacityMismatchError extends PermitsError {
  /** The code every `CapacityMismatchError` carries. */
  static readonly code = "ERR_PERMITS_CAPACITY_MISMATCH";
  declare readonly code: "ERR_PERMITS_CAPACITY_MISMATCH";
  /** The capacity stored in Redis. */
  readonly stored: number;
  /** The capacity this process was constructed with. */
  readonly requested: number;

  constructor(name: string, stored: number, requested: number) {
    super(
      `Semaphore "${name}" has capacity ${stored} in Redis, but this process was constructed with ${requested}: ` +
        `use the same \`capacity\` everywhere, or another name, or delete its keys to start over`,
      CapacityMismatchError.code,
    );
    this.name = "CapacityMismatchError";
    this.stored = stored;
    this.requested = requested;
  }
}
