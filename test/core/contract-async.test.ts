/**
 * The contract suite checked against itself: a deliberately slow, async-everywhere
 * stand-in for a remote backend (every call — acquire, tryAcquire, release, close,
 * stats — reaches the real Semaphore only a few milliseconds later, in call order,
 * like commands on one Redis connection). If the suite passes here, it does not
 * rely on synchronous accounting, so a failure on the Redis backend is the backend's.
 */
import { Semaphore } from "../../src/index.js";
import type { Permit } from "../../src/index.js";
import { semaphoreContract } from "../contract/semaphore-contract.js";
import type { AcquireOptionsLike, PermitLike, SemaphoreLike, StatsLike } from "../contract/semaphore-contract.js";

const LATENCY_MS = 2;

class SlowPermit implements PermitLike {
  constructor(
    private readonly remote: SlowSemaphore,
    private readonly inner: Permit,
  ) {}

  release(): Promise<void> {
    return this.remote.send(() => this.inner.release());
  }

  [Symbol.dispose](): void {
    void this.release(); // fire and forget, as a remote backend's synchronous dispose must
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

class SlowSemaphore implements SemaphoreLike {
  readonly #inner: Semaphore;
  #line: Promise<unknown> = Promise.resolve();

  constructor(capacity: number) {
    this.#inner = new Semaphore(capacity);
  }

  get capacity(): number {
    return this.#inner.capacity;
  }

  /** Runs `command` on the "server" after LATENCY_MS, after every command sent before it. */
  send<T>(command: () => T): Promise<Awaited<T>> {
    const result = this.#line.then(
      () =>
        new Promise<Awaited<T>>((resolve, reject) => {
          setTimeout(() => {
            try {
              resolve(command() as Awaited<T>);
            } catch (error) {
              reject(error);
            }
          }, LATENCY_MS);
        }),
    );
    this.#line = result.then(
      () => {},
      () => {},
    );
    return result;
  }

  async acquire(options?: AcquireOptionsLike): Promise<PermitLike> {
    // The server answers "queued" at once (boxed, so the line of commands does not wait
    // for the grant); the grant arrives later.
    const { granted } = await this.send(() => ({ granted: this.#inner.acquire(options) }));
    return new SlowPermit(this, await granted);
  }

  async tryAcquire(weight?: number): Promise<PermitLike | undefined> {
    const permit = await this.send(() => this.#inner.tryAcquire(weight));
    return permit === undefined ? undefined : new SlowPermit(this, permit);
  }

  async run<T>(fn: (permit: PermitLike) => T | PromiseLike<T>, options?: AcquireOptionsLike): Promise<T> {
    const permit = await this.acquire(options);
    try {
      return await fn(permit);
    } finally {
      await permit.release();
    }
  }

  close(reason?: unknown): Promise<void> {
    return this.send(() => (arguments.length === 0 ? this.#inner.close() : this.#inner.close(reason)));
  }

  async onIdle(): Promise<void> {
    const { idle } = await this.send(() => ({ idle: this.#inner.onIdle() }));
    await idle;
  }

  stats(): Promise<StatsLike> {
    return this.send(() => this.#inner.stats());
  }
}

semaphoreContract("a slow, async-everywhere stand-in for a remote backend", async (capacity) => {
  const sem = new SlowSemaphore(capacity);
  return {
    sem,
    async dispose() {
      await sem.close();
    },
  };
});
