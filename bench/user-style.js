// Issue 12's "benchmark written the way users write one", as a user writes it: one fresh
// process per measurement, no --expose-gc, no warm-up, no limit check, no harness around
// the loop: 200,000 tasks started at once, each
//   const p = await sem.acquire(); try { n++; await null; n--; } finally { p.release(); }
//   node bench/user-style.js <permits|es-toolkit|linked-fifo> [capacity] [tasks]
// prints `RESULT {"value": tasks/s, "cpu": tasks/s on CPU time}`. run.js (workload "u")
// spawns it with no flags, rotating the libraries between repetitions.

import { performance } from "node:perf_hooks";
import process from "node:process";

const [lib = "permits", capArg = "4", nArg = "200000"] = process.argv.slice(2);
const cap = Number(capArg);
const N = Number(nArg);

let sem;
if (lib === "permits") {
  const { Semaphore } = await import(process.env.PERMITS_DIST ?? "../dist/index.js");
  sem = new Semaphore(cap);
} else if (lib === "es-toolkit") {
  const { Semaphore } = await import("es-toolkit");
  sem = new Semaphore(cap);
} else if (lib === "linked-fifo") {
  const { LinkedFifoSemaphore } = await import("./linked-fifo.js");
  sem = new LinkedFifoSemaphore(cap);
} else {
  throw new Error(`unknown library ${lib}`);
}

let n = 0;
let max = 0;
// es-toolkit's acquire() resolves to nothing and releases on the semaphore: the same loop,
// written the way its README shows.
const task =
  lib === "es-toolkit"
    ? async () => {
        await sem.acquire();
        try {
          n++;
          if (n > max) max = n;
          // The body, verbatim: one microtask.
          // eslint-disable-next-line @typescript-eslint/await-thenable
          await null;
          n--;
        } finally {
          sem.release();
        }
      }
    : async () => {
        const p = await sem.acquire();
        try {
          n++;
          if (n > max) max = n;
          // The body, verbatim: one microtask.
          // eslint-disable-next-line @typescript-eslint/await-thenable
          await null;
          n--;
        } finally {
          p.release();
        }
      };

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const tasks = [];
for (let i = 0; i < N; i++) tasks.push(task());
await Promise.all(tasks);
const wall = performance.now() - t0;
const used = process.cpuUsage(cpu0);
if (max !== cap || n !== 0) throw new Error(`limit broken: max ${max}, capacity ${cap}, left ${n}`);
process.stdout.write(`RESULT ${JSON.stringify({ value: N / (wall / 1000), cpu: N / ((used.user + used.system) / 1e6), limit: { max, expected: cap } })}\n`);
