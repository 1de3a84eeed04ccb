/**
 * Errors specific to the Redis backend. Like every `permits` error they have a
 * `name`, a stable `code`, and `instanceof` that survives two installed copies.
 *
 * @module
 */

import { PermitsError } from "../core/errors.js";

/**
 * Redis could not be reached or did not answer in time (not connected,
 * connection refused or reset, or no reply within `commandTimeoutMs`), or
 * answered "not now": a full (`OOM`), read-only (`READONLY`: a replica, e.g.
 * after a failover), loading or busy server — what passes without changing
 * the command (docs/redis.md lists them). The message names the server, the
 * cause and what to change; the original error is `cause`.
 * Nothing hangs: `acquire` rejects with it, and works again once Redis is back.
 *
 * @example
 * ```ts
 * import { RedisUnavailableError } from "permit-pool/redis";
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
 * import { RedisCommandError } from "permit-pool/redis";
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
 * import { CapacityMismatchError } from "permit-pool/redis";
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

/**
 * Two processes disagree on an adaptive semaphore's settings (`adaptive`:
 * `min`, `max`, `backoff`, `minSamples`, `slowStart`), or one uses the name
 * with `adaptive` and another with a fixed capacity. The settings are
 * stored with the semaphore in Redis by the first user (the limit they
 * bound is shared by the fleet), so a process constructed otherwise gets
 * this error from `acquire` instead of moving the one limit by other rules.
 *
 * @example
 * ```ts
 * import { AdaptiveMismatchError } from "permit-pool/redis";
 * const error = new AdaptiveMismatchError("api", "aimd:1:64:0.75:10:1", "static capacity 8");
 * console.log(error.code); // "ERR_PERMITS_ADAPTIVE_MISMATCH"
 * ```
 */
export class AdaptiveMismatchError extends PermitsError {
  /** The code every `AdaptiveMismatchError` carries. */
  static readonly code = "ERR_PERMITS_ADAPTIVE_MISMATCH";
  declare readonly code: "ERR_PERMITS_ADAPTIVE_MISMATCH";
  /** What Redis holds: the adaptive settings (`aimd:<min>:<max>:<backoff>:<minSamples>:<slowStart>`), or `static capacity <n>`. */
  readonly stored: string;
  /** What this process was constructed with, in the same form. */
  readonly requested: string;

  constructor(name: string, stored: string, requested: string) {
    super(
      `Semaphore "${name}" is ${stored} in Redis, but this process was constructed with ${requested}: ` +
        "use the same `adaptive` settings (or the same fixed capacity) everywhere, or another name, or delete its keys to start over",
      AdaptiveMismatchError.code,
    );
    this.name = "AdaptiveMismatchError";
    this.stored = stored;
    this.requested = requested;
  }
}
