/**
 * Type tests of the public API, checked by `vitest --typecheck` (tsc, never
 * executed). They import the sources, so they guard what `tsc` emits into
 * dist/*.d.ts; attw (scripts/check-package.sh) checks that those declarations
 * resolve for users.
 */
import { describe, expectTypeOf, test } from "vitest";
import {
  ClosedError,
  KeyedSemaphore,
  LeaseLostError,
  Lock,
  PermitsError,
  Semaphore,
  limit,
  map,
  type AcquireOptions,
  type MapContext,
  type Permit,
  type SemaphoreStats,
} from "../../src/index.js";

declare const sem: Semaphore;

describe("Permit", () => {
  test("is Disposable and AsyncDisposable, so `using` and `await using` accept it", async () => {
    expectTypeOf<Permit>().toExtend<Disposable>();
    expectTypeOf<Permit>().toExtend<AsyncDisposable>();
    {
      using permit = await sem.acquire();
      expectTypeOf(permit).toEqualTypeOf<Permit>();
    }
    {
      await using permit = await sem.acquire({ weight: 2 });
      expectTypeOf(permit.weight).toEqualTypeOf<number>();
    }
  });

  test("release returns nothing to await", () => {
    expectTypeOf<Permit["release"]>().returns.toEqualTypeOf<void>();
  });

  test("acquire resolves to a Permit; tryAcquire may give none", () => {
    expectTypeOf(sem.acquire()).toEqualTypeOf<Promise<Permit>>();
    expectTypeOf(sem.tryAcquire()).toEqualTypeOf<Permit | undefined>();
  });
});

describe("run infers the callback's return type", () => {
  test("async and sync callbacks, unwrapped once", () => {
    expectTypeOf(sem.run(async () => 42)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(sem.run(() => "sync")).toEqualTypeOf<Promise<string>>();
    expectTypeOf(sem.run(async () => ({ id: 1 as const }))).toEqualTypeOf<Promise<{ id: 1 }>>();
    expectTypeOf(sem.run(() => Promise.resolve([1, 2]))).toEqualTypeOf<Promise<number[]>>();
    expectTypeOf(sem.run(() => {})).toEqualTypeOf<Promise<void>>();
  });

  test("the callback receives the Permit", () => {
    void sem.run((permit) => {
      expectTypeOf(permit).toEqualTypeOf<Permit>();
    });
  });

  test("Lock and KeyedSemaphore infer the same way", () => {
    const lock = new Lock();
    expectTypeOf(lock.run(async () => 1n)).toEqualTypeOf<Promise<bigint>>();
    expectTypeOf(lock.locked).toEqualTypeOf<boolean>();
    const perHost = new KeyedSemaphore<string>(2);
    expectTypeOf(perHost.run("example.org", async () => true)).toEqualTypeOf<Promise<boolean>>();
    // @ts-expect-error -- keys are typed: a KeyedSemaphore<string> takes no number key
    void perHost.acquire(42);
  });

  test("limit infers arguments and result like p-limit", () => {
    const lim = limit(3);
    expectTypeOf(lim(async (a: number, b: string) => `${a}${b}`, 1, "x")).toEqualTypeOf<Promise<string>>();
    // @ts-expect-error -- arguments are checked against the function's parameters
    void lim(async (a: number) => a, "not a number");
    expectTypeOf(lim.activeCount).toEqualTypeOf<number>();
    expectTypeOf(lim.pendingCount).toEqualTypeOf<number>();
  });

  test("map gives results in an array of the callback's awaited type", () => {
    expectTypeOf(map([1, 2, 3], async (n) => String(n))).toEqualTypeOf<Promise<string[]>>();
    void map(["a"], (item, index, context) => {
      expectTypeOf(item).toEqualTypeOf<string>();
      expectTypeOf(index).toEqualTypeOf<number>();
      expectTypeOf(context).toEqualTypeOf<MapContext>();
      expectTypeOf(context.signal).toEqualTypeOf<AbortSignal>();
    });
  });
});

describe("options reject unknown keys", () => {
  test("acquire and run", () => {
    // @ts-expect-error -- misspelled option: weight
    void sem.acquire({ wieght: 2 });
    // @ts-expect-error -- not an option of acquire
    void sem.acquire({ urgent: true });
    // @ts-expect-error -- priority is a number
    void sem.acquire({ priority: "high" });
    // @ts-expect-error -- tenant is a string
    void sem.acquire({ tenant: 42 });
    // @ts-expect-error -- misspelled option: timeout
    void sem.run(() => 1, { timout: 10 });
    // @ts-expect-error -- weight is a number
    void sem.acquire({ weight: "2" });
    // @ts-expect-error -- signal is an AbortSignal
    void sem.acquire({ signal: new AbortController() });
  });

  test("constructors, limit and map", () => {
    // @ts-expect-error -- capacity is a number
    new Semaphore("3");
    // @ts-expect-error -- not an option of Semaphore
    new Semaphore(3, { fair: true });
    // @ts-expect-error -- not an option of limit
    limit({ concurrency: 2, interval: 1000 });
    // @ts-expect-error -- misspelled option: concurrency
    void map([1], (n) => n, { concurency: 2 });
  });

  test("every documented option is accepted, exactOptionalPropertyTypes included", () => {
    const options: AcquireOptions = { weight: 1, signal: AbortSignal.timeout(10), timeout: 5 };
    void sem.acquire(options);
    void sem.acquire({ weight: undefined, signal: undefined, timeout: undefined });
  });
});

describe("error classes", () => {
  test("narrow by code", () => {
    const error = undefined as unknown as ClosedError | LeaseLostError;
    if (error.code === "ERR_PERMITS_CLOSED") expectTypeOf(error).toEqualTypeOf<ClosedError>();
    else expectTypeOf(error).toEqualTypeOf<LeaseLostError>();
    expectTypeOf<typeof ClosedError.code>().toEqualTypeOf<"ERR_PERMITS_CLOSED">();
    expectTypeOf<typeof LeaseLostError.code>().toEqualTypeOf<"ERR_PERMITS_LEASE_LOST">();
    // The idiom the docs use: compare with the class's static code.
    if (error.code === ClosedError.code) expectTypeOf(error).toEqualTypeOf<ClosedError>();
  });

  test("narrow by instanceof from unknown", () => {
    const caught: unknown = undefined;
    if (caught instanceof ClosedError) {
      expectTypeOf(caught.code).toEqualTypeOf<"ERR_PERMITS_CLOSED">();
      expectTypeOf(caught).toExtend<PermitsError>();
      expectTypeOf(caught).toExtend<Error>();
    }
    if (caught instanceof PermitsError) expectTypeOf(caught.code).toEqualTypeOf<string>();
  });
});

describe("introspection", () => {
  test("stats is a plain snapshot with the documented counters", () => {
    expectTypeOf(sem.stats()).toEqualTypeOf<SemaphoreStats>();
    expectTypeOf(sem.stats()).toExtend<{
      capacity: number;
      inUse: number;
      queued: number;
      acquired: number;
      released: number;
      aborted: number;
      timedOut: number;
    }>();
  });

  test("capacity is settable; inUse, available and queued are read-only numbers", () => {
    sem.capacity = 5;
    expectTypeOf(sem.inUse).toEqualTypeOf<number>();
    // @ts-expect-error -- read-only
    sem.inUse = 1;
    // @ts-expect-error -- read-only
    sem.queued = 1;
  });
});
