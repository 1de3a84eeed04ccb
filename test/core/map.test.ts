/** map(): bounded concurrency over an (async) iterable, results in input order, lazy input. */
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { map } from "../../src/index.js";
import { abortListeners, anyError, deferred, flush, syncError, track } from "./helpers.js";

/** A synchronous iterator that counts how many items were pulled and whether it was closed. */
function instrumented<T>(items: readonly T[]): Iterable<T> & { pulled: number; closed: boolean } {
  const state = {
    pulled: 0,
    closed: false,
    [Symbol.iterator](): Iterator<T> {
      let i = 0;
      return {
        next: (): IteratorResult<T> => {
          if (i >= items.length) return { done: true, value: undefined };
          state.pulled++;
          return { done: false, value: items[i++] as T };
        },
        return: (): IteratorResult<T> => {
          state.closed = true;
          return { done: true, value: undefined };
        },
      };
    },
  };
  return state;
}

describe("map()", () => {
  it("results come in input order whatever the completion order", async () => {
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const out = track(
      map([0, 1, 2, 3], async (item) => {
        await gates[item]?.promise;
        return item * 10;
      }, { concurrency: 4 }),
    );
    for (const i of [3, 1, 0, 2]) {
      gates[i]?.resolve();
      await flush();
    }
    await flush();
    expect(out.value).toEqual([0, 10, 20, 30]);
  });

  it("passes the item, its index and a context with a signal", async () => {
    const seen: [string, number, boolean][] = [];
    await map(["a", "b", "c"], (item, index, { signal }) => {
      seen.push([item, index, signal instanceof AbortSignal && !signal.aborted]);
    });
    expect(seen).toEqual([
      ["a", 0, true],
      ["b", 1, true],
      ["c", 2, true],
    ]);
  });

  it("accepts iterables, generators and async iterables", async () => {
    function* gen(): Generator<number> {
      yield 1;
      yield 2;
    }
    async function* agen(): AsyncGenerator<number> {
      yield 3;
      await flush();
      yield 4;
    }
    expect(await map(new Set([5, 6]), (x) => x + 1)).toEqual([6, 7]);
    expect(await map(gen(), (x) => x * 2)).toEqual([2, 4]);
    expect(await map(agen(), async (x) => x * 2, { concurrency: 1 })).toEqual([6, 8]);
    expect(await map([], () => 1)).toEqual([]);
  });

  it("never runs more than `concurrency` callbacks at once", async () => {
    let running = 0;
    let maxRunning = 0;
    const out = await map(
      Array.from({ length: 20 }, (_, i) => i),
      async (i) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        for (let k = 0; k < (i % 3) + 1; k++) await flush();
        running--;
        return i;
      },
      { concurrency: 3 },
    );
    expect(maxRunning).toBe(3);
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it("reads at most one item ahead of the running callbacks (sync iterator)", async () => {
    const input = instrumented(Array.from({ length: 10 }, (_, i) => i));
    const gates = Array.from({ length: 10 }, () => deferred());
    let started = 0;
    const out = track(
      map(
        input,
        async (i) => {
          started++;
          await gates[i]?.promise;
          return i;
        },
        { concurrency: 2 },
      ),
    );
    for (let round = 0; round < 10; round++) {
      await flush();
      expect(input.pulled - started).toBeLessThanOrEqual(1);
      expect(started).toBe(Math.min(10, round + 2));
      gates[round]?.resolve();
    }
    await flush();
    expect(out.value).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  it("reads at most one item ahead of the running callbacks (async generator)", async () => {
    let pulled = 0;
    let started = 0;
    async function* source(): AsyncGenerator<number> {
      for (let i = 0; i < 6; i++) {
        pulled++;
        yield i;
      }
    }
    const gates = Array.from({ length: 6 }, () => deferred());
    const out = track(
      map(
        source(),
        async (i) => {
          started++;
          await gates[i]?.promise;
          return i;
        },
        { concurrency: 2 },
      ),
    );
    for (let round = 0; round < 6; round++) {
      await flush();
      expect(pulled - started).toBeLessThanOrEqual(1);
      expect(started).toBe(Math.min(6, round + 2));
      gates[round]?.resolve();
    }
    await flush();
    expect(out.value).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("an endless generator is fine: only what is needed is read", async () => {
    let pulled = 0;
    function* naturals(): Generator<number> {
      for (let i = 0; ; i++) {
        pulled++;
        yield i;
      }
    }
    const stop = new Error("enough");
    const err = await anyError(() =>
      map(naturals(), (i) => {
        if (i === 5) throw stop;
        return i;
      }, { concurrency: 2 }),
    );
    expect(err).toBe(stop);
    expect(pulled).toBeLessThanOrEqual(8);
  });

  it("the first error rejects the map with that very error object", async () => {
    const first = new Error("first");
    const second = new Error("second");
    const gate = deferred();
    const out = track(
      map([0, 1, 2], async (i) => {
        if (i === 0) {
          await flush();
          throw first;
        }
        if (i === 1) {
          await gate.promise;
          throw second;
        }
        return i;
      }, { concurrency: 3 }),
    );
    await flush();
    await flush();
    expect(out.state).toBe("rejected");
    expect(out.reason).toBe(first);
    gate.resolve(); // the second error must not surface anywhere (no unhandled rejection)
    await flush();
  });

  it("no new callback starts after a failure, and running ones see their signal aborted", async () => {
    const boom = new Error("boom");
    const started: number[] = [];
    const signals: AbortSignal[] = [];
    const slow = deferred();
    const input = instrumented(Array.from({ length: 10 }, (_, i) => i));
    const out = track(
      map(
        input,
        async (i, _index, { signal }) => {
          started.push(i);
          signals[i] = signal;
          if (i === 0) {
            await flush();
            throw boom;
          }
          await slow.promise;
          return i;
        },
        { concurrency: 2 },
      ),
    );
    await flush();
    await flush();
    expect(out.reason).toBe(boom);
    expect(signals[1]?.aborted).toBe(true);
    slow.resolve(); // item 1 finishes; that must not start item 2
    await flush();
    await flush();
    expect(started).toEqual([0, 1]);
    expect(input.pulled).toBeLessThanOrEqual(3);
  });

  it("a synchronous throw in the callback rejects with that error", async () => {
    const boom = new Error("sync");
    const fn = vi.fn((i: number) => {
      if (i === 1) throw boom;
      return i;
    });
    let out: Promise<unknown> | undefined;
    expect(syncError(() => (out = map([0, 1, 2, 3], fn, { concurrency: 1 })))).toBeUndefined();
    await expect(out).rejects.toBe(boom);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it("an input that throws rejects the map with that error", async () => {
    const broken = new Error("input broke");
    function* source(): Generator<number> {
      yield 1;
      throw broken;
    }
    async function* asyncSource(): AsyncGenerator<number> {
      yield 1;
      throw broken;
    }
    await expect(map(source(), (x) => x)).rejects.toBe(broken);
    await expect(map(asyncSource(), (x) => x)).rejects.toBe(broken);
  });

  it("the input is closed (return()) after a failure", async () => {
    const input = instrumented([0, 1, 2, 3, 4]);
    const boom = new Error("boom");
    await expect(
      map(input, (i) => {
        if (i === 1) throw boom;
        return i;
      }, { concurrency: 1 }),
    ).rejects.toBe(boom);
    expect(input.closed).toBe(true);
  });

  it("aborting the outer signal rejects with its reason, aborts running callbacks, starts no more", async () => {
    const controller = new AbortController();
    const started: number[] = [];
    const signals: AbortSignal[] = [];
    const gate = deferred();
    const out = track(
      map(
        [0, 1, 2, 3, 4],
        async (i, _index, { signal }) => {
          started.push(i);
          signals.push(signal);
          await gate.promise;
          return i;
        },
        { concurrency: 2, signal: controller.signal },
      ),
    );
    await flush();
    expect(started).toEqual([0, 1]);
    const reason = new Error("user cancelled");
    controller.abort(reason);
    await flush();
    expect(out.state).toBe("rejected");
    expect(out.reason).toBe(reason);
    expect(signals.every((s) => s.aborted)).toBe(true);
    gate.resolve();
    await flush();
    await flush();
    expect(started).toEqual([0, 1]);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it("an already-aborted outer signal rejects with its reason and calls nothing", async () => {
    const reason = new Error("too late");
    const fn = vi.fn();
    await expect(map([1, 2], fn, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(fn).not.toHaveBeenCalled();
  });

  it("leaves no listener on the outer signal after it settles", async () => {
    const controller = new AbortController();
    await map([1, 2, 3], async (x) => x, { concurrency: 2, signal: controller.signal });
    expect(abortListeners(controller.signal)).toBe(0);
    const boom = new Error("x");
    await expect(
      map([1, 2, 3], () => {
        throw boom;
      }, { signal: controller.signal }),
    ).rejects.toBe(boom);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it.each([0, -1, 1.5, Number.NaN])("concurrency %s is refused, naming concurrency", async (concurrency) => {
    const fn = vi.fn();
    const err = await anyError(() => map([1], fn, { concurrency }));
    expect(err instanceof TypeError || err instanceof RangeError).toBe(true);
    expect((err as Error).message).toContain("concurrency");
    expect(fn).not.toHaveBeenCalled();
  });

  it("an unknown option is a TypeError", async () => {
    const err = await anyError(() => map([1], (x) => x, { concurency: 2 } as unknown as { concurrency: number }));
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toContain("concurency");
  });
});

describe("map() properties", () => {
  it("in order, bounded, lazy, and stops at the first failure — for random inputs and completion orders", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.nat(), { minLength: 30, maxLength: 30 }),
        fc.option(fc.nat(), { freq: 2 }),
        fc.boolean(),
        async (n, concurrency, picks, failPick, asyncInput) => {
          let pulled = 0;
          const items = Array.from({ length: n }, (_, i) => i);
          const source: Iterable<number> | AsyncIterable<number> = asyncInput
            ? (async function* () {
                for (const item of items) {
                  pulled++;
                  yield item;
                }
              })()
            : (function* () {
                for (const item of items) {
                  pulled++;
                  yield item;
                }
              })();
          const gates = new Map<number, ReturnType<typeof deferred<void>>>();
          const started: number[] = [];
          let running = 0;
          let maxRunning = 0;
          const failAt = failPick === null || n === 0 ? -1 : failPick % n;
          const failure = new Error("item failed");
          const out = track(
            map(
              source,
              async (item, index) => {
                expect(index).toBe(item);
                started.push(item);
                running++;
                maxRunning = Math.max(maxRunning, running);
                const gate = deferred<void>();
                gates.set(item, gate);
                try {
                  await gate.promise;
                } finally {
                  running--;
                }
                if (item === failAt) throw failure;
                return item * 2;
              },
              { concurrency },
            ),
          );
          let startedAtFailure = -1;
          for (let step = 0; out.state === "pending" && step < picks.length + n * 2; step++) {
            await flush();
            expect(pulled - started.length, "read ahead").toBeLessThanOrEqual(1);
            const open = [...gates.keys()];
            if (open.length === 0) continue;
            const item = open[(picks[step % picks.length] ?? 0) % open.length] as number;
            gates.get(item)?.resolve();
            gates.delete(item);
            if (item === failAt) startedAtFailure = started.length;
          }
          for (const gate of gates.values()) gate.resolve();
          await flush();
          await flush();
          expect(maxRunning).toBeLessThanOrEqual(concurrency);
          if (failAt >= 0 && startedAtFailure >= 0) {
            expect(out.reason).toBe(failure);
            expect(started.length, "no callback starts after the failure").toBe(startedAtFailure);
          } else {
            expect(out.state).toBe("fulfilled");
            expect(out.value).toEqual(items.map((i) => i * 2));
            expect(started).toEqual(items); // started in input order
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
