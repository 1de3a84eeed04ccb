/**
 * Issue 11's fault scenarios, with real parts: a real redis-server (a
 * master and a lagging replica for the failover), a TCP proxy of our own in
 * front of it per worker process, 4 processes × 8 tasks on one
 * RedisSemaphore (capacity 3, leaseMs 1200, commandTimeoutMs 600). Each
 * holder logs when it believed its permit valid; the offline checker
 * (test/helpers/fault-check.ts) asserts the acceptance of issue 11:
 * never more than the capacity believed valid at once, no holder believing
 * past its own deadline (send time of its last answered renewal + leaseMs),
 * no permit lost once
 * the faults end, fencing tokens unique and causally increasing, recovery
 * after SIGKILL within 1.2 × the lease, no hang, no unhandled rejection.
 *
 * The figures of the same scenarios: `npm run bench:redis` (bench/redis/faults.js).
 */
import { describe, expect, it } from "vitest";
import { bundleWorker } from "../helpers/fault-harness.js";
import { scenarios, TOLERANCE_MS, type ScenarioResult } from "../helpers/fault-scenarios.js";

function describeResult(r: ScenarioResult): string {
  const v = r.verdict;
  return [
    `(${r.key}) ${r.title}: ${r.grants} grants, ${r.failedAcquires} failed acquires`,
    `max believed ${v.maxBelieved}, ${v.violations} over-admission stretch(es), longest ${v.longestOverMs.toFixed(1)} ms`,
    ...(v.violations > 0 ? [`at the highest level (ms from the first grant): ${v.atMax.join(" | ")}`] : []),
    `late past own deadline: ${v.lateMs === undefined ? "–" : `${v.lateMs.toFixed(0)} ms`}`,
    `tokens repeated ${v.repeatedTokens}, causal violations ${v.causalViolations}`,
    ...r.notes,
    ...v.failures.map((f) => `FAIL ${f}`),
  ].join("\n  ");
}

describe("RedisSemaphore under faults (issue 11)", () => {
  for (const scenario of scenarios) {
    it(`(${scenario.key}) ${scenario.title}`, async () => {
      await bundleWorker();
      const result = await scenario.run();
      const v = result.verdict;
      const why = describeResult(result);
      // soft: every criterion that fails is reported, with the figures
      expect.soft(v.failures, why).toEqual([]);
      expect.soft(v.hung, "no hang").toBe(0);
      expect.soft(v.crashes, "no unhandled rejection or crash").toEqual([]);
      expect.soft(v.lostPermits, "no permit lost once the faults end").toBe(false);
      expect.soft(v.repeatedTokens, "fencing tokens unique").toBe(0);
      expect.soft(v.causalViolations, "fencing tokens causally increasing").toBe(0);
      if (scenario.key !== "i") expect.soft(v.violations, "over-admission").toBe(0);
      expect.soft(v.lateMs ?? 0, "believed past its own deadline, ms").toBeLessThanOrEqual(TOLERANCE_MS);
      if (v.recoveryRatio !== undefined) expect.soft(v.recoveryRatio, "recovery ÷ lease").toBeLessThanOrEqual(1.2);
      // the run exercised the semaphore: grants happened (j runs in-process and logs none)
      if (scenario.key !== "j") expect(result.grants).toBeGreaterThan(0);
    }, 60_000);
  }
});
