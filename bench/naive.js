// The naive baselines of issue 3: the smallest correct thing a user could write by hand.
// Like the naive semaphore Go's benchmark keeps beside its real one, these exist so the
// report can say how much each library costs over "a linked queue and nothing else".
// None of them validates input, counts stats, or supports timeouts: that is the point.

const RESOLVED = Promise.resolve();

/** A FIFO counting semaphore: a singly linked queue that resolves one promise per release. */
export class NaiveSemaphore {
  constructor(capacity) {
    this.free = capacity;
    this.head = null;
    this.tail = null;
  }

  acquire() {
    // No barging: take a free permit only when nobody waits.
    if (this.free > 0 && this.head === null) {
      this.free--;
      return RESOLVED;
    }
    return new Promise((resolve) => {
      const node = { resolve, next: null };
      if (this.tail === null) this.head = node;
      else this.tail.next = node;
      this.tail = node;
    });
  }

  release() {
    const node = this.head;
    if (node === null) {
      this.free++;
      return;
    }
    // Hand the permit straight to the head waiter: `free` stays as it is.
    this.head = node.next;
    if (this.head === null) this.tail = null;
    node.resolve();
  }
}

/** A one-shot permit: the smallest object that makes a second release harmless. */
class NaivePermit {
  constructor(sem) {
    this.sem = sem;
  }

  release() {
    const sem = this.sem;
    if (sem !== null) {
      this.sem = null;
      sem.release();
    }
  }
}

/**
 * NaiveSemaphore, but each acquisition resolves to its own permit object, as
 * `permits` does (so `using` and an idempotent release work). It is the floor of
 * that shape: one allocation per acquisition, and the promise resolved with an
 * object, which makes V8 look up `then` on it.
 */
export class NaivePermitSemaphore extends NaiveSemaphore {
  acquire() {
    if (this.free > 0 && this.head === null) {
      this.free--;
      return Promise.resolve(new NaivePermit(this));
    }
    return super.acquire();
  }

  // NaiveSemaphore.release, resolving with a permit: written out rather than shared through
  // a hook, so that neither baseline pays a call the other does not make.
  release() {
    const node = this.head;
    if (node === null) {
      this.free++;
      return;
    }
    this.head = node.next;
    if (this.head === null) this.tail = null;
    node.resolve(new NaivePermit(this));
  }
}

/** The same queue with weights: the head waiter blocks those behind it until it fits. */
export class NaiveWeightedSemaphore {
  constructor(capacity) {
    this.free = capacity;
    this.head = null;
    this.tail = null;
  }

  acquire(weight) {
    if (this.head === null && weight <= this.free) {
      this.free -= weight;
      return RESOLVED;
    }
    return new Promise((resolve) => {
      const node = { resolve, weight, next: null };
      if (this.tail === null) this.head = node;
      else this.tail.next = node;
      this.tail = node;
    });
  }

  release(weight) {
    this.free += weight;
    let node = this.head;
    while (node !== null && node.weight <= this.free) {
      this.free -= node.weight;
      node.resolve();
      node = node.next;
    }
    this.head = node;
    if (node === null) this.tail = null;
  }
}

/**
 * The naive semaphore plus what cancellation minimally needs: a doubly linked queue and one
 * AbortSignal listener per signalled waiter, removed when the waiter is granted. This is the
 * "naive baseline plus an AbortSignal listener" that workload (d) compares against.
 */
export class NaiveAbortableSemaphore {
  constructor(capacity) {
    this.free = capacity;
    this.head = null;
    this.tail = null;
  }

  acquire(signal) {
    if (signal !== undefined && signal.aborted) return Promise.reject(signal.reason);
    if (this.free > 0 && this.head === null) {
      this.free--;
      return RESOLVED;
    }
    return new Promise((resolve, reject) => {
      const node = { resolve, reject, prev: this.tail, next: null, signal, onAbort: null };
      if (this.tail === null) this.head = node;
      else this.tail.next = node;
      this.tail = node;
      if (signal !== undefined) {
        node.onAbort = () => {
          this.unlink(node);
          node.reject(signal.reason);
        };
        signal.addEventListener("abort", node.onAbort, { once: true });
      }
    });
  }

  unlink(node) {
    if (node.prev === null) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = null;
  }

  release() {
    const node = this.head;
    if (node === null) {
      this.free++;
      return;
    }
    this.unlink(node);
    if (node.onAbort !== null) node.signal.removeEventListener("abort", node.onAbort);
    node.resolve();
  }
}

/** Per-key naive semaphores, dropped when a key goes idle so memory stays bounded by active keys. */
export class NaiveKeyed {
  constructor(capacity) {
    this.capacity = capacity;
    this.entries = new Map();
  }

  async run(key, fn) {
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { sem: new NaiveSemaphore(this.capacity), users: 0 };
      this.entries.set(key, entry);
    }
    entry.users++;
    await entry.sem.acquire();
    try {
      return await fn();
    } finally {
      entry.sem.release();
      if (--entry.users === 0) this.entries.delete(key);
    }
  }
}

/** A hand-written bounded map: `concurrency` workers pull from one iterator, results in order. */
export async function naiveMap(iterable, fn, concurrency) {
  const results = [];
  const it = iterable[Symbol.iterator]();
  let index = 0;
  async function worker() {
    for (;;) {
      const step = it.next();
      if (step.done === true) return;
      const i = index++;
      results[i] = await fn(step.value, i);
    }
  }
  const workers = [];
  for (let w = 0; w < concurrency; w++) workers.push(worker());
  await Promise.all(workers);
  return results;
}
