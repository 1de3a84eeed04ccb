/**
 * The demo's four approaches, run against a fake server on fake timers, so
 * the scheduling each approach produces is exact and repeatable. The fake
 * server answers after 100 ms plus 1 ms of "network" — as on a real
 * loopback, the response arrives just after a 100 ms poll fires, which is
 * what makes polling expensive.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { APPROACHES, runApproach, type ApproachKey, type ApproachRun } from "../../packages/cli/src/demo/scenarios.js";
import { REQUEST_ID_HEADER, type ServedRequest } from "../../packages/cli/src/demo/server.js";
import { computeStats } from "../../packages/cli/src/demo/report.js";

const DELAY = 100;
const NETWORK = 1;

function fakeServer() {
  let active = 0;
  let peak = 0;
  let served: ServedRequest[] = [];
  const fakeFetch: typeof fetch = async (_input, init) => {
    const id = Number(new Headers(init?.headers).get(REQUEST_ID_HEADER));
    active++;
    peak = Math.max(peak, active);
    const record: ServedRequest = { id, start: performance.now(), end: undefined, concurrent: active };
    served.push(record);
    await new Promise((resolve) => setTimeout(resolve, DELAY));
    active--;
    record.end = performance.now();
    await new Promise((resolve) => setTimeout(resolve, NETWORK));
    return new Response("ok\n");
  };
  return {
    fetch: fakeFetch,
    probe: {
      reset() {
        peak = active;
        served = [];
      },
      get peak() {
        return peak;
      },
      get served() {
        return served;
      },
    },
  };
}

async function run(key: ApproachKey, requests = 10, limit = 3): Promise<ApproachRun> {
  const server = fakeServer();
  const done = runApproach(key, { url: "http://fake.invalid/", requests, limit, poll: 100, fetch: server.fetch }, server.probe);
  await vi.runAllTimersAsync();
  return done;
}

const starts = (r: ApproachRun): number[] => r.traces.map((t) => Math.round(t.started ?? -1));

describe("the seed's scenario on fake timers (10 requests, limit 3, 100 ms + 1 ms each, polls every 100 ms)", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance", "Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("the Semaphore holds the limit and starts each request the moment a slot frees", async () => {
    const r = await run("semaphore");
    expect(r.serverPeak).toBe(3);
    expect(starts(r)).toEqual([0, 0, 0, 101, 101, 101, 202, 202, 202, 303]);
    expect(computeStats(r)).toMatchObject({ totalMs: 404, wakeUps: 0, idleSlotMs: 0, failed: 0 });
  });

  it("limitFetch holds the limit just like the Semaphore", async () => {
    const r = await run("limitFetch");
    expect(r.serverPeak).toBe(3);
    expect(starts(r)).toEqual([0, 0, 0, 101, 101, 101, 202, 202, 202, 303]);
    expect(computeStats(r)).toMatchObject({ totalMs: 404, wakeUps: 0, failed: 0 });
  });

  it("the polled counter never overshoots (no await between check and increment) but loses a poll period per round", async () => {
    const r = await run("polled");
    expect(r.serverPeak).toBe(3);
    // Each response lands 1 ms after the poll that could have used its slot: a whole 100 ms is lost per round.
    expect(starts(r)).toEqual([0, 0, 0, 200, 200, 200, 400, 400, 400, 600]);
    expect(computeStats(r)).toMatchObject({ totalMs: 701, wakeUps: 24, wastedWakeUps: 17 });
  });

  it("the counter behind a Lock, checked outside it as written, lets every request through at once", async () => {
    const r = await run("locked");
    // All ten pass `connections >= limit` before the first `await lock.acquire()` returns.
    expect(r.serverPeak).toBe(10);
    expect(starts(r)).toEqual(Array(10).fill(0));
    expect(computeStats(r)).toMatchObject({ totalMs: 101, wakeUps: 0 });
  });

  it("the lock version with asyncio's semantics (a free lock taken without yielding) does not race: it is the polled counter", async () => {
    const r = await run("lockedAsyncio");
    expect(r.serverPeak).toBe(3);
    expect(starts(r)).toEqual([0, 0, 0, 200, 200, 200, 400, 400, 400, 600]);
    expect(computeStats(r)).toMatchObject({ totalMs: 701, wakeUps: 24, wastedWakeUps: 17 });
  });

  it("with the limit at or above the number of requests, every approach sends everything at once", async () => {
    for (const key of APPROACHES) {
      const r = await run(key, 4, 4);
      expect(r.serverPeak, key).toBe(4);
      expect(computeStats(r).totalMs, key).toBe(101);
    }
  });
});
