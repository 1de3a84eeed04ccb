/* global process, fetch, AbortSignal, performance, setTimeout, setInterval, clearInterval */ // Node globals: this is a Node script
// One process of the fleet adaptive benchmark (forked by bench/redis/adaptive-fleet.js).
// argv: redis port. Message from the parent:
//   { cmd: "run", name, url, tasks, startAt, measureFrom, endAt, adaptive, timeoutMs }
//       `tasks` loops until endAt (epoch ms), each: acquire a permit of the one
//       adaptive RedisSemaphore, GET url with a timeout; 503 or timeout → drop(),
//       2xx → release() (a success), anything else → ignore(). Reports counts
//       (those granted from measureFrom on separately) and the limit it saw.
import diagnostics_channel from "node:diagnostics_channel";
import { Redis } from "ioredis";

const { RedisSemaphore } = await import(process.env.PERMITS_REDIS_MODULE ?? "../../dist/redis/index.js");

const port = Number(process.argv[2]);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

process.on("message", (message) => {
  if (message.cmd === "run") void run(message);
});

async function run(message) {
  const { name, url, tasks, startAt, measureFrom, endAt, adaptive, timeoutMs } = message;
  const redis = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: null });
  // restartGuard off: the bench starts a fresh redis-server (see bench/redis/worker.js).
  const sem = new RedisSemaphore(redis, name, { adaptive, restartGuard: false });
  const counts = { grants: 0, measured: 0, successes: 0, drops: 0, rejected503: 0, timeouts: 0, other: 0 };
  const limits = []; // [epoch ms, limit] every 100 ms
  const changes = {}; // cause → how many limit changes this process observed
  diagnostics_channel.subscribe("permits:limit", (m) => {
    if (m.limiter === sem) changes[m.cause] = (changes[m.cause] ?? 0) + 1;
  });
  const sampler = setInterval(() => limits.push([now(), sem.limit]), 100);
  // Warm the HTTP client (connections, JIT) outside the semaphore: a cold
  // first fetch on this loaded machine can take past the timeout, and that
  // drop would end slow start before the run begins.
  await Promise.all([0, 1].map(() => fetch(url).then((r) => r.arrayBuffer())));
  await sleep(Math.max(0, startAt - now()));
  const loop = async () => {
    while (now() < endAt) {
      const permit = await sem.acquire();
      counts.grants++;
      if (now() >= measureFrom) counts.measured++;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        await response.arrayBuffer();
        if (response.status === 503) {
          counts.rejected503++;
          counts.drops++;
          void permit.drop();
        } else if (response.ok) {
          counts.successes++;
          void permit.release();
        } else {
          counts.other++;
          void permit.ignore();
        }
      } catch (error) {
        if (error?.name === "TimeoutError") {
          counts.timeouts++;
          counts.drops++;
          void permit.drop();
        } else {
          counts.other++;
          void permit.ignore();
        }
      }
    }
  };
  await Promise.all(Array.from({ length: tasks }, loop));
  clearInterval(sampler);
  await sem.onIdle();
  await sem.close();
  redis.disconnect();
  process.send({ done: true, counts, limits, changes });
}

process.send({ ready: true });
