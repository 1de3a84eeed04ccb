// Migrating from async-mutex: the `permits` side. docs/migration/async-mutex.md
// shows it next to the async-mutex original; test/platform/examples.test.ts runs it.
import { Lock, Semaphore } from "permits";

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
