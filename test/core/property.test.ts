/**
 * Property-based tests of the Semaphore (fast-check).
 *
 * 1. Model-based: random sequences of acquire (random weights, some with a signal
 *    and/or a timeout), tryAcquire, release, double release, abort, elapsed time,
 *    resize and close run against the real Semaphore and a ten-line reference model.
 *    After every step: the same in use / queued / capacity, the same grant order
 *    (FIFO), every waiter in the state the model says. At the end: everything
 *    settled exactly once, nothing in use or queued, no timer or listener left.
 * 2. Same-tick batches: releases and aborts land in the same synchronous tick in
 *    arbitrary orders; the permit is never lost or doubled.
 * 3. fc.scheduler(): releases and aborts raced in every order the scheduler picks.
 *
 * numRuns are modest so the file runs in a few seconds on two cores.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ClosedError, Semaphore } from "../../src/index.js";
import type { Permit } from "../../src/index.js";
import { abortListeners, flush, track, useFakeClock } from "./helpers.js";
import type { Tracked } from "./helpers.js";

afterEach(() => {
  vi.useRealTimers();
});

// ---------------------------------------------------------------------------
// 1. Model-based
// ---------------------------------------------------------------------------

type Op =
  | { readonly t: "acquire"; readonly weightSeed: number; readonly roll: number; readonly abortable: boolean; readonly timeout: number | null }
  | { readonly t: "try"; readonly weightSeed: number }
  | { readonly t: "release"; readonly pick: number }
  | { readonly t: "releaseAgain"; readonly pick: number }
  | { readonly t: "abort"; readonly pick: number }
  | { readonly t: "advance"; readonly ms: number }
  | { readonly t: "resize"; readonly capacity: number };

const MAX_CAPACITY = 5;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant("acquire" as const),
      weightSeed: fc.nat(),
      roll: fc.integer({ min: 0, max: 9 }), // 0: a weight above the capacity (a RangeError)
      abortable: fc.boolean(),
      timeout: fc.option(fc.integer({ min: 1, max: 30 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("try" as const), weightSeed: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("release" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("releaseAgain" as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("abort" as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("advance" as const), ms: fc.integer({ min: 1, max: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("resize" as const), capacity: fc.integer({ min: 1, max: MAX_CAPACITY }) }) },
);

/** A run: the initial capacity, the steps, and (in some runs) the step at which `close()` is called. */
const runArb = fc.record({
  capacity: fc.integer({ min: 1, max: MAX_CAPACITY }),
  ops: fc.array(opArb, { maxLength: 40, size: "max" }),
  closeAt: fc.option(fc.nat({ max: 40 }), { freq: 2 }),
  sameTick: fc.array(fc.integer({ min: 0, max: 2 }).map((x) => x === 0), { minLength: 40, maxLength: 40 }),
});

type Outcome = "queued" | "granted" | "aborted" | "timedOut" | "closed" | "tooHeavy";

interface ModelWaiter {
  readonly id: number;
  readonly weight: number;
  readonly deadline: number | undefined;
}

/** The reference: a counter, a FIFO array and a clock. Obviously right, obviously slow. */
class Model {
  inUse = 0;
  queue: ModelWaiter[] = [];
  closed = false;
  now = 0;
  readonly grants: number[] = [];
  readonly outcome = new Map<number, Outcome>();
  aborted = 0;
  timedOut = 0;

  constructor(public capacity: number) {}

  acquire(id: number, weight: number, timeout: number | null): void {
    if (this.closed) {
      this.outcome.set(id, "closed");
    } else if (this.queue.length === 0 && this.inUse + weight <= this.capacity) {
      this.grant(id, weight);
    } else {
      this.queue.push({ id, weight, deadline: timeout === null ? undefined : this.now + timeout });
      this.outcome.set(id, "queued");
    }
  }

  tryAcquire(weight: number): boolean {
    if (this.queue.length > 0 || this.inUse + weight > this.capacity) return false;
    this.inUse += weight;
    return true;
  }

  release(weight: number): void {
    this.inUse -= weight;
    this.pump();
  }

  cancel(id: number, how: "aborted" | "timedOut"): boolean {
    const index = this.queue.findIndex((w) => w.id === id);
    if (index < 0) return false;
    this.queue.splice(index, 1);
    this.outcome.set(id, how);
    this[how]++;
    this.pump();
    return true;
  }

  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      let due: ModelWaiter | undefined;
      for (const w of this.queue) {
        if (w.deadline === undefined || w.deadline > target) continue;
        if (due === undefined || w.deadline < (due.deadline as number)) due = w;
      }
      if (due === undefined) break;
      this.now = due.deadline as number;
      this.cancel(due.id, "timedOut");
    }
    this.now = target;
  }

  /**
   * Issue 2 leaves open what happens to a queued waiter heavier than the new capacity;
   * the implementation documents that it is rejected with a RangeError (it could never
   * be served, and would block everyone behind it forever). The model follows that.
   */
  resize(capacity: number): void {
    this.capacity = capacity;
    for (const w of this.queue) if (w.weight > capacity) this.outcome.set(w.id, "tooHeavy");
    this.queue = this.queue.filter((w) => w.weight <= capacity);
    this.pump();
  }

  close(): void {
    this.closed = true;
    for (const w of this.queue) this.outcome.set(w.id, "closed");
    this.queue = [];
  }

  /** Grant from the head while the head fits; stop at the first that does not. */
  private pump(): void {
    for (let head = this.queue[0]; head !== undefined && this.inUse + head.weight <= this.capacity; head = this.queue[0]) {
      this.queue.shift();
      this.grant(head.id, head.weight);
    }
  }

  private grant(id: number, weight: number): void {
    this.inUse += weight;
    this.grants.push(id);
    this.outcome.set(id, "granted");
  }
}

interface RealWaiter {
  readonly id: number;
  readonly weight: number;
  readonly tracked: Tracked<Permit>;
  readonly controller: AbortController | undefined;
  readonly reason: Error;
}

interface Holding {
  readonly weight: number;
  /** The permit, once delivered (a waiter's promise may not have resumed yet in a same-tick step). */
  readonly permit: () => Permit | undefined;
}

interface Run {
  capacity: number;
  ops: readonly Op[];
  closeAt: number | null;
  /** sameTick[n]: step n runs in the same tick as step n+1 (no flush, so grants are not yet delivered). */
  sameTick: readonly boolean[];
}

async function runModel({ capacity: initialCapacity, ops, closeAt, sameTick }: Run): Promise<void> {
  useFakeClock();
  try {
    const sem = new Semaphore(initialCapacity);
    const model = new Model(initialCapacity);
    const waiters: RealWaiter[] = [];
    const realGrants: number[] = [];
    const holdings: Holding[] = [];
    let grantCursor = 0;
    /** Every waiter the model granted since the last call now holds a permit the test must release. */
    const collectGrants = (): void => {
      for (; grantCursor < model.grants.length; grantCursor++) {
        const w = waiters[model.grants[grantCursor] as number] as RealWaiter;
        holdings.push({ weight: w.weight, permit: () => w.tracked.value });
      }
    };
    const released: Permit[] = [];
    let releases = 0;

    /** Accounting is synchronous: it must match the model right after every call, flushed or not. */
    const checkAccounting = (step: string): void => {
      expect(sem.capacity, step).toBe(model.capacity);
      expect(sem.inUse, step).toBe(model.inUse);
      expect(sem.queued, step).toBe(model.queue.length);
      if (model.inUse <= model.capacity) expect(sem.available, step).toBe(model.capacity - model.inUse);
    };

    /** Once every promise reaction has run: grant order, every waiter's outcome, timers and listeners. */
    const check = (step: string): void => {
      checkAccounting(step);
      expect(realGrants, `${step}: grant order`).toEqual(model.grants);
      // After a waiter settles no timer or listener of ours remains (a shared timer for
      // the waiters still queued with a deadline would be fine, hence the condition).
      if (!model.queue.some((w) => w.deadline !== undefined)) expect(vi.getTimerCount(), `${step}: timers`).toBe(0);
      for (const w of waiters) {
        const expected = model.outcome.get(w.id);
        if (w.controller && expected !== "queued") {
          expect(abortListeners(w.controller.signal), `${step}: listeners of settled waiter ${w.id}`).toBe(0);
        }
        const t = w.tracked;
        const label = `${step}: waiter ${w.id}`;
        expect(t.settles, label).toBeLessThanOrEqual(1);
        switch (expected) {
          case "queued":
            expect(t.state, label).toBe("pending");
            break;
          case "granted":
            expect(t.state, label).toBe("fulfilled");
            break;
          case "aborted":
            expect(t.state, label).toBe("rejected");
            expect(t.reason, label).toBe(w.reason);
            break;
          case "timedOut":
            expect(t.state, label).toBe("rejected");
            expect((t.reason as Error).name, label).toBe("TimeoutError");
            break;
          case "closed":
            expect(t.state, label).toBe("rejected");
            expect(t.reason, label).toBeInstanceOf(ClosedError);
            break;
          case "tooHeavy":
            expect(t.state, label).toBe("rejected");
            expect(t.reason, label).toBeInstanceOf(RangeError);
            break;
          default:
            throw new Error(`no model outcome for waiter ${w.id}`);
        }
      }
    };

    const releaseHolding = (index: number): void => {
      const h = holdings[index];
      const permit = h?.permit();
      if (h === undefined || permit === undefined) return;
      holdings.splice(index, 1);
      permit.release();
      released.push(permit);
      releases++;
      model.release(h.weight);
    };

    for (const [n, op] of ops.entries()) {
      const step = `step ${n} ${JSON.stringify(op)}`;
      if (n === closeAt) {
        sem.close();
        model.close();
        await flush();
        check(`${step}: close`);
      }
      switch (op.t) {
        case "acquire": {
          const weight = op.roll === 0 ? model.capacity + 1 : 1 + (op.weightSeed % model.capacity);
          if (weight > model.capacity) {
            expect(() => sem.acquire({ weight }), step).toThrow(RangeError);
            break;
          }
          const id = waiters.length;
          const controller = op.abortable ? new AbortController() : undefined;
          const options: { weight: number; signal?: AbortSignal; timeout?: number } = { weight };
          if (controller) options.signal = controller.signal;
          if (op.timeout !== null) options.timeout = op.timeout;
          const tracked = track(sem.acquire(options));
          tracked.promise.then(
            () => realGrants.push(id),
            () => {},
          );
          const waiter: RealWaiter = { id, weight, tracked, controller, reason: new Error(`abort ${id}`) };
          waiters.push(waiter);
          model.acquire(id, weight, op.timeout);
          break;
        }
        case "try": {
          if (model.closed) break; // tryAcquire after close: not specified by issue 2
          const weight = 1 + (op.weightSeed % model.capacity);
          const permit = sem.tryAcquire(weight);
          const expected = model.tryAcquire(weight);
          expect(permit !== undefined, step).toBe(expected);
          if (permit) holdings.push({ weight, permit: () => permit });
          break;
        }
        case "release": {
          const deliverable = holdings.map((h, i) => (h.permit() === undefined ? -1 : i)).filter((i) => i >= 0);
          if (deliverable.length > 0) releaseHolding(deliverable[op.pick % deliverable.length] as number);
          break;
        }
        case "releaseAgain": {
          const permit = released[op.pick % Math.max(1, released.length)];
          permit?.release(); // must free nothing: the model does not change
          break;
        }
        case "abort": {
          // A waiter granted in this very tick (not yet resumed) is left out: whether its abort
          // or its grant wins is the implementation's choice (issue 2 allows either); the
          // race tests below cover that case with checks that accept both.
          const abortable = waiters.filter(
            (w) =>
              w.controller !== undefined &&
              !w.controller.signal.aborted &&
              !(model.outcome.get(w.id) === "granted" && w.tracked.state === "pending"),
          );
          // Mostly abort a waiter that is still queued (the interesting case); sometimes one already granted.
          const queued = abortable.filter((w) => model.outcome.get(w.id) === "queued");
          const candidates = op.pick % 4 !== 0 && queued.length > 0 ? queued : abortable;
          const w = candidates[Math.floor(op.pick / 4) % Math.max(1, candidates.length)];
          if (w === undefined) break;
          w.controller?.abort(w.reason);
          model.cancel(w.id, "aborted"); // a no-op in the model once granted: the waiter keeps its permit
          break;
        }
        case "advance":
          await vi.advanceTimersByTimeAsync(op.ms);
          model.advance(op.ms);
          break;
        case "resize":
          sem.resize(op.capacity);
          model.resize(op.capacity);
          break;
      }
      collectGrants();
      if (sameTick[n] === true && op.t !== "advance") {
        checkAccounting(step);
        continue;
      }
      await flush();
      check(step);
    }
    await flush();

    // Drain: release everything held until nothing is held or queued.
    for (let round = 0; holdings.length > 0; round++) {
      expect(round).toBeLessThan(1000);
      releaseHolding(0);
      collectGrants();
      await flush();
      check(`drain ${round}`);
    }
    expect(vi.getTimerCount(), "timers left once everything settled").toBe(0);
    await vi.advanceTimersByTimeAsync(1000);
    model.advance(1000);
    await flush();
    check("end");

    expect(sem.inUse).toBe(0);
    expect(sem.queued).toBe(0);
    for (const w of waiters) {
      expect(w.tracked.settles, `waiter ${w.id} settles exactly once`).toBe(1);
      if (w.controller) expect(abortListeners(w.controller.signal), `listeners of waiter ${w.id}`).toBe(0);
    }
    expect(vi.getTimerCount(), "timers left").toBe(0);
    const stats = sem.stats();
    expect(stats).toMatchObject({ capacity: model.capacity, inUse: 0, queued: 0, released: releases });
    expect(stats.aborted).toBe(model.aborted);
    expect(stats.timedOut).toBe(model.timedOut);
  } finally {
    vi.useRealTimers();
  }
}

describe("model-based: random acquire/try/release/abort/timeout/resize/close", () => {
  it("matches the reference model step by step and leaks nothing", async () => {
    await fc.assert(
      fc.asyncProperty(runArb, runModel),
      { numRuns: 150 },
    );
  });
});

// ---------------------------------------------------------------------------
// 2 and 3. Releases racing aborts
// ---------------------------------------------------------------------------

interface RaceWaiter {
  readonly index: number;
  readonly weight: number;
  readonly controller: AbortController;
  readonly reason: Error;
  readonly tracked: Tracked<Permit>;
  released: boolean;
}

/**
 * A semaphore whose whole capacity is held, with waiters queued behind the holder.
 * `heldWeight()` is what the fulfilled, unreleased waiters (and the holder) hold:
 * once every grant is delivered it must equal `sem.inUse` — a permit granted to a
 * waiter that was rejected would make inUse larger (lost), a grant given to two
 * waiters or not counted would make it smaller (doubled).
 */
function raceSetup(capacity: number, weights: readonly number[]) {
  const sem = new Semaphore(capacity);
  const holder = sem.tryAcquire(capacity) as Permit;
  let holderHeld = true;
  const grantOrder: number[] = [];
  const waiters: RaceWaiter[] = weights.map((w, index) => {
    const weight = Math.min(w, capacity);
    const controller = new AbortController();
    const tracked = track(sem.acquire({ weight, signal: controller.signal }));
    tracked.promise.then(
      () => grantOrder.push(index),
      () => {},
    );
    return { index, weight, controller, reason: new Error(`abort ${index}`), tracked, released: false };
  });
  return {
    sem,
    waiters,
    grantOrder,
    releaseHolder(): void {
      holder.release();
      holderHeld = false;
    },
    /** Releases waiter i if it holds a delivered permit; returns whether it did. */
    releaseWaiter(i: number): boolean {
      const w = waiters[i];
      if (w === undefined || w.released || w.tracked.state !== "fulfilled") return false;
      (w.tracked.value as Permit).release();
      w.released = true;
      return true;
    },
    abort(i: number): void {
      const w = waiters[i];
      w?.controller.abort(w.reason);
    },
    heldWeight(): number {
      let sum = holderHeld ? capacity : 0;
      for (const w of waiters) if (w.tracked.state === "fulfilled" && !w.released) sum += w.weight;
      return sum;
    },
    holderHeld: () => holderHeld,
  };
}

type Race = ReturnType<typeof raceSetup>;

/**
 * Liveness: once every grant is delivered, the first waiter still pending must not fit
 * (otherwise a release, abort or timeout forgot to wake it).
 */
function expectHeadBlocked(race: Race): void {
  const head = race.waiters.find((w) => w.tracked.state === "pending" && !w.controller.signal.aborted);
  if (head !== undefined && race.waiters.every((w) => w.index >= head.index || w.tracked.state !== "pending")) {
    expect(head.weight, `waiter ${head.index} fits but was not woken`).toBeGreaterThan(race.sem.available);
  }
}

/** Releases whatever is still held until everything is settled and released; then checks the end state. */
async function drainAndCheck(race: Race, capacity: number): Promise<void> {
  if (race.holderHeld()) race.releaseHolder();
  for (let round = 0; round < 100; round++) {
    await flush();
    expect(race.sem.inUse).toBe(race.heldWeight());
    let progressed = false;
    for (const w of race.waiters) progressed = race.releaseWaiter(w.index) || progressed;
    if (!progressed && race.waiters.every((w) => w.tracked.state !== "pending")) break;
  }
  const { sem, waiters, grantOrder } = race;
  expect(sem.inUse).toBe(0);
  expect(sem.queued).toBe(0);
  expect(sem.available).toBe(capacity);
  for (const w of waiters) {
    expect(w.tracked.settles, `waiter ${w.index} settles exactly once`).toBe(1);
    if (w.tracked.state === "rejected") {
      expect(w.controller.signal.aborted, `waiter ${w.index} rejected without an abort`).toBe(true);
      expect(w.tracked.reason).toBe(w.reason);
    }
    expect(abortListeners(w.controller.signal), `listeners of waiter ${w.index}`).toBe(0);
  }
  // FIFO: fulfilled waiters were granted in request order.
  expect(grantOrder).toEqual([...grantOrder].sort((a, b) => a - b));
}

const raceArb = fc
  .record({
    capacity: fc.integer({ min: 1, max: 4 }),
    weights: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 6 }),
  })
  .chain(({ capacity, weights }) =>
    fc.record({
      capacity: fc.constant(capacity),
      weights: fc.constant(weights),
      aborts: fc.subarray(weights.map((_, i) => i)),
      // Each action: 0 = release the holder, 1..n = abort waiter i-1, -1..-n = release waiter i-1 if it holds.
      actions: fc.shuffledSubarray(
        [0, ...weights.map((_, i) => i + 1), ...weights.map((_, i) => -(i + 1))],
        { minLength: 1 + 2 * weights.length },
      ),
      ticks: fc.array(fc.boolean(), { minLength: 1 + 2 * weights.length, maxLength: 1 + 2 * weights.length }),
    }),
  );

function act(race: Race, action: number, aborts: readonly number[]): void {
  if (action === 0) race.releaseHolder();
  else if (action > 0) {
    if (aborts.includes(action - 1)) race.abort(action - 1);
  } else race.releaseWaiter(-action - 1);
}

describe("releases racing aborts", () => {
  it("grant in the same tick as abort is never lost or doubled (random same-tick batches)", async () => {
    await fc.assert(
      fc.asyncProperty(raceArb, async ({ capacity, weights, aborts, actions, ticks }) => {
        const race = raceSetup(capacity, weights);
        for (const [i, action] of actions.entries()) {
          act(race, action, aborts);
          expect(race.sem.inUse).toBeLessThanOrEqual(capacity);
          if (ticks[i] === true) {
            await flush(); // end of a tick: every grant is delivered
            expect(race.sem.inUse).toBe(race.heldWeight());
            expectHeadBlocked(race);
          }
        }
        await drainAndCheck(race, capacity);
      }),
      { numRuns: 300 },
    );
  });

  it("abort and release raced in every order fc.scheduler picks: the permit is never lost or doubled", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), raceArb, async (s, { capacity, weights, aborts, actions }) => {
        const race = raceSetup(capacity, weights);
        const done: Promise<void>[] = [];
        for (const action of actions) {
          const label = action === 0 ? "release holder" : action > 0 ? `abort ${action - 1}` : `release ${-action - 1}`;
          done.push(
            s.schedule(Promise.resolve(label), label).then(() => {
              act(race, action, aborts);
              expect(race.sem.inUse).toBeLessThanOrEqual(capacity);
            }),
          );
        }
        await s.waitIdle();
        await Promise.all(done);
        await flush();
        expect(race.sem.inUse).toBe(race.heldWeight());
        expectHeadBlocked(race);
        await drainAndCheck(race, capacity);
      }),
      { numRuns: 300 },
    );
  });
});
