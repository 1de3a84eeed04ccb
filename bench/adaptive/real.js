/* global setTimeout */ // Node globals: this is a Node script
// The capacity scenario in real time: the same server model (model.js's
// Server, on real timers) behind a node:http server on 127.0.0.1, and a
// closed-loop load of HTTP clients per controller, all controllers at once
// (each against its own model server, so they do not share capacity). Only
// the built AdaptiveSemaphore with its default clock (performance.now()).

import http from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { AdaptiveSemaphore, Semaphore } from "permit-pool";

/** A static limit with the permit interface of AdaptiveSemaphore (drop and ignore release). */
function fixed(n) {
  const sem = new Semaphore(n);
  return {
    get limit() {
      return n;
    },
    stats: () => ({ windows: 0, skippedWindows: 0 }),
    close: () => sem.close(),
    async acquire() {
      const permit = await sem.acquire();
      const end = () => permit.release();
      return { release: end, drop: end, ignore: end };
    },
  };
}
import { closedLoop, RealTime, Server } from "./model.js";

/**
 * Runs `algorithms` (AdaptiveSemaphore algorithms, or "static-N") through
 * `phases` ([{ until, capacity }], ms) at once. Returns per algorithm: limit
 * changes, window close times, per-phase successes/deferrals; and the event
 * loop's delay (p50/p99/max, ms) over the run, which says how loaded this
 * process (and the machine) was.
 */
export async function realTime(algorithms, phases, { workers = 200 } = {}) {
  const time = new RealTime();
  const servers = algorithms.map(() => new Server(time, { base: 100, capacity: phases[0].capacity, rejectAbove: Math.ceil(phases[0].capacity * 1.2) }));
  const httpServer = http.createServer((req, res) => {
    const index = Number(req.url?.slice(1));
    const server = servers[index];
    if (server === undefined) {
      res.writeHead(404).end();
      return;
    }
    server.request((ok) => res.writeHead(ok ? 200 : 503, { "content-length": "0" }).end());
  });
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const { port } = httpServer.address();
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const send = (index) => (done) => {
    const req = http.get({ host: "127.0.0.1", port, path: `/${index}`, agent }, (res) => {
      res.resume();
      res.on("end", () => done(res.statusCode === 200));
    });
    req.on("error", () => done(false));
  };

  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const t0 = time.now;
  const runs = algorithms.map((algorithm, index) => {
    const sem = algorithm.startsWith("static-") ? fixed(Number(algorithm.slice(7))) : new AdaptiveSemaphore({ algorithm, initial: 4, min: 1, max: 200 });
    const run = { name: algorithm, sem, changes: [[0, sem.limit]], windowTimes: [], phases: phases.map(() => ({ ok: 0, deferred: 0, rtts: [] })) };
    let phase = 0;
    let windows = 0;
    let last = sem.limit;
    run.setPhase = (i) => (phase = i);
    const client = { request: send(index) };
    run.load = closedLoop(
      sem,
      client,
      time,
      workers,
      (start, end, ok) => {
        const p = run.phases[phase];
        if (ok) {
          p.ok++;
          p.rtts.push(end - start);
        } else p.deferred++;
      },
      () => {
        const now = time.now - t0;
        if (sem.limit !== last) {
          last = sem.limit;
          run.changes.push([now, last]);
        }
        const stats = sem.stats();
        for (const total = stats.windows + stats.skippedWindows; windows < total; windows++) run.windowTimes.push(now);
      },
    );
    return run;
  });
  for (let i = 1; i < phases.length; i++) {
    setTimeout(() => {
      for (const run of runs) run.setPhase(i);
      for (const server of servers) server.setCapacity(phases[i].capacity);
    }, phases[i - 1].until);
  }
  await new Promise((resolve) => setTimeout(resolve, phases[phases.length - 1].until));
  for (const run of runs) {
    run.load.stop();
    run.sem.close();
  }
  delay.disable();
  const loopDelay = { p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 };
  // Let the requests in flight finish (they end their permits; the semaphores are closed).
  await new Promise((resolve) => setTimeout(resolve, 500));
  agent.destroy();
  await new Promise((resolve) => httpServer.close(resolve));
  return { loopDelay, runs: runs.map(({ name, changes, windowTimes, phases: p }) => ({ name, changes, windowTimes, phases: p })) };
}
