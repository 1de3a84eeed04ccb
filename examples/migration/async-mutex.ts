// Migrating from async-mutex: the `permits` side. docs/migration/async-mutex.md
// shows it next to the async-mutex original; test/platform/examples.test.ts runs it.
import { Lock, Semaphore } from "permit-pool";

const lock = new Lock(); // was: const mutex = new Mutex()
let balance = 0;

/** mutex.runExclusive(fn) → lock.run(fn). */
export async function deposit(amount: number): Promise<number> {
  return lock.run(async () => {
    const read = balance;
    await new Promise((resolve) => setTimeout(resolve, 1)); // a read-modify-write that must not interleave
    balance = read + amount;
    return balance;
  });
}

/** const release = await mutex.acquire() → a Permit; isLocked() → locked; withTimeout(mutex, ms) → { timeout }. */
export async function manual(): Promise<{ lockedInside: boolean; lockedAfter: boolean }> {
  const permit = await lock.acquire({ timeout: 100 }); // was: await withTimeout(mutex, 100).acquire()
  const lockedInside = lock.locked; // was: mutex.isLocked()
  permit.release(); // was: release()
  return { lockedInside, lockedAfter: lock.locked };
}

/** new Semaphore(4) with acquire(weight) → acquire({ weight }); a waiter that does not fit blocks those behind it. */
export async function weighted(): Promise<number> {
  const sem = new Semaphore(4);
  const big = await sem.acquire({ weight: 3 }); // was: const [, release] = await semaphore.acquire(3)
  const inUse = sem.inUse;
  big.release();
  return inUse;
}

/**
 * semaphore.waitForUnlock(weight) → take `weight` and give it straight back:
 * resolves once that much is free for you, in FIFO order behind earlier waiters
 * (lock.onIdle() waits for everything to be free, queue empty).
 */
export async function waitForUnlock(sem: Semaphore, weight = 1): Promise<void> {
  (await sem.acquire({ weight })).release();
}

/**
 * semaphore.setValue(n) sets how many units are free now; a Semaphore changes
 * its capacity instead (resize), and what is free follows by the difference.
 * getValue() → sem.available.
 */
export function setValue(sem: Semaphore, value: number): void {
  sem.resize(sem.capacity + (value - sem.available));
}

/**
 * mutex.cancel() rejects the waiters and the mutex stays usable; close() is
 * permanent. To cancel waiters and go on, give them a signal and abort it.
 */
export function cancellableLock(): { run<T>(fn: () => Promise<T>): Promise<T>; cancel(): void } {
  const lock = new Lock();
  let waiters = new AbortController();
  return {
    run: (fn) => lock.run(fn, { signal: waiters.signal }),
    cancel() {
      waiters.abort(new Error("cancelled")); // was: mutex.cancel() (rejects with E_CANCELED)
      waiters = new AbortController(); // later calls wait normally
    },
  };
}
