/**
 * The pub/sub hub of `permit-pool/redis`: one subscriber connection per
 * client per process, shared by every semaphore on that client. It routes
 * each wake-up to the waiter it names and each limit change to the
 * semaphores that listen, and tells them when the connection came back.
 * It knows them only through {@link HubMember} (callbacks), so it imports
 * nothing of the semaphore. Internal to the package (not exported).
 * @module
 */
import type { PubSub, RedisAdapter } from "./client.js";
import { readLimitMessage, readWake, type LimitReport } from "./scripts.js";

/** How long an unused subscription (and then the subscriber connection) is kept. */
const LINGER_MS = 500;
/** First and longest pause before a failed subscription (still wanted) is tried again. */
const RESUBSCRIBE_MIN_MS = 250;
const RESUBSCRIBE_MAX_MS = 5_000;

/** What the hub calls back on a semaphore. */
export interface HubMember<W> {
  /** Ask Redis soon where every permit and waiter stands (a reconnect: wake-ups may be lost, leases may be gone). */
  _tickSoon(): void;
  /** The semaphore's shared limit changed (adaptive semaphores only). */
  _limit(report: LimitReport): void;
  /** `waiter` was granted, with fencing token `token`. */
  _granted(waiter: W, token: number): void;
}

/** What the hub needs of a waiter: the semaphore to tell of its grant. */
export interface HubWaiter<W> {
  readonly sem: HubMember<W>;
}

/** One channel's subscription: who wants it, whether it is confirmed, and since when (`epoch`). */
interface ChannelEntry {
  refs: number;
  ready: Promise<void> | undefined;
  live: boolean;
  epoch: number;
  idleSince: number;
  /** Consecutive failed attempts (for the retry's backoff). */
  failures: number;
  retry: ReturnType<typeof setTimeout> | undefined;
}

/**
 * One subscriber connection per client per process, shared by every
 * semaphore on that client: it routes each wake-up to the waiter it names.
 */
export class Hub<W extends HubWaiter<W>> {
  readonly #adapter: RedisAdapter;
  #pubsub: PubSub | undefined;
  readonly #channels = new Map<string, ChannelEntry>();
  #epochs = 0;
  readonly waiters: Map<string, W> = new Map();
  /** Adaptive semaphores by channel: they hear every change of their limit. */
  readonly #listeners = new Map<string, Set<HubMember<W>>>();
  readonly #semaphores = new Set<HubMember<W>>();
  /** Semaphores of this client that hold permits or have waiters. */
  readonly active: Set<HubMember<W>> = new Set();
  /**
   * Whether the client's connection ever came back after a loss: then the
   * server may have restarted (or failed over) under us, and holders of a
   * state it lost may still believe in their leases.
   */
  #reconnected = false;
  #readies = 0;

  /**
   * Whether the client's connection was lost since it was first up: it came
   * back (a "ready" after the first), or it is down right now. The second
   * matters because ioredis sends the commands it queued while offline
   * before it emits "ready": an acquire built during an outage reaches a
   * restarted server first.
   */
  get reconnected(): boolean {
    return this.#reconnected || (this.#readies > 0 && !this.#adapter.ready);
  }
  #linger: ReturnType<typeof setTimeout> | undefined;

  constructor(adapter: RedisAdapter) {
    this.#adapter = adapter;
    // Connected already: the next "ready" is a reconnect.
    if (adapter.ready) this.#readies = 1;
    // The client's own connection came (back): Redis may have restarted or
    // failed over while we were away, so every semaphore holding permits
    // asks at once whether its leases are still there, instead of at its
    // next heartbeat.
    adapter.onReady(() => {
      if (++this.#readies > 1) this.#reconnected = true;
      for (const sem of this.active) sem._tickSoon();
    });
    // The user closed their client: close our subscriber now rather than
    // after the linger, so the process can exit at once.
    adapter.onEnd(() => {
      if (this.#linger !== undefined) clearTimeout(this.#linger);
      this.#linger = undefined;
      for (const entry of this.#channels.values()) if (entry.retry !== undefined) clearTimeout(entry.retry);
      this.#channels.clear();
      this.#pubsub?.close();
      this.#pubsub = undefined;
    });
  }

  #connection(): PubSub {
    this.#pubsub ??= this.#adapter.subscriber(
      (channel, message) => this.#dispatch(channel, message),
      (failed) => {
        // (Re)connected: wake-ups sent while we were away are lost, so every
        // semaphore with waiters asks Redis where they stand, and requests
        // on the wire right now will ask once their reply is in.
        for (const channel of failed) {
          const entry = this.#channels.get(channel);
          if (entry !== undefined) {
            entry.live = false;
            entry.ready = undefined;
          }
        }
        for (const [channel, entry] of this.#channels) {
          entry.epoch = ++this.#epochs;
          // Still wanted but not subscribed (its resubscription or an earlier
          // attempt failed): subscribe again now, not with the next waiter.
          if (entry.refs > 0 && entry.ready === undefined) this.#subscribe(channel, entry);
        }
        for (const sem of this.#semaphores) sem._tickSoon();
      },
    );
    return this.#pubsub;
  }

  #dispatch(channel: string, message: string): void {
    const limit = readLimitMessage(message);
    if (limit !== undefined) {
      const listeners = this.#listeners.get(channel);
      if (listeners !== undefined) for (const sem of listeners) sem._limit(limit);
      return;
    }
    readWake(message, (id, token) => {
      const waiter = this.waiters.get(id);
      if (waiter !== undefined) waiter.sem._granted(waiter, token);
    });
  }

  /** An adaptive semaphore hears its limit's changes from now until `unlisten` (its `close()`). */
  listen(sem: HubMember<W>, channel: string): void {
    let set = this.#listeners.get(channel);
    if (set === undefined) this.#listeners.set(channel, (set = new Set()));
    set.add(sem);
    this.hold(sem, channel);
  }

  unlisten(sem: HubMember<W>, channel: string): void {
    const set = this.#listeners.get(channel);
    if (set === undefined || !set.delete(sem)) return;
    if (set.size === 0) this.#listeners.delete(channel);
    this.unhold(sem, channel);
  }

  /** Takes a reference on `channel`; says whether it is subscribed already. */
  hold(sem: HubMember<W>, channel: string): boolean {
    this.#semaphores.add(sem);
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      entry = { refs: 0, ready: undefined, live: false, epoch: ++this.#epochs, idleSince: 0, failures: 0, retry: undefined };
      this.#channels.set(channel, entry);
    }
    entry.refs++;
    if (entry.ready === undefined) this.#subscribe(channel, entry);
    return entry.live;
  }

  #subscribe(channel: string, entry: ChannelEntry): void {
    if (entry.retry !== undefined) clearTimeout(entry.retry);
    entry.retry = undefined;
    entry.ready = this.#connection()
      .subscribe(channel)
      .then(
        () => {
          entry.live = true;
          entry.failures = 0;
        },
        () => {
          // Without the subscription wake-ups are only heard at heartbeats:
          // try again soon (backing off) while someone still waits on it,
          // and at once when the subscriber connection is back.
          entry.live = false;
          entry.ready = undefined;
          entry.epoch = ++this.#epochs;
          if (entry.refs <= 0 || this.#channels.get(channel) !== entry) return;
          const pause = Math.min(RESUBSCRIBE_MAX_MS, RESUBSCRIBE_MIN_MS * 2 ** entry.failures++);
          entry.retry = setTimeout(() => {
            entry.retry = undefined;
            if (entry.refs > 0 && entry.ready === undefined && this.#channels.get(channel) === entry) {
              this.#subscribe(channel, entry);
            }
          }, pause);
          entry.retry.unref?.();
        },
      );
  }

  /**
   * An id of the current, confirmed subscription to `channel` (-1 if none):
   * the same id before and after a request proves no wake-up could be missed
   * in between.
   */
  epoch(channel: string): number {
    const entry = this.#channels.get(channel);
    return entry?.live === true ? entry.epoch : -1;
  }

  /** Resolves once `channel` is subscribed (or the attempt failed). */
  ready(channel: string): Promise<void> {
    return this.#channels.get(channel)?.ready ?? Promise.resolve();
  }

  unhold(sem: HubMember<W>, channel: string): void {
    this.#semaphores.delete(sem);
    const entry = this.#channels.get(channel);
    if (entry === undefined) return;
    entry.refs--;
    if (entry.refs <= 0) {
      entry.idleSince = performance.now();
      this.#sweepIn(LINGER_MS);
    }
  }

  #sweepIn(ms: number): void {
    if (this.#linger !== undefined) return;
    this.#linger = setTimeout(() => this.#sweep(), ms);
    this.#linger.unref?.();
  }

  /**
   * Drops subscriptions unused for LINGER_MS, and the connection with the
   * last one: a busy semaphore whose waiters come and go keeps its
   * subscription, an idle process keeps no connection open.
   */
  #sweep(): void {
    this.#linger = undefined;
    const now = performance.now();
    let next = Infinity;
    for (const [channel, entry] of this.#channels) {
      if (entry.refs > 0) continue;
      const idleFor = now - entry.idleSince;
      if (idleFor < LINGER_MS) {
        next = Math.min(next, LINGER_MS - idleFor);
        continue;
      }
      this.#channels.delete(channel);
      if (entry.retry !== undefined) clearTimeout(entry.retry);
      if (entry.live) this.#pubsub?.unsubscribe(channel).catch(() => {});
    }
    if (next !== Infinity) this.#sweepIn(next + 1);
    if (this.#channels.size === 0 && this.#pubsub !== undefined) {
      this.#pubsub.close();
      this.#pubsub = undefined;
    }
  }
}

const hubs = new WeakMap<RedisAdapter, Hub<never>>();

/** The one hub of a client (made on first use). Every semaphore of a client uses the same waiter type `W`. */
export function hubOf<W extends HubWaiter<W>>(adapter: RedisAdapter): Hub<W> {
  let hub = hubs.get(adapter) as Hub<W> | undefined;
  if (hub === undefined) {
    hub = new Hub<W>(adapter);
    hubs.set(adapter, hub as unknown as Hub<never>);
  }
  return hub;
}
