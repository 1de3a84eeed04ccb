/**
 * A deterministic server model for the AdaptiveSemaphore's algorithm tests:
 * synchronous, on a virtual clock, with saturating demand (every free permit
 * is taken at once with `tryAcquire`), so ten simulated minutes take well
 * under a second and nothing sleeps. Not a test file.
 */
import type { AdaptivePermit, AdaptiveSemaphore } from "../../src/index.js";

/** A clock the semaphore reads through its `clock` option. */
export class VirtualClock {
  t = 0;
  readonly now = (): number => this.t;
}

export interface ServerModel {
  /** Round-trip time (ms) of a request granted with `inFlight` in flight (itself included) at time `t`. */
  latency(inFlight: number, t: number): number;
  /** Whether that request is rejected (a 503: the permit is dropped), answered after `latency`. */
  rejects?(inFlight: number, t: number): boolean;
}

/** The model: base latency 100 ms, a knee at K in flight after which latency grows with load. */
export function kneeServer(base = 100, knee = 10, rejectAbove = Infinity): ServerModel {
  return {
    latency: (n) => base * Math.max(1, n / knee),
    rejects: (n) => n > rejectAbove,
  };
}

interface Pending {
  at: number;
  permit: AdaptivePermit;
  drop: boolean;
}

export interface Trace {
  /** [time, limit, capacity, inUse] after each completion. */
  points: [number, number, number, number][];
  /** The largest inUse ever seen right after a grant, relative to the capacity then. */
  overCapacity: number;
  completions: number;
}

/**
 * Runs `sem` against `server` from the clock's current time until `until`
 * (ms), then ends what is still in flight with `ignore()` so nothing leaks.
 * `every` is called after each completion (for checks over time).
 */
export function simulate(
  sem: AdaptiveSemaphore,
  clock: VirtualClock,
  server: ServerModel,
  until: number,
  every?: (t: number) => void,
): Trace {
  const pending: Pending[] = [];
  const trace: Trace = { points: [], overCapacity: 0, completions: 0 };
  const fill = (): void => {
    for (let permit = sem.tryAcquire(); permit !== undefined; permit = sem.tryAcquire()) {
      const n = sem.inUse;
      trace.overCapacity = Math.max(trace.overCapacity, n - sem.capacity);
      const at = clock.t + server.latency(n, clock.t);
      const item = { at, permit, drop: server.rejects?.(n, clock.t) ?? false };
      let i = pending.length;
      while (i > 0 && pending[i - 1]!.at > at) i--;
      pending.splice(i, 0, item);
    }
  };
  fill();
  while (pending.length > 0 && pending[0]!.at <= until) {
    const next = pending.shift()!;
    clock.t = next.at;
    if (next.drop) next.permit.drop();
    else next.permit.release();
    trace.completions++;
    trace.points.push([clock.t, sem.limit, sem.capacity, sem.inUse]);
    every?.(clock.t);
    fill();
  }
  clock.t = until;
  for (const item of pending) item.permit.ignore();
  return trace;
}
