/**
 * The fault harness's offline checker, on hand-made intervals: it must flag
 * what a broken semaphore produces and pass what a correct one produces.
 */
import { describe, expect, it } from "vitest";
import { checkRun, type Hold, type RunLog } from "../helpers/fault-check.js";

let tokens = 0;
/** A hold believed valid in [granted, end], acquire started 1 ms before the grant. */
function hold(granted: number, end: number | undefined, extra: Partial<Hold> = {}): Hold {
  return { who: `h${tokens}`, token: ++tokens, weight: 1, acquireStart: granted - 1, granted, end, ...extra };
}
function log(holds: Hold[], extra: Partial<RunLog> = {}): RunLog {
  return { capacity: 2, leaseMs: 1000, holds, pending: [], crashes: [], capacityBack: true, ...extra };
}

describe("checkRun: over-admission", () => {
  it("passes holds that never exceed the capacity, and counts the highest level", () => {
    const v = checkRun(log([hold(0, 10), hold(5, 20), hold(12, 30)]));
    expect(v).toMatchObject({ maxBelieved: 2, violations: 0, longestOverMs: 0, failures: [] });
  });

  it("does not count a belief that ended before (or exactly when) another started", () => {
    const v = checkRun(log([hold(0, 10), hold(0, 10), hold(10, 20), hold(10.001, 30)]));
    expect(v.violations).toBe(0);
    expect(v.maxBelieved).toBe(2);
  });

  it("counts each stretch above the capacity once, with the longest overlap in ms", () => {
    // 3 believed in [5, 8] and again in [42, 55]
    const v = checkRun(log([hold(0, 60), hold(5, 8), hold(2, 20), hold(40, 55), hold(42, 57)]));
    expect(v.maxBelieved).toBe(3);
    expect(v.violations).toBe(2);
    expect(v.longestOverMs).toBe(13);
    expect(v.failures[0]).toMatch(/over-admission: 2 stretch/);
    // reported, not failed, where over-admission is documented (a lagging replica)
    const allowed = checkRun(log([hold(0, 60), hold(2, 20), hold(5, 8)]), { allowOverAdmission: true });
    expect(allowed).toMatchObject({ violations: 1, failures: [] });
  });

  it("weighs holds: one heavy holder plus one light one can exceed the capacity", () => {
    const v = checkRun(log([hold(0, 10, { weight: 2 }), hold(9, 12)]));
    expect(v).toMatchObject({ maxBelieved: 3, violations: 1, longestOverMs: 1 });
  });

  it("ignores holds with no successful check, and overlaps shorter than the tolerance", () => {
    expect(checkRun(log([hold(0, 10), hold(1, 10), hold(2, undefined)])).violations).toBe(0);
    const skewed = log([hold(0, 10), hold(1, 10), hold(9.5, 30)]);
    expect(checkRun(skewed).violations).toBe(1);
    expect(checkRun(skewed, { toleranceMs: 1 }).violations).toBe(0);
  });
});

describe("checkRun: fencing tokens", () => {
  it("flags a repeated token", () => {
    const a = hold(0, 5);
    const v = checkRun(log([a, hold(10, 15, { token: a.token })]));
    expect(v.repeatedTokens).toBe(1);
    expect(v.failures.some((f) => f.includes("repeated"))).toBe(true);
  });

  it("flags a token below one granted before the acquire started (causality), not one granted after", () => {
    const early = hold(0, 5, { token: 100 });
    const later = hold(20, 25, { token: 50, acquireStart: 10 }); // began after token 100 was seen
    expect(checkRun(log([early, later])).causalViolations).toBe(1);
    // concurrent: B's acquire began before A's grant was observed, order is free
    const concurrent = hold(20, 25, { token: 50, acquireStart: -5 });
    expect(checkRun(log([early, concurrent])).causalViolations).toBe(0);
  });

  it("respects the tolerance: a grant less than toleranceMs before the acquire is treated as concurrent", () => {
    const a = hold(0, 5, { token: 100 });
    const b = hold(3, 4, { token: 99, acquireStart: 0.5 });
    expect(checkRun(log([a, b])).causalViolations).toBe(1);
    expect(checkRun(log([a, b]), { toleranceMs: 1 }).causalViolations).toBe(0);
  });
});

describe("checkRun: liveness, crashes, lost permits, recovery, lateness", () => {
  it("fails on a hang, a crash, a lost permit and a slow recovery, and says which", () => {
    const v = checkRun(
      log([hold(0, 1)], {
        pending: [{ who: "w0/3", since: 0, what: "acquire" }],
        crashes: ["w1: unhandledRejection: boom"],
        capacityBack: false,
        recoveryMs: 1500,
      }),
    );
    expect(v.hung).toBe(1);
    expect(v.lostPermits).toBe(true);
    expect(v.recoveryRatio).toBe(1.5);
    expect(v.failures).toHaveLength(4);
    expect(v.failures.join("\n")).toMatch(/hung[\s\S]*crashes[\s\S]*lost[\s\S]*1\.50 x the lease/);
  });

  it("passes a recovery within 1.2 x the lease", () => {
    expect(checkRun(log([], { recoveryMs: 1199 })).failures).toEqual([]);
  });

  it("fails a holder that went on believing past its own deadline, even with nobody else holding", () => {
    const v = checkRun(log([hold(0, 1700, { deadline: 1000 }), hold(2000, 2010, { deadline: 3000 })]));
    expect(v.lateMs).toBe(700);
    expect(v.violations).toBe(0);
    expect(v.failures).toEqual(["1 holder(s) believed their permit past their own deadline (by up to 700 ms)"]);
    expect(checkRun(log([hold(0, 1000.5, { deadline: 1000 })]), { toleranceMs: 1 }).failures).toEqual([]);
    expect(checkRun(log([hold(0, 10, { deadline: 1000 })])).lateMs).toBe(0);
    expect(checkRun(log([hold(0, 10)])).lateMs).toBeUndefined();
  });
});
