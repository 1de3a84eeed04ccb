/* global process, console, setTimeout, setInterval, clearInterval, performance */ // Node globals: this is a Node script
// Fleet adaptive limits, measured: 4 real processes (bench/redis/adaptive-worker.js)
// share one `RedisSemaphore` with `adaptive` (AIMD in Redis) in front of one
// loopback HTTP server that models an overloadable resource (the server model
// of issue 13's benchmark): base latency 100 ms up to K = 10 requests in
// flight, +50 % of the base per request above the knee, 503 at once above 12.
// Each worker runs 16 task loops; a request times out after 2x the base
// (200 ms, so 12 in flight is a timeout already). 503s and timeouts are drops,
// 2xx successes.
//
// Printed: the server's time-weighted mean in flight after convergence
// (target ≤ 1.1 K = 11), its p99 and max, goodput, 503s, timeouts, the limit
// each process saw, and Jain's index of per-process grants after convergence
// (target ≥ 0.95). Env: BENCH_SECONDS (default 30), BENCH_WARMUP (default 10),
// BENCH_BACKOFF (the `adaptive.backoff`; default: the library's, 0.75).
//
// Usage: npm run bench:adaptive:fleet (builds first), or node bench/redis/adaptive-fleet.js
import { fork, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";

const WORKER = fileURLToPath(new URL("./adaptive-worker.js", import.meta.url));
const PROCESSES = 4;
const TASKS = 16;
const K = 10;
const REJECT_ABOVE = 12;
const BASE_MS = 100;
const TIMEOUT_MS = 2 * BASE_MS;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 10);
const ADAPTIVE = {
  algorithm: "aimd",
  initial: 4,
  min: 1,
  max: 64,
  ...(process.env.BENCH_BACKOFF === undefined ? undefined : { backoff: Number(process.env.BENCH_BACKOFF) }),
};
const now = () => performance.timeOrigin + performance.now();

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "permits-bench-adaptive-"));
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], {
    stdio: "ignore",
  });
  const probe = new Redis(port, "127.0.0.1", { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
  probe.on("error", () => {});
  for (let i = 0; i < 100; i++) {
    try {
      await probe.connect().catch(() => {});
      if ((await probe.ping()) === "PONG") break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const version = /redis_version:(\S+)/.exec(await probe.info("server"))?.[1];
  probe.disconnect();
  return {
    port,
    version,
    stop() {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The resource: in flight counted, and integrated over time for the mean. */
function startResource() {
  let inFlight = 0;
  let area = 0; // in flight × ms, from `measureFrom`
  let last = now();
  let measureFrom = Infinity;
  let peak = 0;
  const samples = [];
  const counts = { ok: 0, rejected: 0 };
  const change = (delta) => {
    const t = now();
    if (t >= measureFrom) area += inFlight * (t - Math.max(last, measureFrom));
    last = t;
    inFlight += delta;
    if (t >= measureFrom && inFlight > peak) peak = inFlight;
  };
  const server = createServer((request, response) => {
    change(+1);
    if (inFlight > REJECT_ABOVE) {
      change(-1);
      counts.rejected++;
      response.writeHead(503).end();
      return;
    }
    const latency = BASE_MS * (1 + Math.max(0, inFlight - K) * 0.5);
    setTimeout(() => {
      change(-1);
      if (now() >= measureFrom) counts.ok++;
      response.writeHead(200).end("ok");
    }, latency);
  });
  // Sampled every 5 ms for the percentiles.
  const sampler = setInterval(() => {
    if (now() >= measureFrom) samples.push(inFlight);
  }, 5);
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}/`,
        measure(at) {
          measureFrom = at;
        },
        result(until) {
          change(0);
          const ms = Math.min(until, last) - measureFrom;
          const sorted = samples.slice().sort((a, b) => a - b);
          return {
            mean: area / ms,
            p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
            max: peak,
            goodput: (counts.ok * 1000) / ms,
          };
        },
        close() {
          clearInterval(sampler);
          server.closeAllConnections?.();
          server.close();
        },
      });
    });
  });
}

function jain(xs) {
  const sum = xs.reduce((a, b) => a + b, 0);
  const squares = xs.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (xs.length * squares);
}

const redis = await startRedis();
const resource = await startResource();
const workers = [];
try {
  for (let i = 0; i < PROCESSES; i++) {
    const child = fork(WORKER, [String(redis.port)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    await new Promise((resolve) => child.once("message", resolve));
    workers.push(child);
  }
  const startAt = now() + 1_000; // after every worker's warm-up fetches
  const measureFrom = startAt + WARMUP * 1000;
  const endAt = startAt + SECONDS * 1000;
  const name = `fleet-${Date.now()}`;
  resource.measure(measureFrom);
  const results = await Promise.all(
    workers.map(
      (child) =>
        new Promise((resolve) => {
          child.once("message", resolve);
          child.send({
            cmd: "run",
            name,
            url: resource.url,
            tasks: TASKS,
            startAt,
            measureFrom,
            endAt,
            adaptive: ADAPTIVE,
            timeoutMs: TIMEOUT_MS,
          });
        }),
    ),
  );
  const server = resource.result(endAt);
  const grants = results.map((r) => r.counts.measured);
  const total = (key) => results.reduce((sum, r) => sum + r.counts[key], 0);
  const limitsAfter = results.flatMap((r) => r.limits.filter(([t]) => t >= measureFrom).map(([, l]) => l));
  const meanLimit = limitsAfter.reduce((a, b) => a + b, 0) / Math.max(1, limitsAfter.length);
  const firstAt = (r) => r.limits.find(([, l]) => l >= 0.85 * K && l <= 1.2 * K)?.[0];
  const converged = results.map((r) => firstAt(r)).filter((t) => t !== undefined);

  console.log(`Fleet adaptive limits: ${PROCESSES} processes x ${TASKS} tasks, one RedisSemaphore { adaptive: ${JSON.stringify(ADAPTIVE)} }`);
  console.log(
    `Resource: base ${BASE_MS} ms up to K = ${K} in flight, +50 % per request above, 503 above ${REJECT_ABOVE}; client timeout ${TIMEOUT_MS} ms.`,
  );
  console.log(
    `Redis ${redis.version}, Node ${process.version}, ${cpus().length} cores, load average ${loadavg()[0].toFixed(1)}; ${SECONDS} s, measured after ${WARMUP} s.`,
  );
  console.log("");
  console.log(`total in flight after convergence: mean ${server.mean.toFixed(2)} (${(server.mean / K).toFixed(3)} K; target ≤ 1.1 K), p99 ${server.p99}, max ${server.max}`);
  console.log(`Jain's index of per-process grants after convergence: ${jain(grants).toFixed(4)} (target ≥ 0.95); grants ${grants.join(" / ")}`);
  console.log(`limit seen by the processes after convergence: mean ${meanLimit.toFixed(2)}, min ${Math.min(...limitsAfter)}, max ${Math.max(...limitsAfter)}`);
  console.log(
    `first in [0.85 K, 1.2 K]: ${converged.length === 0 ? "never" : `${((Math.min(...converged) - startAt) / 1000).toFixed(2)} s after the start`}`,
  );
  console.log(`goodput after convergence: ${server.goodput.toFixed(1)} successes/s (the knee's ceiling: ${(K * 1000) / BASE_MS}/s)`);
  console.log(
    `whole run: ${total("successes")} successes, ${total("drops")} drops (${total("rejected503")} 503s, ${total("timeouts")} timeouts), ${total("other")} other`,
  );
  console.log(
    `limit changes observed (each process; causes): ${results.map((r) => JSON.stringify(r.changes)).join(" ")}`,
  );
  const ok = server.mean <= 1.1 * K && jain(grants) >= 0.95;
  console.log(ok ? "targets met" : "TARGETS MISSED");
  process.exitCode = ok ? 0 : 1;
} finally {
  for (const child of workers) child.kill("SIGKILL");
  resource.close();
  redis.stop();
}
