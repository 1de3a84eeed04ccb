/**
 * The fault harness of issue 11: worker processes (test/redis/fixtures/
 * fault-worker.ts, bundled once with esbuild) × tasks on one RedisSemaphore,
 * each worker behind a TcpProxy of its own in front of a real redis-server,
 * so a fault can hit one holder's connection or all of them. The parent
 * collects every hold as its holder saw it and hands the log to the offline
 * checker (fault-check.ts).
 *
 * Used by the tests (test/redis/fleet-faults.test.ts) and the benchmark
 * (bench/redis/faults.js, through a bundle of fault-scenarios.ts): one
 * implementation.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { Hold, Pending } from "./fault-check.js";
import type { Plan } from "../redis/fixtures/fault-worker.js";
import { TcpProxy } from "./tcp-proxy.js";

/** The repository root: this file is test/helpers/x.ts, or bench/.tmp/x.mjs when bundled. */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SOURCE = join(ROOT, "test/redis/fixtures/fault-worker.ts");
const BUNDLE = join(ROOT, "node_modules/.cache/permits-test/fault-worker.mjs");

/** ms on the system's monotonic clock, shared by every process on the machine (see fault-check.ts). */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let bundled: Promise<void> | undefined;
/**
 * Bundles the worker once per process (node_modules stay external): forks
 * start in tens of ms. Written to a temporary file and renamed, so runs in
 * parallel (a test file and the bench) never fork a half-written bundle.
 */
export function bundleWorker(): Promise<void> {
  bundled ??= (async () => {
    const out = await build({
      entryPoints: [SOURCE],
      bundle: true,
      platform: "node",
      format: "esm",
      packages: "external",
      outfile: BUNDLE,
      write: false,
      logLevel: "error",
    });
    mkdirSync(dirname(BUNDLE), { recursive: true });
    const temporary = `${BUNDLE}.${process.pid}.tmp`;
    writeFileSync(temporary, out.outputFiles[0]!.contents);
    renameSync(temporary, BUNDLE);
  })();
  return bundled;
}

interface Grant {
  who: string;
  token: number;
  weight: number;
  acquireStart: number;
  granted: number;
  id: string;
}

type Message =
  | { ev: "ready" }
  | { ev: "g"; grant: Grant }
  | { ev: "h"; hold: Hold & { id?: string } }
  | { ev: "crash"; what: string }
  | { ev: "done"; counts: Record<string, number>; errors: Record<string, number> }
  | { ev: "status"; pending: Pending[] };

/** One worker process and its own proxy. */
export class FaultWorker {
  readonly label: string;
  readonly proxy: TcpProxy;
  readonly child: ChildProcess;
  /** Set when the harness killed it on purpose. */
  killedAt: number | undefined;
  exited = false;
  done: { counts: Record<string, number>; errors: Record<string, number> } | undefined;
  readonly #fleet: Fleet;
  readonly #listeners = new Set<(m: Message) => void>();

  constructor(fleet: Fleet, label: string, proxy: TcpProxy) {
    this.#fleet = fleet;
    this.label = label;
    this.proxy = proxy;
    this.child = fork(BUNDLE, [String(proxy.port), label], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (m: Message) => {
      fleet.receive(this, m);
      for (const listener of [...this.#listeners]) listener(m);
    });
    this.child.once("exit", (code, signal) => {
      this.exited = true;
      if (this.killedAt === undefined && this.#fleet.expectExit !== true) {
        fleet.crashes.push(`${label} exited unexpectedly (${code ?? signal})`);
      }
    });
  }

  /** The next message matching `test`, within `ms`. */
  next<T extends Message>(test: (m: Message) => m is T, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        reject(new Error(`${this.label}: no ${what} within ${ms} ms`));
      }, ms);
      const listener = (m: Message): void => {
        if (!test(m)) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(m);
      };
      this.#listeners.add(listener);
    });
  }

  send(message: object): void {
    if (this.child.connected) this.child.send(message);
  }

  /** SIGKILL, now. */
  kill(): void {
    this.killedAt = now();
    this.child.kill("SIGKILL");
  }
}

/** Options of a fleet run: the semaphore and the workload of every worker. */
export interface FleetOptions {
  name: string;
  capacity: number;
  leaseMs: number;
  commandTimeoutMs: number;
  /** Redis (or a proxy) port each worker's own proxy forwards to. */
  upstreamPort: number;
}

/** N workers, their proxies, and everything they logged. */
export class Fleet {
  readonly options: FleetOptions;
  readonly workers: FaultWorker[] = [];
  readonly holds: Hold[] = [];
  /** Grants whose hold has not ended (yet): closed at the kill for killed workers. */
  readonly open = new Map<string, Grant & { worker: FaultWorker }>();
  readonly crashes: string[] = [];
  expectExit = false;

  constructor(options: FleetOptions) {
    this.options = options;
  }

  /** @internal */
  receive(worker: FaultWorker, m: Message): void {
    if (m.ev === "g") this.open.set(`${m.grant.who}#${m.grant.token}#${m.grant.granted}`, { ...m.grant, worker });
    else if (m.ev === "h") {
      const { id: _id, ...hold } = m.hold;
      this.open.delete(`${hold.who}#${hold.token}#${hold.granted}`);
      this.holds.push(hold);
    } else if (m.ev === "crash") this.crashes.push(`${worker.label}: ${m.what}`);
    else if (m.ev === "done") worker.done = { counts: m.counts, errors: m.errors };
  }

  /** Starts `count` workers, each behind a proxy of its own, and waits until they are ready. */
  async spawn(count: number, prefix = "w"): Promise<FaultWorker[]> {
    await bundleWorker();
    const started: FaultWorker[] = [];
    for (let i = 0; i < count; i++) {
      const proxy = await TcpProxy.start({ upstreamPort: this.options.upstreamPort });
      const worker = new FaultWorker(this, `${prefix}${this.workers.length}`, proxy);
      this.workers.push(worker);
      started.push(worker);
    }
    await Promise.all(started.map((w) => w.next((m): m is { ev: "ready" } => m.ev === "ready", 20_000, "ready")));
    return started;
  }

  /** Starts the tasks of `worker`. */
  run(worker: FaultWorker, plan: Partial<Plan> = {}): void {
    const full: Plan = {
      name: this.options.name,
      capacity: this.options.capacity,
      leaseMs: this.options.leaseMs,
      commandTimeoutMs: this.options.commandTimeoutMs,
      tasks: 8,
      weight: 1,
      holdMs: [20, 30],
      checkEveryMs: 2,
      ...plan,
    };
    worker.send({ cmd: "run", plan: full });
  }

  /** Resolves at `worker`'s next grant of a long hold. */
  longGrant(worker: FaultWorker, ms = 15_000): Promise<unknown> {
    return worker.next((m): m is { ev: "g"; grant: Grant } => m.ev === "g" && m.grant.who.endsWith("L"), ms, "long grant");
  }

  /**
   * Tells every live worker to stop, waits up to `boundMs` for all to finish
   * (their semaphores idle), and returns what is still unsettled: hangs.
   */
  async stop(boundMs: number): Promise<Pending[]> {
    const live = this.workers.filter((w) => w.killedAt === undefined && !w.exited);
    for (const w of live) w.send({ cmd: "stop" });
    const deadline = now() + boundMs;
    const pending: Pending[] = [];
    await Promise.all(
      live.map(async (w) => {
        if (w.done !== undefined) return;
        try {
          await w.next((m): m is Message => m.ev === "done", Math.max(1, deadline - now()), "done");
        } catch {
          w.send({ cmd: "status" });
          try {
            const status = await w.next((m): m is { ev: "status"; pending: Pending[] } => m.ev === "status", 2_000, "status");
            pending.push(...(status.pending.length > 0 ? status.pending : [{ who: w.label, since: 0, what: "onIdle" }]));
          } catch {
            pending.push({ who: w.label, since: 0, what: "no answer" });
          }
        }
      }),
    );
    return pending;
  }

  /** Holds logged, plus the open ones of killed workers (believed until the kill). */
  allHolds(): Hold[] {
    const holds = [...this.holds];
    for (const g of this.open.values()) {
      if (g.worker.killedAt === undefined) continue;
      holds.push({ who: g.who, token: g.token, weight: g.weight, acquireStart: g.acquireStart, granted: g.granted, end: g.worker.killedAt });
    }
    return holds;
  }

  /** Exits every worker and closes every proxy. */
  async close(): Promise<void> {
    this.expectExit = true;
    await Promise.all(
      this.workers.map(async (w) => {
        if (!w.exited) {
          const exited = new Promise((r) => w.child.once("exit", r));
          w.send({ cmd: "exit" });
          const timer = setTimeout(() => w.child.kill("SIGKILL"), 2_000);
          await exited;
          clearTimeout(timer);
        }
        await w.proxy.close();
      }),
    );
  }
}
