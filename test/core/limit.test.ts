/** limit(): p-limit compatible, a thin layer over the Semaphore. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { limit } from "../../src/index.js";
import { anyError, deferred, expectNamesArgument, flush, syncError, track } from "./helpers.js";

describe("limit()", () => {
  it("lim(fn, ...args) passes the arguments and resolves to fn's result", async () => {
    const lim = limit(2);
    await expect(lim((a: number, b: string) => `${a}${b}`, 1, "x")).resolves.toBe("1x");
    await expect(lim(async (n: number) => n * 2, 21)).resolves.toBe(42);
  });

  it("never runs more than `concurrency` calls at once, and starts them in call order", async () => {
    const lim = limit(3);
    let running = 0;
    let maxRunning = 0;
    const started: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        lim(async () => {
          started.push(i);
          running++;
          maxRunning = Math.max(maxRunning, running);
          for (let k = 0; k < (i % 4) + 1; k++) await flush();
          running--;
          return i;
        }),
      ),
    );
    expect(maxRunning).toBe(3);
    expect(started).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(results).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it("activeCount and pendingCount count running and waiting calls", async () => {
    const lim = limit(2);
    expect(lim.activeCount).toBe(0);
    expect(lim.pendingCount).toBe(0);
    const gates = Array.from({ length: 5 }, () => deferred());
    const calls = gates.map((gate) => track(lim(() => gate.promise)));
    await flush();
    expect(lim.activeCount).toBe(2);
    expect(lim.pendingCount).toBe(3);
    gates[0]?.resolve();
    await flush();
    expect(lim.activeCount).toBe(2);
    expect(lim.pendingCount).toBe(2);
    for (const gate of gates) gate.resolve();
    await flush();
    await flush();
    expect(lim.activeCount).toBe(0);
    expect(lim.pendingCount).toBe(0);
    expect(calls.every((c) => c.state === "fulfilled")).toBe(true);
  });

  it("a synchronous throw in fn rejects that call and frees its slot", async () => {
    const lim = limit(1);
    const boom = new Error("sync");
    let call: Promise<unknown> | undefined;
    expect(
      syncError(() => {
        call = lim(() => {
          throw boom;
        });
      }),
    ).toBeUndefined();
    await expect(call).rejects.toBe(boom);
    await expect(lim(() => "next")).resolves.toBe("next");
    expect(lim.activeCount).toBe(0);
  });

  it("a rejection in fn rejects that call with the same object and frees its slot", async () => {
    const lim = limit(1);
    const boom = new Error("async");
    await expect(lim(async () => Promise.reject(boom))).rejects.toBe(boom);
    await expect(lim(() => 1)).resolves.toBe(1);
  });

  it("concurrency is readable and settable; growing starts waiting calls", async () => {
    const lim = limit(1);
    expect(lim.concurrency).toBe(1);
    const gates = Array.from({ length: 4 }, () => deferred());
    const calls = gates.map((gate) => track(lim(() => gate.promise)));
    await flush();
    expect(lim.activeCount).toBe(1);
    lim.concurrency = 3;
    expect(lim.concurrency).toBe(3);
    await flush();
    expect(lim.activeCount).toBe(3);
    expect(lim.pendingCount).toBe(1);
    for (const gate of gates) gate.resolve();
    await Promise.all(calls.map((c) => c.promise));
  });

  it("concurrency Infinity is accepted, as p-limit accepts it, and runs everything at once", async () => {
    const lim = limit(Number.POSITIVE_INFINITY);
    expect(lim.concurrency).toBe(Number.POSITIVE_INFINITY);
    const gates = Array.from({ length: 50 }, () => deferred());
    const calls = gates.map((gate) => lim(() => gate.promise));
    await flush();
    expect(lim.activeCount).toBe(50);
    expect(lim.pendingCount).toBe(0);
    for (const gate of gates) gate.resolve();
    await Promise.all(calls);
    lim.concurrency = 2;
    expect(lim.concurrency).toBe(2);
  });

  it("shrinking concurrency lets running calls finish and limits new starts", async () => {
    const lim = limit(3);
    const gates = Array.from({ length: 5 }, () => deferred());
    const calls = gates.map((gate) => track(lim(() => gate.promise)));
    await flush();
    expect(lim.activeCount).toBe(3);
    lim.concurrency = 1;
    await flush();
    expect(lim.activeCount).toBe(3); // nobody is interrupted
    gates[0]?.resolve();
    gates[1]?.resolve();
    await flush();
    expect(lim.activeCount).toBe(1); // the third is still running; nothing new started
    expect(lim.pendingCount).toBe(2);
    for (const gate of gates) gate.resolve();
    await Promise.all(calls.map((c) => c.promise));
  });

  it.each([0, -1, 1.5, Number.NaN, "2"])("setting concurrency to %j throws like p-limit and changes nothing", (value) => {
    const lim = limit(2);
    const err = syncError(() => {
      lim.concurrency = value as number;
    });
    expect(err instanceof TypeError || err instanceof RangeError).toBe(true);
    expectNamesArgument(err, "concurrency", value);
    expect(lim.concurrency).toBe(2);
  });

  it.each([0, -1, 1.5, Number.NaN, "2"])("limit(%j) throws naming concurrency", (value) => {
    const err = syncError(() => limit(value as number));
    expect(err instanceof TypeError || err instanceof RangeError).toBe(true);
    expectNamesArgument(err, "concurrency", value);
  });

  it("an unknown option in the options object is a TypeError naming it", () => {
    const err = syncError(() => limit({ concurrency: 2, concurrent: 3 } as unknown as { concurrency: number }));
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toContain("concurrent");
  });

  it("lim() with something that is not a function fails loudly naming fn", async () => {
    const lim = limit(1);
    const err = await anyError(() => lim(42 as unknown as () => void));
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toContain("fn");
    expect(lim.activeCount).toBe(0);
  });

  it("accepts p-limit's options object form", async () => {
    const lim = limit({ concurrency: 2 });
    expect(lim.concurrency).toBe(2);
    await expect(lim(() => "ok")).resolves.toBe("ok");
  });

  it("clearQueue drops pending calls without settling them by default (p-limit's default): no unhandled rejection", async () => {
    const lim = limit(1);
    const gate = deferred<string>();
    const running = track(lim(() => gate.promise));
    const ran: number[] = [];
    // Started and never awaited, as p-limit users do before clearing: a rejection here would be unhandled.
    const pending = [1, 2, 3].map((i) => track(lim(() => ran.push(i))));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      lim.clearQueue();
      expect(lim.pendingCount).toBe(0);
      gate.resolve("done");
      await new Promise((resolve) => setTimeout(resolve, 0)); // a macrotask: unhandled rejections are reported by then
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    expect(unhandled).toEqual([]);
    expect(pending.map((p) => p.state)).toEqual(["pending", "pending", "pending"]);
    expect(running.value).toBe("done");
    expect(ran).toEqual([]); // cleared calls never run
    await expect(lim(() => "after")).resolves.toBe("after");
  });

  it("lim(fn) never calls fn inside the call, yet counts it as active at once (p-limit: runs all tasks asynchronously)", async () => {
    const lim = limit(2);
    const calls: string[] = [];
    const first = lim(() => calls.push("a"));
    const second = lim(async (x: string) => calls.push(x), "b"); // an async function takes another path
    const third = lim(() => calls.push("c"));
    expect(calls).toEqual([]);
    expect(lim.activeCount).toBe(2); // the slots are taken now, in call order
    expect(lim.pendingCount).toBe(1);
    await Promise.all([first, second, third]);
    expect(calls).toEqual(["a", "b", "c"]);
    expect(lim.activeCount).toBe(0);
  });

  it("clearQueue with rejectOnClear: true rejects pending calls with an AbortError and lets running ones finish", async () => {
    const lim = limit({ concurrency: 1, rejectOnClear: true });
    const gate = deferred<string>();
    const running = track(lim(() => gate.promise));
    const ran: number[] = [];
    const pending = [1, 2, 3].map((i) => track(lim(() => ran.push(i))));
    await flush();
    expect(lim.pendingCount).toBe(3);
    lim.clearQueue();
    expect(lim.pendingCount).toBe(0);
    await flush();
    for (const p of pending) {
      expect(p.state).toBe("rejected");
      expect((p.reason as Error).name).toBe("AbortError");
    }
    expect(running.state).toBe("pending");
    gate.resolve("done");
    await flush();
    expect(running.value).toBe("done");
    expect(ran).toEqual([]); // cleared calls never run
    expect(lim.activeCount).toBe(0);
    await expect(lim(() => "after")).resolves.toBe("after");
  });

  it("a limit function is reusable after it drains", async () => {
    const lim = limit(2);
    expect(await Promise.all([1, 2, 3].map((n) => lim(() => n)))).toEqual([1, 2, 3]);
    expect(await Promise.all([4, 5].map((n) => lim(async () => n)))).toEqual([4, 5]);
  });

  it("an error thrown by one call does not reject the others", async () => {
    const lim = limit(2);
    const boom = new Error("one");
    const results = await Promise.allSettled([lim(() => 1), lim(() => Promise.reject(boom)), lim(() => 3)]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(await anyError(() => lim(() => Promise.reject(boom)))).toBe(boom);
  });
});

describe("limit() against p-limit itself (differential)", () => {
  type Step =
    | { t: "call" }
    | { t: "finish"; pick: number; fail: boolean }
    | { t: "concurrency"; value: number }
    | { t: "clear" };

  interface LimitLike {
    (fn: () => Promise<unknown>): Promise<unknown>;
    readonly activeCount: number;
    readonly pendingCount: number;
    concurrency: number;
    clearQueue(): void;
  }

  /** Runs the steps and returns what an observer sees after each one settles. */
  async function observe(lim: LimitLike, steps: readonly Step[]): Promise<string[]> {
    const started: number[] = [];
    const gates: ReturnType<typeof deferred<void>>[] = [];
    const finished = new Set<number>();
    const outcomes: string[] = [];
    const snapshots: string[] = [];
    let calls = 0;
    for (const step of steps) {
      if (step.t === "call") {
        const i = calls++;
        gates[i] = deferred();
        lim(() => {
          started.push(i);
          return (gates[i] as ReturnType<typeof deferred<void>>).promise;
        }).then(
          () => outcomes.push(`${i} ok`),
          () => outcomes.push(`${i} failed`),
        );
      } else if (step.t === "finish") {
        const running = started.filter((i) => !finished.has(i));
        const i = running[step.pick % Math.max(1, running.length)];
        if (i !== undefined) {
          finished.add(i);
          if (step.fail) gates[i]?.reject(new Error(`call ${i}`));
          else gates[i]?.resolve();
        }
      } else if (step.t === "clear") {
        lim.clearQueue();
      } else {
        lim.concurrency = step.value;
      }
      // What a caller sees in the same tick (p-limit: counts move at once, fn runs later) …
      // (Except after raising `concurrency`: ours starts the waiting calls' accounting at once,
      // p-limit a microtask later; docs/migration/p-limit.md lists that difference.)
      if (step.t !== "concurrency") {
        snapshots.push(`${step.t} (same tick): started=[${started.join()}] active=${lim.activeCount} pending=${lim.pendingCount}`);
      }
      await flush();
      // … and once everything it set off has settled.
      snapshots.push(
        `${step.t}: started=[${started.join()}] active=${lim.activeCount} pending=${lim.pendingCount} ` +
          `concurrency=${lim.concurrency} outcomes=[${outcomes.join()}]`,
      );
    }
    for (const gate of gates) gate.resolve(); // let everything settle
    await flush();
    return snapshots;
  }

  it("starts, counts, clears and settles calls exactly as p-limit does", async () => {
    const { default: pLimit } = await import("p-limit");
    const stepArb: fc.Arbitrary<Step> = fc.oneof(
      { weight: 4, arbitrary: fc.constant({ t: "call" as const }) },
      { weight: 3, arbitrary: fc.record({ t: fc.constant("finish" as const), pick: fc.nat(), fail: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("concurrency" as const), value: fc.integer({ min: 1, max: 4 }) }) },
      { weight: 1, arbitrary: fc.constant({ t: "clear" as const }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(stepArb, { maxLength: 25, size: "max" }), async (c, steps) => {
        // Defaults: clearQueue() drops the pending calls without settling them.
        expect(await observe(limit(c), steps)).toEqual(await observe(pLimit(c), steps));
        // The opt-in: clearQueue() rejects them with an AbortError.
        expect(await observe(limit({ concurrency: c, rejectOnClear: true }), steps)).toEqual(
          await observe(pLimit({ concurrency: c, rejectOnClear: true }), steps),
        );
      }),
      { numRuns: 100 },
    );
  });
});
