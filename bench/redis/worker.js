/* global process, setTimeout, performance */ // Node globals: this is a Node script
// One process of the Redis benchmark (forked by bench/redis/run.js).
// argv: port. Messages from the parent:
//   { cmd: "contend", lib, name, tasks, limit, holdMs, startAt, endAt, leaseMs }
//       run `tasks` loops until endAt; every holder INCRs a Redis-side counter
//       (max reported) and DECRs it before releasing; report every acquisition.
//   { cmd: "uncontended", lib, name, ms, awaitRelease }   acquire+release pairs in a loop.
//   { cmd: "hold", lib, name, leaseMs }                    acquire and hold (to be SIGKILLed).
//   { cmd: "wait", lib, name, leaseMs, giveUpMs }          acquire once, report when (epoch ms).
//   { cmd: "listen", channel, count }                      the floor: subscribe, report when subscribed
//                                                          ("listening"), then the delay of `count` messages.
//   { cmd: "publish", channel, count, gapMs }              the floor: PUBLISH the time `count` times, gapMs
//                                                          apart, then `count` PING round trips.
import { Redis } from "ioredis";
import Bottleneck from "bottleneck";
import { Semaphore as PeerSemaphore } from "redis-semaphore";

const { RedisSemaphore } = await import(process.env.PERMITS_REDIS_MODULE ?? "../../dist/redis/index.js");

const port = Number(process.argv[2]);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Count the commands each library sends: every ioredis command goes through sendCommand.
let commands = 0;
const original = Reflect.get(Redis.prototype, "sendCommand");
Redis.prototype.sendCommand = function (command, ...rest) {
  if (!this.__benchOwn) commands++;
  return original.call(this, command, ...rest);
};

const own = new Redis(port, "127.0.0.1");
own.__benchOwn = true; // the counter's INCR/DECR are the benchmark's, not the library's
const clients = [];
function client() {
  const c = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: null });
  clients.push(c);
  return c;
}

/** A uniform interface over the three libraries: make(taskIndex) -> { run(fn) } */
function makeLib(lib, name, limit, leaseMs) {
  if (lib === "permits") {
    // restartGuard off: the bench starts a fresh redis-server, on which the
    // guard would hold the first grant until the server is a lease old
    // (docs/redis.md, "Safety under faults"); the peers have no such guard.
    const sem = new RedisSemaphore(client(), name, limit, { leaseMs, restartGuard: false });
    return {
      task: () => ({
        async acquire() {
          const permit = await sem.acquire();
          return () => permit.release(); // not awaited: ordered by the connection
        },
      }),
      async close() {
        await sem.onIdle();
      },
    };
  }
  if (lib === "redis-semaphore") {
    const c = client();
    return {
      task: () => {
        const sem = new PeerSemaphore(c, name, limit, {
          lockTimeout: leaseMs,
          acquireTimeout: 120_000,
          refreshInterval: Math.floor(leaseMs * 0.8),
        });
        return {
          async acquire() {
            await sem.acquire();
            return () => sem.release();
          },
        };
      },
      async close() {},
    };
  }
  if (lib === "bottleneck") {
    const limiter = new Bottleneck({
      id: name,
      maxConcurrent: limit,
      datastore: "ioredis",
      clearDatastore: false,
      clientOptions: { host: "127.0.0.1", port },
    });
    limiter.on("error", () => {});
    return {
      task: () => ({
        // Bottleneck has no acquire/release: schedule a job that resolves the
        // grant and holds the slot until released.
        acquire() {
          return new Promise((granted, failed) => {
            limiter
              .schedule(() => new Promise((release) => granted(release)))
              .catch(failed);
          });
        },
      }),
      async close() {
        await limiter.disconnect(false);
      },
      limiter,
    };
  }
  throw new Error(`unknown lib ${lib}`);
}

async function contend({ lib, name, tasks, limit, holdMs, startAt, endAt, leaseMs }) {
  const impl = makeLib(lib, name, limit, leaseMs);
  const counter = `${name}:holders`;
  let maxHolders = 0;
  const events = []; // [task, requested, granted, released]
  await sleep(Math.max(0, startAt - now()));
  const commandsBefore = commands;
  await Promise.all(
    Array.from({ length: tasks }, async (_, i) => {
      const task = `${process.pid}.${i}`;
      const t = impl.task();
      while (now() < endAt) {
        const requested = now();
        const release = await t.acquire();
        const granted = now();
        const holders = await own.incr(counter);
        if (holders > maxHolders) maxHolders = holders;
        await sleep(holdMs);
        await own.decr(counter);
        const released = now();
        await release();
        events.push([task, requested, granted, released]);
      }
    }),
  );
  const libCommands = commands - commandsBefore;
  await impl.close();
  return { events, maxHolders, commands: libCommands };
}

async function uncontended({ lib, name, ms, awaitRelease }) {
  const impl = makeLib(lib, name, 1, 10_000);
  const t = impl.task();
  // warm up (script load, connections)
  for (let i = 0; i < 50; i++) await (await t.acquire())();
  const start = now();
  let pairs = 0;
  while (now() - start < ms) {
    const release = await t.acquire();
    const released = release();
    if (awaitRelease) await released;
    pairs++;
  }
  const elapsed = now() - start;
  await impl.close();
  return { pairsPerSec: (pairs / elapsed) * 1000 };
}

process.on("message", (msg) => {
  (async () => {
    if (msg.cmd === "contend") process.send({ result: await contend(msg) });
    else if (msg.cmd === "uncontended") process.send({ result: await uncontended(msg) });
    else if (msg.cmd === "hold") {
      const impl = makeLib(msg.lib, msg.name, 1, msg.leaseMs);
      await impl.task().acquire();
      process.send({ held: now() });
    } else if (msg.cmd === "wait") {
      const impl = makeLib(msg.lib, msg.name, 1, msg.leaseMs);
      const outcome = await Promise.race([
        impl
          .task()
          .acquire()
          .then(() => ({ grantedAt: now() })),
        sleep(msg.giveUpMs).then(() => ({ grantedAt: undefined })),
      ]);
      process.send({ result: outcome });
    } else if (msg.cmd === "listen") {
      const sub = new Redis(port, "127.0.0.1");
      clients.push(sub);
      const delays = [];
      sub.on("message", (_channel, sent) => {
        delays.push(now() - Number(sent));
        if (delays.length === msg.count) process.send({ result: { delays } });
      });
      await sub.subscribe(msg.channel);
      process.send({ listening: true });
    } else if (msg.cmd === "publish") {
      for (let i = 0; i < msg.count; i++) {
        await own.publish(msg.channel, String(now()));
        await sleep(msg.gapMs);
      }
      const pings = [];
      for (let i = 0; i < msg.count; i++) {
        const sent = now();
        await own.ping();
        pings.push(now() - sent);
        await sleep(1);
      }
      process.send({ result: { pings } });
    } else if (msg.cmd === "exit") {
      for (const c of clients) c.disconnect();
      own.disconnect();
      process.exit(0);
    }
  })().catch((error) => process.send({ error: String(error?.stack ?? error) }));
});
process.send({ ready: true });
