/**
 * `KeyedSemaphore`: one {@link Semaphore} per key (per host, per tenant, per
 * API key), created on first use and dropped when idle.
 *
 * @module
 */

import { type AcquireOptions, type Permit, Semaphore, type SemaphoreStats } from "./semaphore.js";
import { checkAging, checkFunction, checkInteger, checkOptions, describe } from "./validate.js";
import { invalidArgument } from "./errors.js";

/** Options of the `KeyedSemaphore` constructor. */
export interface KeyedSemaphoreOptions {
  /** A name for diagnostics; each key's semaphore is named `${name}:${key}`. */
  name?: string | undefined;
  /** Each key's `aging` (see `SemaphoreOptions.aging`): priorities and tenants are scheduled per key. */
  aging?: number | undefined;
  /** Each key's tenant `weights` (see `SemaphoreOptions.weights`). */
  weights?: ((tenant: string) => number) | undefined;
}

const KEYED_KEYS: readonly string[] = ["name", "aging", "weights"];

/**
 * A semaphore per key. Each key has its own capacity and its own FIFO queue;
 * keys do not wait for each other. A key's semaphore exists only while
 * something is held or queued under it, so memory stays bounded by the active
 * keys, not by every key ever seen.
 *
 * @example
 * ```ts
 * import { KeyedSemaphore } from "permit-pool";
 * const perHost = new KeyedSemaphore(2); // at most 2 at once per host
 * const hosts = ["a.test", "a.test", "b.test"];
 * await Promise.all(hosts.map((host) => perHost.run(host, async () => host)));
 * console.log(perHost.size); // 0: idle keys are dropped
 * ```
 */
export class KeyedSemaphore<K = string> {
  readonly #capacity: number | ((key: K) => number);
  readonly #name: string | undefined;
  readonly #semaphores = new Map<K, Semaphore>();
  #closed = false;
  #closeReason: unknown = undefined;
  #idle: (() => void)[] | undefined = undefined;
  #aging: number | undefined = undefined;
  #weights: ((tenant: string) => number) | undefined = undefined;

  /**
   * @param capacity - The capacity of every key (an integer ≥ 1), or a
   *   function from the key to its capacity, called when the key's semaphore
   *   is created.
   * @throws TypeError | RangeError for a bad capacity or an unknown option.
   */
  constructor(capacity: number | ((key: K) => number), options?: KeyedSemaphoreOptions) {
    if (typeof capacity === "function") this.#capacity = capacity;
    else this.#capacity = checkInteger("capacity", capacity);
    if (options !== undefined) {
      checkOptions("options", options, KEYED_KEYS);
      if (options.name !== undefined && typeof options.name !== "string") {
        throw invalidArgument(`Expected \`name\` to be a string, got ${describe(options.name)}`);
      }
    }
    this.#name = options?.name;
    if (options?.aging !== undefined) this.#aging = checkAging(options.aging);
    if (options?.weights !== undefined) {
      checkFunction("weights", options.weights);
      this.#weights = options.weights;
    }
  }

  /** How many keys are live (holding or queueing) now. */
  get size(): number {
    return this.#semaphores.size;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The live keys. */
  keys(): IterableIterator<K> {
    return this.#semaphores.keys();
  }

  /**
   * Waits for `weight` permits of `key`'s semaphore.
   *
   * **Fairness:** FIFO per key; keys are independent.
   *
   * **Cancel safety:** as `Semaphore.acquire`: aborting loses the place in
   * that key's queue and nothing else.
   *
   * @example
   * ```ts
   * import { KeyedSemaphore } from "permit-pool";
   * const perTenant = new KeyedSemaphore(1);
   * const permit = await perTenant.acquire("tenant-1", { timeout: 1_000 });
   * permit.release();
   * ```
   */
  acquire(key: K, options?: AcquireOptions): Promise<Permit> {
    const sem = this.#get(key);
    try {
      return sem.acquire(options);
    } finally {
      this.#dropIfIdle(key, sem);
    }
  }

  /**
   * Takes permits of `key` only if free now and nobody waits under that key.
   *
   * @example
   * ```ts
   * import { KeyedSemaphore } from "permit-pool";
   * const perKey = new KeyedSemaphore(1);
   * const permit = perKey.tryAcquire("k");
   * console.log(perKey.tryAcquire("k")); // undefined
   * permit?.release();
   * ```
   */
  tryAcquire(key: K, weight?: number): Permit | undefined {
    const sem = this.#get(key);
    try {
      return sem.tryAcquire(weight);
    } finally {
      this.#dropIfIdle(key, sem);
    }
  }

  /**
   * Runs `fn` holding permits of `key`; releases however it ends.
   *
   * **Fairness** and **Cancel safety:** as `Semaphore.run`, per key.
   *
   * @example
   * ```ts
   * import { KeyedSemaphore } from "permit-pool";
   * const perHost = new KeyedSemaphore((host: string) => (host === "slow.test" ? 1 : 4));
   * console.log(await perHost.run("slow.test", async () => "ok")); // "ok"
   * ```
   */
  run<T>(key: K, fn: (permit: Permit) => T | PromiseLike<T>, options?: AcquireOptions): Promise<Awaited<T>> {
    checkFunction("fn", fn);
    const sem = this.#get(key);
    try {
      return sem.run(fn, options);
    } finally {
      this.#dropIfIdle(key, sem);
    }
  }

  /**
   * A snapshot of `key`'s semaphore, or `undefined` when the key is idle.
   *
   * @example
   * ```ts
   * import { KeyedSemaphore } from "permit-pool";
   * const perKey = new KeyedSemaphore(3);
   * const permit = await perKey.acquire("k");
   * console.log(perKey.stats("k")?.inUse); // 1
   * permit.release();
   * ```
   */
  stats(key: K): SemaphoreStats | undefined {
    return this.#semaphores.get(key)?.stats();
  }

  /**
   * Closes every key: queued waiters and later acquires reject with `reason`
   * (a `ClosedError` by default); held permits still release. Idempotent.
   *
   * @example
   * ```ts
   * import { KeyedSemaphore } from "permit-pool";
   * const perKey = new KeyedSemaphore(1);
   * perKey.close();
   * await perKey.acquire("k").catch((error) => console.log(error.name)); // "ClosedError"
   * ```
   */
  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    for (const sem of this.#semaphores.values()) sem.close(reason);
  }

  /**
   * Resolves when no key holds or queues anything.
   *
   * @example
   * ```ts
   * import { KeyedSemaphore } from "permit-pool";
   * const perKey = new KeyedSemaphore(1);
   * void perKey.run("k", async () => {});
   * await perKey.onIdle();
   * ```
   */
  onIdle(): Promise<void> {
    if (this.#semaphores.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#idle ??= []).push(resolve));
  }

  #get(key: K): Semaphore {
    let sem = this.#semaphores.get(key);
    if (sem !== undefined) return sem;
    const capacity =
      typeof this.#capacity === "number"
        ? this.#capacity
        : checkInteger(`capacity(${String(key)})`, this.#capacity(key));
    sem = new Semaphore(
      capacity,
      this.#name === undefined && this.#aging === undefined && this.#weights === undefined
        ? undefined
        : {
            ...(this.#name === undefined ? {} : { name: `${this.#name}:${String(key)}` }),
            ...(this.#aging === undefined ? {} : { aging: this.#aging }),
            ...(this.#weights === undefined ? {} : { weights: this.#weights }),
          },
    );
    if (this.#closed) sem.close(this.#closeReason);
    const created = sem;
    created._onIdle = () => this.#dropIfIdle(key, created);
    this.#semaphores.set(key, sem);
    return sem;
  }

  #dropIfIdle(key: K, sem: Semaphore): void {
    if (sem.inUse !== 0 || sem.queued !== 0 || this.#semaphores.get(key) !== sem) return;
    this.#semaphores.delete(key);
    if (this.#semaphores.size === 0 && this.#idle !== undefined) {
      const idle = this.#idle;
      this.#idle = undefined;
      for (const resolve of idle) resolve();
    }
  }
}
