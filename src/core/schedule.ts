/**
 * The order in which a semaphore serves its queued waiters when some of them
 * carry a `priority` or a `tenant` (or the semaphore has `aging`): the
 * queue's discipline. Plain FIFO needs none of this and does not pay for it:
 * a `Semaphore` makes its scheduler the first time a waiter asks for more
 * than FIFO.
 *
 * ## The order
 * 1. **Aging.** If the oldest waiter (by arrival) has waited `aging` ms, it is
 *    next, whatever the priorities: so a waiter is served before everyone who
 *    came after it once it has waited that long. The aged waiters are always
 *    a prefix of the arrival order, so the oldest is the only one to check.
 * 2. **Priority**, higher first.
 * 3. **Fair share** between tenants of one priority: start-time fair queuing
 *    (Goyal et al., 1996). Each priority level keeps a virtual time `v`; a
 *    waiter of tenant `t` gets the start tag `max(v, finish[t])` and moves
 *    `finish[t]` on by `weight / share(t)`; the level serves the smallest tag,
 *    and a grant sets `v` to the tag it served. A tenant that was away comes
 *    back at `v`: it neither lost its turn nor saved up credit. Tags grow
 *    within a tenant, so each tenant is FIFO.
 * 4. **Arrival**, to break ties.
 *
 * The next waiter in that order that does not fit blocks the rest (no heavy
 * waiter is starved by lighter ones); nothing is reserved, so one tenant
 * alone gets the whole capacity.
 *
 * ## Cost
 * One FIFO list per (priority, tenant) pair (`Queue`: tags grow within a
 * tenant, so its arrival order is its serving order) and a binary heap over
 * the non-empty lists, keyed by their heads: O(1) plus O(log q) to add, grant
 * or cancel, q the number of non-empty lists. One `Level` per priority with
 * waiters, one `Tenant` per tenant with waiters or permits (plus the last
 * 1,024 idle ones, for `stats()`).
 *
 * @module
 */

/** Per tenant, in `stats().tenants`. */
export interface TenantStats {
  /** Waiters of this tenant in the queue now. */
  queued: number;
  /** Units this tenant holds now, by weight. */
  inUse: number;
  /** Acquisitions granted to this tenant (since it was first seen, or came back after being forgotten). */
  granted: number;
  /**
   * How long its granted acquisitions waited, in milliseconds: the median and
   * the 99th percentile, from a histogram whose buckets are 19 % wide (the
   * figure is the bucket's middle: within ±9 %). `0` for waits under 1 ms.
   */
  wait: { p50: number; p99: number };
}

/** What the scheduler needs of a queued node (the `Semaphore`'s `Ranked` permit). */
export interface Entry {
  readonly weight: number;
  /** Start tag within its priority level. */
  tag: number;
  tenant: Tenant | undefined;
  /** Clock at arrival (ms). */
  since: number;
  /** The queue it waits in; null when not queued. */
  queue: Queue<Entry> | null;
  qnext: Entry | null;
  qprev: Entry | null;
}

/**
 * The waiters of one tenant (or of no tenant) at one priority, in arrival
 * order (which is also tag order): the heap orders queues by their heads.
 * (Not tagged internal: `Entry`, which the declarations keep, names it.)
 */
export class Queue<E extends Entry> {
  readonly priority: number;
  /** The tenant's finish tag at this level. */
  finish = 0;
  head: E | null = null;
  tail: E | null = null;
  /** Index in the heap; -1 while empty. */
  index = -1;
  constructor(priority: number) {
    this.priority = priority;
  }
}

const BUCKETS = 128;
const IDLE_KEPT = 1_024;

/** A tenant's share and counters, kept while it waits or holds permits. */
export class Tenant {
  readonly name: string;
  weight: number;
  queued = 0;
  inUse = 0;
  granted = 0;
  #hist: Uint32Array | undefined = undefined;

  constructor(name: string, weight: number) {
    this.name = name;
    this.weight = weight;
  }

  get active(): boolean {
    return this.queued > 0 || this.inUse > 0;
  }

  record(waitedMs: number): void {
    const i = waitedMs < 1 ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log2(waitedMs) * 4));
    (this.#hist ??= new Uint32Array(BUCKETS))[i]!++;
  }

  quantile(q: number): number {
    const hist = this.#hist;
    if (hist === undefined) return 0;
    let total = 0;
    for (const n of hist) total += n;
    const want = Math.max(1, Math.ceil(q * total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += hist[i]!;
      if (seen >= want) return i === 0 ? 0 : Math.round(2 ** ((i - 0.5) / 4) * 10) / 10;
    }
    return 0;
  }

  stats(): TenantStats {
    return {
      queued: this.queued,
      inUse: this.inUse,
      granted: this.granted,
      wait: { p50: this.quantile(0.5), p99: this.quantile(0.99) },
    };
  }
}

interface Level<E extends Entry> {
  /** Virtual time: the tag last served. */
  v: number;
  queued: number;
  /** Each tenant's queue and finish tag (`undefined`: the waiters without a tenant). */
  readonly queues: Map<Tenant | undefined, Queue<E>>;
}

/** Queue order: priority, then the head's tag, then the head's arrival. Both queues are non-empty. */
function before<E extends Entry>(a: Queue<E>, b: Queue<E>): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  const x = a.head!;
  const y = b.head!;
  if (x.tag !== y.tag) return x.tag < y.tag;
  return x.since < y.since;
}

/** @internal The discipline of one semaphore's queue. */
export class Scheduler<E extends Entry> {
  /** ms; `Infinity`: no aging. */
  readonly aging: number;
  readonly #weights: ((tenant: string) => number) | undefined;
  readonly #check: (weights: (tenant: string) => number, tenant: string) => number;
  readonly #heap: Queue<E>[] = [];
  readonly #levels = new Map<number, Level<E>>();
  readonly #tenants = new Map<string, Tenant>();
  #idle = 0;

  constructor(
    aging: number,
    weights: ((tenant: string) => number) | undefined,
    check: (weights: (tenant: string) => number, tenant: string) => number,
  ) {
    this.aging = aging;
    this.#weights = weights;
    this.#check = check;
  }

  /** Whether any waiter or permit ever named a tenant. */
  get hasTenants(): boolean {
    return this.#tenants.size > 0;
  }

  /**
   * The tenant named `name`, its share asked afresh if it is not active.
   * Throws (a bad `weights` answer) before anything changes.
   */
  tenant(name: string): Tenant {
    const known = this.#tenants.get(name);
    if (known?.active === true) return known;
    const weight = this.#weights === undefined ? 1 : this.#check(this.#weights, name);
    if (known !== undefined) {
      known.weight = weight;
      return known;
    }
    const tenant = new Tenant(name, weight);
    this.#tenants.set(name, tenant);
    this.#idle++;
    this.#forget();
    return tenant;
  }

  /** Queues `e` at `priority` for `tenant`; its fair-share cost is `cost` (default: its weight). */
  add(e: E, priority: number, tenant: Tenant | undefined, now: number, cost: number = e.weight): void {
    let level = this.#levels.get(priority);
    if (level === undefined) this.#levels.set(priority, (level = { v: 0, queued: 0, queues: new Map() }));
    let q = level.queues.get(tenant);
    if (q === undefined) level.queues.set(tenant, (q = new Queue<E>(priority)));
    const start = q.finish > level.v ? q.finish : level.v;
    q.finish = start + cost / (tenant === undefined ? 1 : tenant.weight);
    level.queued++;
    e.tag = start;
    e.tenant = tenant;
    e.since = now;
    e.queue = q;
    e.qnext = null;
    const tail = q.tail;
    e.qprev = tail;
    if (tail === null) {
      q.head = q.tail = e;
      const heap = this.#heap;
      q.index = heap.length;
      heap.push(q);
      this.#up(q.index);
    } else {
      tail.qnext = e;
      q.tail = e;
    }
    if (tenant !== undefined) this.#wake(tenant).queued++;
  }

  /**
   * The next waiter to serve: `oldest` (the head of the arrival order) if it
   * has waited `aging` ms, else the head of the best queue.
   */
  peek(oldest: E | null, now: number): E | undefined {
    if (oldest !== null && now - oldest.since >= this.aging) return oldest;
    return this.#heap[0]?.head ?? undefined;
  }

  /** Takes a queued `e` out: granted (the level's clock moves to its tag) or cancelled. */
  remove(e: E, granted: boolean, now: number): void {
    const q = e.queue as unknown as Queue<E> | null;
    if (q === null) return;
    e.queue = null;
    const prev = e.qprev as E | null;
    const next = e.qnext as E | null;
    e.qprev = e.qnext = null;
    if (next === null) q.tail = prev;
    else next.qprev = prev;
    if (prev !== null) prev.qnext = next;
    else {
      // It was the head: the queue's key changed (a later tag) or it is empty.
      q.head = next;
      if (next === null) this.#take(q.index);
      else this.#down(q.index);
    }
    const level = this.#levels.get(q.priority)!;
    if (granted && e.tag > level.v) level.v = e.tag;
    // A level nobody waits at forgets its tags: the next waiters start level.
    if (--level.queued === 0) this.#levels.delete(q.priority);
    const tenant = e.tenant;
    if (tenant === undefined) return;
    tenant.queued--;
    if (granted) {
      tenant.inUse += e.weight;
      tenant.granted++;
      tenant.record(now - e.since);
    } else this.#rest(tenant);
  }

  /** A tenant's acquisition granted at once (nobody queued). */
  grantedNow(tenant: Tenant, weight: number): void {
    this.#wake(tenant).inUse += weight;
    tenant.granted++;
    tenant.record(0);
  }

  /** A tenant's permit released. */
  released(tenant: Tenant, weight: number): void {
    tenant.inUse -= weight;
    this.#rest(tenant);
  }

  /** Every queued entry (a snapshot, in no particular order). */
  entries(): E[] {
    const all: E[] = [];
    for (const q of this.#heap) for (let e = q.head; e !== null; e = e.qnext as E | null) all.push(e);
    return all;
  }

  stats(): Record<string, TenantStats> {
    const out = Object.create(null) as Record<string, TenantStats>;
    for (const [name, tenant] of this.#tenants) out[name] = tenant.stats();
    return out;
  }

  /** About to become active: no longer counted idle. */
  #wake(tenant: Tenant): Tenant {
    if (!tenant.active) this.#idle--;
    return tenant;
  }

  /** Became idle: moved to the end (the most recently idle), the oldest idle forgotten past IDLE_KEPT. */
  #rest(tenant: Tenant): void {
    if (tenant.active) return;
    this.#tenants.delete(tenant.name);
    this.#tenants.set(tenant.name, tenant);
    this.#idle++;
    this.#forget();
  }

  #forget(): void {
    if (this.#idle <= IDLE_KEPT) return;
    for (const [name, tenant] of this.#tenants) {
      if (tenant.active) continue;
      this.#tenants.delete(name);
      if (--this.#idle <= IDLE_KEPT) return;
    }
  }

  /** Removes the queue at heap index `i`. */
  #take(i: number): void {
    const heap = this.#heap;
    const q = heap[i]!;
    q.index = -1;
    const last = heap.pop()!;
    if (last !== q) {
      heap[i] = last;
      last.index = i;
      this.#down(i);
      this.#up(last.index);
    }
  }

  #up(i: number): void {
    const heap = this.#heap;
    const q = heap[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (!before(q, parent)) break;
      heap[i] = parent;
      parent.index = i;
      i = p;
    }
    heap[i] = q;
    q.index = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const q = heap[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const right = c + 1;
      if (right < n && before(heap[right]!, heap[c]!)) c = right;
      const child = heap[c]!;
      if (!before(child, q)) break;
      heap[i] = child;
      child.index = i;
      i = c;
    }
    heap[i] = q;
    q.index = i;
  }
}
