/**
 * AdaptiveSemaphore (issue 13, in-process part): options, permits' outcomes,
 * run()'s classification, and each named behaviour of the controller on a
 * virtual clock against the server model of ./adaptive-sim.ts (no sleeps).
 */
import diagnostics_channel from "node:diagnostics_channel";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AdaptiveSemaphore } from "../../src/index.js";
import type { AdaptivePermit, AdaptiveSemaphoreOptions } from "../../src/index.js";
import { kneeServer, simulate, VirtualClock } from "./adaptive-sim.js";
import { flush, syncError, track } from "./helpers.js";

afterEach(() => {
  vi.restoreAllMocks();
});

function make(options: AdaptiveSemaphoreOptions = {}): { sem: AdaptiveSemaphore; clock: VirtualClock } {
  const clock = new VirtualClock();
  const sem = new AdaptiveSemaphore({ epochJitter: 0, ...options, clock: clock.now });
  return { sem, clock };
}

/** `n` successes of `rtt` ms each, with `n` permits held at once (a utilised window). */
function window(sem: AdaptiveSemaphore, clock: VirtualClock, n: number, rtt: number): void {
  const permits: AdaptivePermit[] = [];
  for (let i = 0; i < n; i++) {
    const permit = sem.tryAcquire();
    if (permit === undefined) break;
    permits.push(permit);
  }
  clock.t += rtt;
  for (const permit of permits) permit.release();
}

describe("AdaptiveSemaphore options", () => {
  it.each([
    [{ algorithm: "bbr" }, RangeError, /`algorithm`.*"gradient2", "aimd" or "vegas".*"bbr"/],
    [{ algorithm: 1 }, TypeError, /`algorithm`/],
    [{ initial: 0 }, RangeError, /`initial`.*`0` \(number\)/],
    [{ initial: 300, max: 200 }, RangeError, /`initial`.*`min` \(1\) to `max` \(200\).*`300`/],
    [{ min: 10, max: 5 }, RangeError, /`max`.*at least `min` \(10\).*`5`/],
    [{ min: 1.5 }, RangeError, /`min`/],
    [{ max: "9" }, TypeError, /`max`.*"9".*string/],
    [{ enforce: "no" }, TypeError, /`enforce`.*boolean/],
    [{ minSamples: 0 }, RangeError, /`minSamples`/],
    [{ window: 0 }, RangeError, /`window`.*above 0/],
    [{ rttNoLoad: -1 }, RangeError, /`rttNoLoad`/],
    [{ epoch: Infinity }, RangeError, /`epoch`/],
    [{ epochJitter: 2 }, RangeError, /`epochJitter`.*from 0 to 1.*`2`/],
    [{ tolerance: 1 }, RangeError, /`tolerance`.*above 1.1/],
    [{ backoff: 1 }, RangeError, /`backoff`.*below 1/],
    [{ backoff: 0 }, RangeError, /`backoff`/],
    [{ slowStart: 1 }, TypeError, /`slowStart`/],
    [{ clock: 5 }, TypeError, /`clock`.*function/],
    [{ name: 5 }, TypeError, /`name`/],
    [{ limit: 5 }, TypeError, /Unknown option `limit`/],
  ])("rejects %j", (options, type, message) => {
    const error = syncError(() => new AdaptiveSemaphore(options as never));
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
  });

  it("defaults: gradient2, initial 4 within [min, max], enforced", () => {
    const sem = new AdaptiveSemaphore();
    const stats = sem.stats();
    expect([stats.algorithm, sem.limit, sem.capacity, stats.enforced, stats.phase]).toEqual(["gradient2", 4, 4, true, "slowStart"]);
    expect(new AdaptiveSemaphore({ max: 2 }).limit).toBe(2);
    expect(new AdaptiveSemaphore({ min: 6 }).limit).toBe(6);
  });

  it("run() rejects a non-function isDrop and unknown options before acquiring", () => {
    const sem = new AdaptiveSemaphore();
    expect(syncError(() => sem.run(() => 1, { isDrop: 1 as never }))).toBeInstanceOf(TypeError);
    expect(syncError(() => sem.run(() => 1, { retries: 1 } as never))).toBeInstanceOf(TypeError);
    expect(sem.inUse).toBe(0);
  });

  it("retryAfter() rejects a bad duration", () => {
    const sem = new AdaptiveSemaphore();
    expect(syncError(() => sem.retryAfter(-1))).toBeInstanceOf(RangeError);
    expect(syncError(() => sem.retryAfter(Infinity))).toBeInstanceOf(RangeError);
    expect(syncError(() => sem.retryAfter("1" as never))).toBeInstanceOf(TypeError);
    expect(sem.limit).toBe(4);
  });
});

describe("round-trip times below the clock's resolution", () => {
  it("windows of 0 ms RTTs leave vegas and gradient2 with a finite limit (no 0/0)", () => {
    for (const algorithm of ["vegas", "gradient2"] as const) {
      const { sem } = make({ algorithm, initial: 2, min: 1, max: 8, minSamples: 2 });
      for (let i = 0; i < 20; i++) sem.tryAcquire()?.release(); // the clock never moves: every RTT is 0
      expect(Number.isFinite(sem.limit)).toBe(true);
      expect(sem.limit).toBeGreaterThanOrEqual(1);
    }
  });
});

describe("AdaptivePermit outcomes", () => {
  it("release, drop and ignore each release exactly once; a second call of any does nothing", async () => {
    for (const first of ["release", "drop", "ignore"] as const) {
      const { sem } = make({ algorithm: "aimd", initial: 8, rttNoLoad: 10 });
      const a = await sem.acquire();
      const b = await sem.acquire();
      a[first]();
      a.release();
      a.drop();
      a.ignore();
      a[Symbol.dispose]();
      expect(a.released).toBe(true);
      expect(sem.inUse).toBe(1);
      const { successes, drops, ignored, released } = sem.stats();
      expect(successes + drops + ignored).toBe(1);
      expect(released).toBe(1);
      expect({ release: successes, drop: drops, ignore: ignored }[first]).toBe(1);
      b.ignore();
    }
  });

  it("release() is a success sample with the round-trip time from grant to release", () => {
    const { sem, clock } = make({ algorithm: "aimd", minSamples: 1, initial: 4 });
    const permit = sem.tryAcquire()!;
    clock.t += 42;
    permit.release();
    expect(sem.stats().rttWindow).toBe(42);
  });

  it("drop() lowers the limit at once (×backoff, at least 1) and releases", () => {
    const { sem } = make({ algorithm: "aimd", initial: 8 });
    const permit = sem.tryAcquire()!;
    permit.drop();
    expect([sem.limit, sem.inUse, sem.stats().phase]).toEqual([6, 0, "steady"]);
  });

  it("`using` counts as release()", async () => {
    const { sem } = make();
    {
      using permit = await sem.acquire();
      expect(permit.weight).toBe(1);
    }
    expect(sem.stats().successes).toBe(1);
  });
});

describe("AdaptiveSemaphore.run() classification", () => {
  it("returning is a success; a TimeoutError is a drop; any other throw is ignored (the default)", async () => {
    const { sem } = make({ algorithm: "aimd", initial: 8 });
    expect(await sem.run(() => 5)).toBe(5);
    const timeout = new DOMException("slow", "TimeoutError");
    await expect(sem.run(async () => Promise.reject(timeout))).rejects.toBe(timeout);
    const notFound = new Error("404");
    await expect(
      sem.run(() => {
        throw notFound;
      }),
    ).rejects.toBe(notFound);
    expect(sem.stats()).toMatchObject({ successes: 1, drops: 1, ignored: 1, inUse: 0 });
    expect(sem.limit).toBe(6);
  });

  it("isDrop decides for thrown errors; a throwing isDrop ignores and rethrows fn's error", async () => {
    const { sem } = make({ algorithm: "aimd", initial: 8 });
    const overloaded = new Error("503");
    const isDrop = (error: unknown): boolean => error === overloaded;
    await expect(sem.run(() => Promise.reject(overloaded), { isDrop })).rejects.toBe(overloaded);
    await expect(sem.run(() => Promise.reject(new DOMException("t", "TimeoutError")), { isDrop })).rejects.toThrow("t");
    const original = new Error("fn");
    await expect(
      sem.run(() => Promise.reject(original), {
        isDrop: () => {
          throw new Error("bug in isDrop");
        },
      }),
    ).rejects.toBe(original);
    expect(sem.stats()).toMatchObject({ drops: 1, ignored: 2, inUse: 0 });
  });

  it("fn may end the permit itself (a 503 received as a value); run then does nothing more", async () => {
    const { sem } = make({ algorithm: "aimd", initial: 8 });
    await sem.run((permit) => {
      permit.drop();
      return "503";
    });
    expect(sem.stats()).toMatchObject({ successes: 0, drops: 1, released: 1 });
  });

  it("an abort in the same tick as the grant: fn never runs, no sample", async () => {
    const { sem } = make({ algorithm: "aimd", initial: 1, max: 1 });
    const held = sem.tryAcquire()!;
    const controller = new AbortController();
    const fn = vi.fn();
    const running = track(sem.run(fn, { signal: controller.signal }));
    held.ignore();
    controller.abort(new Error("gone"));
    await flush();
    expect(running.state).toBe("rejected");
    expect(fn).not.toHaveBeenCalled();
    expect(sem.stats()).toMatchObject({ successes: 0, ignored: 2, inUse: 0 });
  });
});

describe("AdaptiveSemaphore behaviours", () => {
  it("slow start: doubles per clean utilised window until the first congestion signal, then the steady rule (+1)", () => {
    const { sem, clock } = make({ algorithm: "aimd", initial: 4, max: 1000, minSamples: 4 });
    for (const expected of [8, 16, 32, 64]) {
      window(sem, clock, sem.limit, 100);
      expect(sem.limit).toBe(expected);
    }
    expect(sem.stats().phase).toBe("slowStart");
    sem.tryAcquire()!.drop(); // the first congestion signal
    expect(sem.limit).toBe(48);
    window(sem, clock, sem.limit, 100);
    expect([sem.limit, sem.stats().phase]).toEqual([49, "steady"]);
    expect(sem.stats().history.map((change) => change.cause)).toEqual(["slowStart", "slowStart", "slowStart", "slowStart", "drop", "increase"]);
  });

  it("slow start does not grow a limit the load never used (in flight below half the limit)", () => {
    const { sem, clock } = make({ algorithm: "aimd", initial: 40 });
    for (let i = 0; i < 5; i++) window(sem, clock, 10, 100);
    expect(sem.limit).toBe(40);
  });

  it("vegas has slow start too (Netflix#35), and leaves it when the estimated queue passes alpha", () => {
    const { sem, clock } = make({ algorithm: "vegas", initial: 4, rttNoLoad: 100, minSamples: 4 });
    window(sem, clock, 4, 100);
    window(sem, clock, 4, 100);
    expect(sem.limit).toBe(16);
    window(sem, clock, 4, 200); // queue = 16 × (1 − 100/200) = 8 > beta = 6·log10(16) ≈ 7.2
    expect(sem.stats().phase).toBe("steady");
    expect(sem.limit).toBe(15);
  });

  it("after a Retry-After pause it resumes at half the pre-pause limit, not at min, however many 429s the burst brings", () => {
    const { sem, clock } = make({ algorithm: "aimd", initial: 40, max: 100, slowStart: false });
    const inFlight = Array.from({ length: 40 }, () => sem.tryAcquire()!);
    clock.t += 50;
    sem.retryAfter(2_000);
    for (const permit of inFlight) permit.drop(); // the rest of the burst: 429s too
    sem.retryAfter(1_000); // another 429 of the same pause
    expect([sem.limit, sem.stats().phase]).toEqual([20, "paused"]);
    clock.t += 2_000;
    expect(sem.stats().phase).toBe("steady");
    window(sem, clock, 20, 100);
    expect(sem.limit).toBe(21); // the steady rule from half the pre-pause limit
    expect(sem.stats().drops).toBe(40);
  });

  it("rttNoLoad pins the no-load RTT: no probes, no drift", () => {
    const { sem, clock } = make({ algorithm: "gradient2", initial: 10, rttNoLoad: 100, epoch: 1_000 });
    simulate(sem, clock, kneeServer(100, 10), 60_000, () => expect(sem.stats().phase).not.toBe("probe"));
    expect(sem.stats().rttNoLoad).toBe(100);
  });

  it("the no-load RTT cannot drift up under sustained queueing: each epoch's probe re-measures it at half the limit", () => {
    // Saturating demand for 10 minutes, with a limit that queues on the server
    // at the start (initial 30, knee 10): a minimum reset under load would
    // re-learn the loaded RTT (Netflix#37, #165).
    const { sem, clock } = make({ algorithm: "gradient2", initial: 30, slowStart: false, epoch: 10_000 });
    let probes = 0;
    let wasProbing = false;
    simulate(sem, clock, kneeServer(100, 10), 600_000, () => {
      const probing = sem.stats().phase === "probe";
      if (probing && !wasProbing) probes++;
      wasProbing = probing;
    });
    expect(probes).toBeGreaterThanOrEqual(40);
    expect(sem.stats().rttNoLoad).toBeLessThanOrEqual(110);
    expect(sem.limit).toBeLessThanOrEqual(15);
  });

  it("the no-load RTT follows a real change: a server that became slower is re-measured (it can go up)", () => {
    const { sem, clock } = make({ algorithm: "gradient2", initial: 4, epoch: 10_000 });
    simulate(sem, clock, kneeServer(100, 10), 30_000);
    expect(sem.stats().rttNoLoad).toBeCloseTo(100, 0);
    simulate(sem, clock, kneeServer(200, 10), 120_000);
    expect(sem.stats().rttNoLoad).toBeGreaterThanOrEqual(190);
    expect(sem.limit).toBeGreaterThanOrEqual(9); // not collapsed by a stale reference
  });

  it("a probe discards samples of permits granted before it began", () => {
    const { sem, clock } = make({ algorithm: "gradient2", initial: 20, slowStart: false, epoch: 1_000, minSamples: 2 });
    const old = sem.tryAcquire()!; // granted long before the probe
    window(sem, clock, 4, 100);
    window(sem, clock, 4, 100);
    clock.t = 1_500;
    window(sem, clock, 1, 100); // the epoch is over: this success starts the probe
    expect(sem.stats().phase).toBe("probe");
    clock.t += 500;
    old.release(); // an RTT of 2,100 ms: would be a probe sample if it counted
    window(sem, clock, 2, 120);
    expect(sem.stats().phase).toBe("steady");
    expect(sem.stats().rttNoLoad).toBe(120);
  });

  it("epochs are jittered so fleet members do not probe in step", () => {
    const firstProbe = (random: number): number => {
      vi.spyOn(Math, "random").mockReturnValue(random);
      const { sem, clock } = make({ algorithm: "gradient2", initial: 4, max: 4, epoch: 10_000, epochJitter: 0.25 });
      vi.restoreAllMocks();
      let at = -1;
      simulate(sem, clock, { latency: () => 100 }, 20_000, (t) => {
        if (at < 0 && sem.stats().phase === "probe") at = t;
      });
      return at;
    };
    const early = firstProbe(0);
    const late = firstProbe(0.99);
    expect(early).toBeGreaterThanOrEqual(10_000);
    expect(early).toBeLessThan(10_200);
    expect(late).toBeGreaterThanOrEqual(12_475);
    expect(late).toBeLessThan(12_700);
  });

  it("gradient2 without the creep (PR #134): at a steady gradient of 0.8 the limit stays within ±10 % for 10 simulated minutes", () => {
    // Open loop: every round trip takes 125 ms against a no-load 100 ms, a
    // gradient (no-load ÷ RTT) of 0.8 throughout.
    const { sem, clock } = make({ algorithm: "gradient2", initial: 20, rttNoLoad: 100 });
    simulate(sem, clock, { latency: () => 125 }, 600_000, () => {
      expect(sem.limit).toBeGreaterThanOrEqual(18);
      expect(sem.limit).toBeLessThanOrEqual(22);
    });
    expect(sem.stats().windows).toBeGreaterThan(1_000);
  });

  it("gradient2 without the creep, closed loop: past the knee the limit settles and stays within ±10 % for 10 minutes", () => {
    const { sem, clock } = make({ algorithm: "gradient2", initial: 4, epoch: 30_000 });
    simulate(sem, clock, kneeServer(100, 10), 60_000);
    const settled = sem.limit;
    expect(settled).toBeGreaterThanOrEqual(10);
    expect(settled).toBeLessThanOrEqual(15);
    const trace = simulate(sem, clock, kneeServer(100, 10), 660_000);
    const limits = trace.points.map((point) => point[1]);
    // The first window after each probe may step once; the limit never walks away.
    expect(Math.max(...limits.slice(-1000))).toBeLessThanOrEqual(Math.ceil(settled * 1.1) + 4);
    expect(sem.limit).toBeGreaterThanOrEqual(Math.floor(settled * 0.9));
    expect(sem.limit).toBeLessThanOrEqual(Math.ceil(settled * 1.1));
  });

  it("the scenario catches the creep: Netflix's Gradient2 rule (queue term always, long RTT following) walks up under it", () => {
    // A reference model of the rule we replaced, on the same open-loop input:
    // gradient = clamp(1.5 × long / short, 0.5, 1); limit = limit × gradient + 4, smoothed 0.2.
    let limit = 20;
    let long = 100;
    for (let windowIndex = 0; windowIndex < 600_000 / 125; windowIndex++) {
      const short = 125;
      long = long * (1 - 1 / 600) + short / 600;
      const gradient = Math.max(0.5, Math.min(1, (1.5 * long) / short));
      limit = Math.min(200, limit * 0.8 + (limit * gradient + 4) * 0.2);
    }
    expect(limit).toBeGreaterThan(22);
  });

  it("monitor-only (enforce: false) computes and reports the limit but enforces max", () => {
    const { sem, clock } = make({ algorithm: "aimd", initial: 8, max: 50, enforce: false });
    expect(sem.capacity).toBe(50);
    sem.tryAcquire()!.drop();
    expect(sem.limit).toBe(6);
    const held = Array.from({ length: 30 }, () => sem.tryAcquire());
    expect(held.every((permit) => permit !== undefined)).toBe(true);
    expect([sem.inUse, sem.capacity, sem.stats().enforced]).toEqual([30, 50, false]);
    for (const permit of held) permit?.ignore();
    window(sem, clock, 10, 100);
    expect(sem.limit).toBe(7);
  });

  it("windows need minSamples successes (default 10) or are skipped", () => {
    const { sem, clock } = make({ algorithm: "aimd", initial: 8, window: 100 });
    window(sem, clock, 8, 100); // 8 < 10: no verdict yet
    window(sem, clock, 1, 500);
    expect(sem.limit).toBe(8);
    clock.t += 1_000; // ten window lengths without enough samples
    window(sem, clock, 1, 100);
    expect(sem.stats()).toMatchObject({ skippedWindows: 1, windows: 0, limit: 8 });
    window(sem, clock, 8, 100);
    window(sem, clock, 1, 100); // 10 samples in a fresh window
    expect(sem.stats()).toMatchObject({ windows: 1, limit: 16 });
  });

  it("shrinking never revokes a permit: held permits stay held, new grants wait below the new limit", async () => {
    const { sem } = make({ algorithm: "aimd", initial: 8 });
    const held = Array.from({ length: 8 }, () => sem.tryAcquire()!);
    held[0]!.drop();
    expect([sem.limit, sem.inUse, sem.available]).toEqual([6, 7, 0]);
    const next = track(sem.acquire());
    held[1]!.ignore();
    await flush();
    expect(next.state).toBe("pending");
    held[2]!.ignore();
    await flush();
    expect(next.state).toBe("fulfilled");
    for (const permit of held) permit.ignore();
    next.value?.ignore();
    await sem.onIdle();
  });

  it("a queued waiter heavier than a shrunk limit is not rejected: it was accepted when it fitted", async () => {
    const { sem } = make({ algorithm: "aimd", initial: 8 });
    const held = Array.from({ length: 8 }, () => sem.tryAcquire()!);
    const heavy = track(sem.acquire({ weight: 8 }));
    held[0]!.drop(); // 6
    held[1]!.drop(); // granted before the decrease: counted, not acted on
    expect(sem.limit).toBe(6);
    for (const permit of held) permit.ignore();
    await flush();
    expect(heavy.state).toBe("fulfilled");
    heavy.value?.release();
    await flush();
    expect(sem.capacity).toBe(6);
  });

  it("publishes every limit change on the permits:limit channel", () => {
    const seen: unknown[] = [];
    const listener = (message: unknown): void => void seen.push(message);
    diagnostics_channel.subscribe("permits:limit", listener);
    try {
      const { sem } = make({ algorithm: "aimd", initial: 8, name: "api" });
      sem.tryAcquire()!.drop();
      expect(seen).toEqual([{ limiter: sem, limit: 6, previous: 8, cause: "drop" }]);
    } finally {
      diagnostics_channel.unsubscribe("permits:limit", listener);
    }
  });

  it("the three algorithms converge near the knee of the model server and never exceed capacity at a grant", () => {
    for (const algorithm of ["aimd", "vegas", "gradient2"] as const) {
      const { sem, clock } = make({ algorithm, initial: 4, max: 200 });
      const trace = simulate(sem, clock, kneeServer(100, 10, 12), 120_000);
      expect(trace.overCapacity, algorithm).toBeLessThanOrEqual(0);
      const late = trace.points.filter((point) => point[0] > 60_000).map((point) => point[1]);
      expect(Math.min(...late), algorithm).toBeGreaterThanOrEqual(6);
      expect(Math.max(...late), algorithm).toBeLessThanOrEqual(20);
    }
  });
});
