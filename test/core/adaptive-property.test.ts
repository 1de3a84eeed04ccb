/**
 * Property test of AdaptiveSemaphore (fast-check): random interleavings of
 * acquire / tryAcquire and success / drop / ignore / double end / clock steps.
 * Invariants: min ≤ limit ≤ max; at every grant inUse ≤ the enforced capacity;
 * every permit ends exactly once (counted once in stats); nothing leaked.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AdaptiveSemaphore } from "../../src/index.js";
import type { AdaptivePermit } from "../../src/index.js";
import { VirtualClock } from "./adaptive-sim.js";
import { flush } from "./helpers.js";

const op = fc.oneof(
  fc.record({ t: fc.constant("acquire" as const) }),
  fc.record({ t: fc.constant("try" as const) }),
  fc.record({ t: fc.constantFrom("release" as const, "drop" as const, "ignore" as const), pick: fc.nat() }),
  fc.record({ t: fc.constant("again" as const), pick: fc.nat() }),
  fc.record({ t: fc.constant("advance" as const), ms: fc.integer({ min: 1, max: 300 }) }),
);

describe("AdaptiveSemaphore properties", () => {
  it("limit within [min, max], never over capacity at a grant, every permit ends once, nothing leaked", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("aimd" as const, "vegas" as const, "gradient2" as const),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 6 }),
        fc.array(op, { maxLength: 120 }),
        async (algorithm, min, extra, ops) => {
          const clock = new VirtualClock();
          const max = min + extra;
          const sem = new AdaptiveSemaphore({ algorithm, min, max, initial: min, minSamples: 2, epoch: 500, clock: clock.now });
          const held: AdaptivePermit[] = [];
          const ended: AdaptivePermit[] = [];
          let granted = 0;
          const onGrant = (permit: AdaptivePermit): void => {
            granted++;
            expect(sem.inUse).toBeLessThanOrEqual(sem.capacity);
            held.push(permit);
          };
          for (const step of ops) {
            if (step.t === "acquire") void sem.acquire().then(onGrant);
            else if (step.t === "try") {
              const permit = sem.tryAcquire();
              if (permit !== undefined) onGrant(permit);
            } else if (step.t === "advance") clock.t += step.ms;
            else if (step.t === "again") {
              if (ended.length > 0) ended[step.pick % ended.length]!.release();
            } else if (held.length > 0) {
              const [permit] = held.splice(step.pick % held.length, 1);
              permit![step.t]();
              ended.push(permit!);
            }
            await flush();
            expect(sem.limit).toBeGreaterThanOrEqual(min);
            expect(sem.limit).toBeLessThanOrEqual(max);
          }
          while (held.length > 0 || sem.queued > 0) {
            for (const permit of held.splice(0)) {
              permit.ignore();
              ended.push(permit);
            }
            await flush();
          }
          const stats = sem.stats();
          expect(stats.successes + stats.drops + stats.ignored).toBe(granted);
          expect([stats.acquired, stats.released, stats.inUse, stats.queued]).toEqual([granted, granted, 0, 0]);
        },
      ),
      { numRuns: 60 },
    );
  });
});
