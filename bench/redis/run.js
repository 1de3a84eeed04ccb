/* global process, console, performance */ // Node globals: this is a Node script
// `npm run bench:redis`: permits/redis against redis-semaphore and bottleneck
// (clustering mode) on one real redis-server, in one run, same workload:
// 4 forked processes x 8 tasks, limit 3, 5 ms holds, ~10 s per library, a
// Redis-side counter of holders. Prints a Markdown table (bench/RESULTS-redis.md).
//
// Env: BENCH_SECONDS (default 10), BENCH_LIBS (comma list), PERMITS_REDIS_MODULE
// (default ../../dist/redis/index.js, i.e. after `npm run build`).
import os from "node:os";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { pct, sleep, startRedis, startWorker as startWorkerOf } from "./common.js";

const WORKER = fileURLToPath(new URL("./worker.js", import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const LIBS = (process.env.BENCH_LIBS ?? "permits,redis-semaphore,bottleneck").split(",");
const PROCESSES = 4;
const TASKS = 8;
const LIMIT = 3;
const HOLD_MS = 5;
const LEASE_MS = 10_000;
const CRASH_LEASE_MS = 1_000;
const now = () => performance.timeOrigin + performance.now();

const startWorker = (port) => startWorkerOf(WORKER, [String(port)], 120_000);

const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : "–");

async function totalCommands(admin) {
  const info = await admin.info("stats");
  return Number(/total_commands_processed:(\d+)/.exec(info)[1]);
}

async function contended(lib, port, admin, seconds) {
  const workers = Array.from({ length: PROCESSES }, () => startWorker(port));
  await Promise.all(workers.map((w) => w.ready));
  const name = `bench-${lib}-${Date.now()}`;
  const startAt = now() + 500;
  const endAt = startAt + seconds * 1000;
  const before = await totalCommands(admin);
  for (const w of workers) {
    w.send({ cmd: "contend", lib, name, tasks: TASKS, limit: LIMIT, holdMs: HOLD_MS, startAt, endAt, leaseMs: LEASE_MS });
  }
  const results = (await Promise.all(workers.map((w) => w.next("result")))).map((m) => m.result);
  const after = await totalCommands(admin);
  const finishedAt = now();
  for (const w of workers) w.send({ cmd: "exit" });

  const events = results.flatMap((r) => r.events);
  const acquisitions = events.length;
  const elapsed = (Math.max(...events.map((e) => e[3])) - startAt) / 1000;
  const waits = events.map((e) => e[2] - e[1]).sort((a, b) => a - b);
  // Hand-off: each grant after the first LIMIT takes the slot freed longest ago;
  // a task re-taking the slot it just freed is not a hand-off between waiters.
  const timeline = [];
  for (const [task, , granted, released] of events) {
    timeline.push([granted, 0, task], [released, 1, task]);
  }
  timeline.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const freed = [];
  const handoffs = [];
  let selfRetakes = 0;
  for (const [t, kind, task] of timeline) {
    if (kind === 1) freed.push([t, task]);
    else if (freed.length > 0) {
      const [tr, from] = freed.shift();
      if (from === task) selfRetakes++;
      else handoffs.push(t - tr);
    }
  }
  const perTask = new Map();
  for (const [task] of events) perTask.set(task, (perTask.get(task) ?? 0) + 1);
  // (every task of every process is in `events`: each finished at least one acquisition)
  const counts = [...perTask.values()];
  const jain = counts.reduce((a, b) => a + b, 0) ** 2 / (counts.length * counts.reduce((a, b) => a + b * b, 0));
  const libCommands = results.reduce((a, r) => a + r.commands, 0);
  const counterCommands = 2 * acquisitions;
  const serverCommands = after - before - counterCommands - 2;
  return {
    maxHolders: Math.max(...results.map((r) => r.maxHolders)),
    acquisitions,
    elapsed,
    wall: (finishedAt - startAt) / 1000,
    waits,
    handoffs,
    selfRetakes,
    jain,
    libCommands,
    serverCommands,
  };
}

/** One row from a library's segments (run interleaved with the other libraries'). */
function summarize(lib, segments) {
  const sum = (f) => segments.reduce((a, s) => a + f(s), 0);
  const acquisitions = sum((s) => s.acquisitions);
  const elapsed = sum((s) => s.elapsed);
  const wall = sum((s) => s.wall);
  const waits = segments.flatMap((s) => s.waits).sort((a, b) => a - b);
  const handoffs = segments.flatMap((s) => s.handoffs).sort((a, b) => a - b);
  const selfRetakes = sum((s) => s.selfRetakes);
  return {
    lib,
    maxHolders: Math.max(...segments.map((s) => s.maxHolders)),
    throughput: acquisitions / elapsed,
    ceiling: acquisitions / elapsed / ((LIMIT * 1000) / HOLD_MS),
    handoffP50: pct(handoffs, 50),
    handoffP99: pct(handoffs, 99),
    selfShare: selfRetakes / Math.max(1, selfRetakes + handoffs.length),
    waitP50: pct(waits, 50),
    waitP99: pct(waits, 99),
    waitMax: waits[waits.length - 1],
    jain: Math.min(...segments.map((s) => s.jain)),
    roundTrips: sum((s) => s.libCommands) / acquisitions,
    commandsPerSec: sum((s) => s.serverCommands) / wall,
    clientCommandsPerSec: sum((s) => s.libCommands) / wall,
    acquisitions,
  };
}

/**
 * Uncontended acquire+release pairs/s, one process, one task. The libraries
 * take turns in short rounds (best round kept), so on a shared machine each
 * sees the same load instead of one getting a quiet minute and another a busy one.
 */
async function uncontended(libs, port) {
  const workers = new Map();
  for (const lib of libs) workers.set(lib, startWorker(port));
  await Promise.all([...workers.values()].map((w) => w.ready));
  const best = new Map(libs.map((lib) => [lib, { plain: 0, awaited: 0 }]));
  for (let round = 0; round < 5; round++) {
    for (const awaitRelease of [false, true]) {
      for (const lib of libs) {
        const w = workers.get(lib);
        w.send({ cmd: "uncontended", lib, name: `bench-solo-${lib}-${awaitRelease}-${round}-${Date.now()}`, ms: 500, awaitRelease });
        const key = awaitRelease ? "awaited" : "plain";
        const out = best.get(lib);
        out[key] = Math.max(out[key], (await w.next("result")).result.pairsPerSec);
      }
    }
  }
  for (const w of workers.values()) w.send({ cmd: "exit" });
  return best;
}

async function crashRecovery(lib, port) {
  const name = `bench-crash-${lib}-${Date.now()}`;
  const holder = startWorker(port);
  const waiter = startWorker(port);
  await Promise.all([holder.ready, waiter.ready]);
  holder.send({ cmd: "hold", lib, name, leaseMs: CRASH_LEASE_MS });
  await holder.next("held");
  const giveUpMs = 5 * CRASH_LEASE_MS;
  waiter.send({ cmd: "wait", lib, name, leaseMs: CRASH_LEASE_MS, giveUpMs });
  await sleep(200);
  const killedAt = now();
  holder.child.kill("SIGKILL");
  const { grantedAt } = (await waiter.next("result")).result;
  waiter.send({ cmd: "exit" });
  return grantedAt === undefined ? undefined : grantedAt - killedAt;
}

/**
 * The floor of a pushed hand-off on this machine: a bare PUBLISH from one
 * process to a subscriber in another that has been idle for a hold's length
 * (as a queued waiter is), with no library in between; and, for contrast, a
 * PING round trip from a process that was busy a moment ago. A waiter that
 * sleeps until it is woken cannot be woken faster than the first.
 */
async function floor(port) {
  const [listener, publisher] = [startWorker(port), startWorker(port)];
  await Promise.all([listener.ready, publisher.ready]);
  const count = 400;
  const channel = `bench-floor-${Date.now()}`;
  listener.send({ cmd: "listen", channel, count });
  await listener.next("listening");
  publisher.send({ cmd: "publish", channel, count, gapMs: HOLD_MS });
  const { delays } = (await listener.next("result")).result;
  const { pings } = (await publisher.next("result")).result;
  for (const w of [listener, publisher]) w.send({ cmd: "exit" });
  delays.sort((a, b) => a - b);
  pings.sort((a, b) => a - b);
  return { publishP50: pct(delays, 50), publishP99: pct(delays, 99), pingP50: pct(pings, 50) };
}

const redis = await startRedis();
const admin = new Redis(redis.port, "127.0.0.1");
const version = /redis_version:(\S+)/.exec(await admin.info("server"))[1];
const rows = [];
let wake;
try {
  // Contended runs in an A B C C B A schedule, half the time each, so every
  // library sees the same share of the machine's background load.
  const segments = new Map(LIBS.map((lib) => [lib, []]));
  const failed = new Map();
  for (const lib of [...LIBS, ...[...LIBS].reverse()]) {
    if (failed.has(lib)) continue;
    process.stderr.write(`${lib}: contended ${SECONDS / 2} s ...\n`);
    try {
      segments.get(lib).push(await contended(lib, redis.port, admin, SECONDS / 2));
    } catch (error) {
      failed.set(lib, String(error?.message ?? error));
    }
  }
  for (const lib of LIBS) {
    const row = failed.has(lib) ? { lib, failed: failed.get(lib) } : summarize(lib, segments.get(lib));
    process.stderr.write(`${lib}: crash recovery ...\n`);
    try {
      row.recovery = await crashRecovery(lib, redis.port);
    } catch {
      row.recovery = undefined;
    }
    rows.push(row);
  }
  process.stderr.write(`floor: PUBLISH to an idle subscriber ...\n`);
  try {
    wake = await floor(redis.port);
  } catch {
    wake = undefined;
  }
  process.stderr.write(`uncontended, interleaved ...\n`);
  try {
    const solo = await uncontended(LIBS, redis.port);
    for (const row of rows) row.solo = solo.get(row.lib);
  } catch (error) {
    for (const row of rows) row.solo = { plain: NaN, awaited: NaN, failed: String(error) };
  }
} finally {
  admin.disconnect();
  await redis.stop();
}

const lines = [];
lines.push(
  `Redis ${version} on loopback, Node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), load average ${os.loadavg()[0].toFixed(1)}.`,
  `Workload: ${PROCESSES} processes x ${TASKS} tasks, limit ${LIMIT}, ${HOLD_MS} ms holds, ${SECONDS} s per library (two halves, interleaved A B C C B A); ceiling ${(LIMIT * 1000) / HOLD_MS}/s.`,
  `Lease (lockTimeout) ${LEASE_MS} ms; crash recovery measured with a ${CRASH_LEASE_MS} ms lease (given up after ${5 * CRASH_LEASE_MS} ms).`,
  "",
  "| library | max holders | acq/s | % of ceiling | hand-off p50 / p99 ms | self re-takes | wait p50 / p99 / max ms | Jain | client cmds / acq | client cmds/s | Redis cmds/s (incl. inside scripts) | crash recovery ms | uncontended pairs/s (release awaited) |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
);
for (const r of rows) {
  if (r.failed) {
    lines.push(`| ${r.lib} | failed: ${r.failed.replace(/\|/g, "/").slice(0, 120)} ||||||||||||`);
    continue;
  }
  lines.push(
    `| ${r.lib} | ${r.maxHolders} | ${fmt(r.throughput, 0)} | ${fmt(r.ceiling * 100, 1)}% | ${fmt(r.handoffP50, 2)} / ${fmt(r.handoffP99, 2)} | ${fmt(r.selfShare * 100, 0)}% | ${fmt(r.waitP50)} / ${fmt(r.waitP99)} / ${fmt(r.waitMax)} | ${fmt(r.jain, 3)} | ${fmt(r.roundTrips, 2)} | ${fmt(r.clientCommandsPerSec, 0)} | ${fmt(r.commandsPerSec, 0)} | ${r.recovery === undefined ? "not recovered" : fmt(r.recovery, 0)} | ${fmt(r.solo.plain, 0)} (${fmt(r.solo.awaited, 0)}) |`,
  );
}
const ours = rows.find((r) => r.lib === "permits");
const peer = rows.find((r) => r.lib === "redis-semaphore");
if (ours && peer && !ours.failed && !peer.failed) {
  lines.push(
    "",
    `permits vs redis-semaphore: throughput ${fmt((ours.throughput / peer.throughput) * 100, 1)}%, ` +
      `hand-off p50 ${fmt(ours.handoffP50, 2)} vs ${fmt(peer.handoffP50, 2)} ms, p99 ${fmt(ours.handoffP99, 2)} vs ${fmt(peer.handoffP99, 2)} ms, ` +
      `max wait ${fmt(ours.waitMax / peer.waitMax, 3)}x, client commands per acquisition ${fmt(ours.roundTrips / peer.roundTrips, 2)}x, ` +
      `crash recovery ${fmt(ours.recovery / CRASH_LEASE_MS, 2)}x the lease.`,
    `Uncontended pairs/s: as each library documents it (permits: \`permit.release()\`, not awaited; redis-semaphore: \`await sem.release()\`) ` +
      `${fmt(ours.solo.plain / peer.solo.awaited, 2)}x; like for like ${fmt(ours.solo.plain / peer.solo.plain, 2)}x (neither awaited), ` +
      `${fmt(ours.solo.awaited / peer.solo.awaited, 2)}x (both awaited).`,
  );
}
if (wake !== undefined) {
  lines.push(
    "",
    `Floor of a pushed hand-off here: a bare PUBLISH reaches a subscriber process idle for ${HOLD_MS} ms in ` +
      `p50 ${fmt(wake.publishP50, 2)} / p99 ${fmt(wake.publishP99, 2)} ms (no library; a PING round trip from a busy process: p50 ${fmt(wake.pingP50, 2)} ms)` +
      (ours && !ours.failed ? `; permits' hand-off p50 is ${fmt(ours.handoffP50 / wake.publishP50, 2)}x that floor.` : "."),
  );
}
console.log(lines.join("\n"));
