/**
 * fast-check model test of the scheduling disciplines (issue 12): random
 * acquires with weights, priorities and tenants, releases, aborts and
 * elapsed time (for aging), on a Semaphore with or without `aging` and
 * `weights`. Checked at every grant, against the waiters present at that
 * moment (a reference that knows only the rules, not the heap or the tags):
 * - never over capacity;
 * - if the oldest waiter has waited `aging` ms, the grant is that waiter;
 *   else no waiter present has a higher priority than the one granted (a
 *   higher one that does not fit blocks the lower ones);
 * - FIFO within a tenant and priority: nobody of the same tenant and
 *   priority who came earlier is still waiting;
 * - without tenants, FIFO within a priority;
 * and at the end, with everything released: every waiter settled exactly
 * once, nothing in use or queued, no timer left.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Semaphore, type Permit } from "../../src/index.js";
import { flush, useFakeClock } from "./helpers.js";

afterEach(() => {
  vi.useRealTimers();
});

type Op =
  | { t: "acquire"; weight: number; priority: number; tenant: number; abortable: boolean }
  | { t: "release"; pick: number }
  | { t: "abort"; pick: number }
  | { t: "advance"; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant("acquire" as const),
      weight: fc.integer({ min: 1, max: 3 }),
      priority: fc.integer({ min: -1, max: 2 }),
      tenant: fc.integer({ min: -1, max: 2 }), // -1: no tenant
      abortable: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("release" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("abort" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("advance" as const), ms: fc.integer({ min: 1, max: 60 }) }) },
);

interface W {
  id: number;
  weight: number;
  priority: number;
  tenant: number;
  since: number;
  abort: AbortController | undefined;
  settled: number;
  permit: Permit | undefined;
  state: "queued" | "granted" | "aborted" | "released";
}

describe("scheduling disciplines: model-based (fast-check)", () => {
  it("holds capacity, the priority/aging order and per-tenant FIFO at every grant; nothing leaks", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          capacity: fc.integer({ min: 1, max: 4 }),
          aging: fc.option(fc.integer({ min: 20, max: 100 })),
          weighted: fc.boolean(),
          ops: fc.array(opArb, { maxLength: 50 }),
        }),
        async ({ capacity, aging, weighted, ops }) => {
          useFakeClock();
          const sem = new Semaphore(capacity, {
            ...(aging === null ? {} : { aging }),
            ...(weighted ? { weights: (t: string) => Number(t.slice(1)) + 1 } : {}),
          });
          const all: W[] = [];
          let inUse = 0;
          const violations: string[] = [];
          /** Settlements in the order they happened (a grant resolves, an abort rejects, in that order). */
          const log: { w: W; granted: boolean }[] = [];
          const replay = (): void => {
            for (const { w, granted } of log.splice(0)) {
              if (granted) onGrant(w);
              else w.state = "aborted";
            }
          };
          const onGrant = (w: W): void => {
            const present = all.filter((x) => x.state === "queued" && x !== w);
            const now = Date.now();
            if (inUse + w.weight > capacity) violations.push(`over capacity at #${w.id}`);
            const oldest = [w, ...present].sort((a, b) => a.id - b.id)[0]!;
            // Fast-path grants (nobody queued) are checked by capacity only.
            if (present.length > 0) {
              if (aging !== null && now - oldest.since >= aging) {
                if (oldest !== w) violations.push(`#${w.id} granted while #${oldest.id} had aged`);
              } else if (present.some((x) => x.priority > w.priority)) {
                violations.push(`#${w.id} (p${w.priority}) granted past a higher priority`);
              }
              if (present.some((x) => x.tenant === w.tenant && x.priority === w.priority && x.id < w.id)) {
                violations.push(`#${w.id} passed an earlier waiter of its tenant and priority`);
              }
            }
            inUse += w.weight;
            w.state = "granted";
          };
          for (const op of ops) {
            if (op.t === "acquire") {
              if (op.weight > capacity) continue;
              const w: W = {
                id: all.length,
                weight: op.weight,
                priority: op.priority,
                tenant: op.tenant,
                since: Date.now(),
                abort: op.abortable ? new AbortController() : undefined,
                settled: 0,
                permit: undefined,
                state: "queued",
              };
              all.push(w);
              sem
                .acquire({
                  weight: w.weight,
                  priority: w.priority,
                  ...(w.tenant < 0 ? {} : { tenant: `t${w.tenant}` }),
                  ...(w.abort === undefined ? {} : { signal: w.abort.signal }),
                })
                .then(
                  (permit) => {
                    w.settled++;
                    w.permit = permit;
                    log.push({ w, granted: true });
                  },
                  () => {
                    w.settled++;
                    log.push({ w, granted: false });
                  },
                );
            } else if (op.t === "release") {
              const holders = all.filter((x) => x.state === "granted" && x.permit !== undefined);
              const h = holders[op.pick % Math.max(1, holders.length)];
              if (h !== undefined) {
                h.state = "released";
                inUse -= h.weight;
                h.permit!.release();
              }
            } else if (op.t === "abort") {
              const queued = all.filter((x) => x.state === "queued" && x.abort !== undefined);
              queued[op.pick % Math.max(1, queued.length)]?.abort!.abort();
            } else {
              vi.advanceTimersByTime(op.ms);
            }
            await flush();
            replay();
            expect(sem.inUse).toBe(inUse);
            expect(sem.queued).toBe(all.filter((x) => x.state === "queued").length);
          }
          // Drain: release everything, repeatedly, until nobody waits.
          for (let round = 0; round < 200 && all.some((x) => x.state === "queued" || x.state === "granted"); round++) {
            for (const h of all.filter((x) => x.state === "granted" && x.permit !== undefined)) {
              h.state = "released";
              inUse -= h.weight;
              h.permit!.release();
            }
            await flush();
            replay();
            vi.advanceTimersByTime(10); // lets the oldest age
          }
          expect(violations).toEqual([]);
          expect(all.every((x) => x.settled === 1)).toBe(true);
          expect(sem.stats()).toMatchObject({ inUse: 0, queued: 0 });
          expect(vi.getTimerCount()).toBe(0);
          vi.useRealTimers();
        },
      ),
      { numRuns: 300 },
    );
  });

  it("acquires (priorities, tenants), releases and aborts raced in every order fc.scheduler picks: never over capacity, each settles once, nothing leaked", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 3 }),
        fc.array(
          fc.record({
            weight: fc.integer({ min: 1, max: 3 }),
            priority: fc.integer({ min: 0, max: 2 }),
            tenant: fc.constantFrom("a", "b", "c"),
            abort: fc.boolean(),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        async (s, capacity, requests) => {
          const sem = new Semaphore(capacity, { weights: (t) => (t === "a" ? 1 : t === "b" ? 2 : 3) });
          let inUse = 0;
          let over = false;
          const settled: number[] = requests.map(() => 0);
          const controllers = requests.map(() => new AbortController());
          const all = requests.map((r, i) =>
            s.schedule(Promise.resolve(i), `acquire ${i}`).then(async () => {
              if (r.weight > capacity) return;
              let permit: Permit;
              try {
                permit = await sem.acquire({ weight: r.weight, priority: r.priority, tenant: r.tenant, signal: controllers[i]!.signal });
              } catch {
                settled[i]!++;
                return;
              }
              settled[i]!++;
              inUse += r.weight;
              if (inUse > capacity) over = true;
              await s.schedule(Promise.resolve(), `release ${i}`);
              inUse -= r.weight;
              permit.release();
            }),
          );
          const aborts = requests.map((r, i) =>
            r.abort ? s.schedule(Promise.resolve(), `abort ${i}`).then(() => controllers[i]!.abort()) : Promise.resolve(),
          );
          await s.waitIdle();
          await Promise.all([...all, ...aborts]);
          expect(over).toBe(false);
          requests.forEach((r, i) => expect(settled[i]).toBe(r.weight > capacity ? 0 : 1));
          expect(sem.stats()).toMatchObject({ inUse: 0, queued: 0 });
          for (const t of Object.values(sem.stats().tenants ?? {})) expect(t).toMatchObject({ queued: 0, inUse: 0 });
        },
      ),
      { numRuns: 200 },
    );
  });
});
