/**
 * Starts real `redis-server` processes on loopback for the tests: persistence
 * off, a free port, ready once it answers PING, stopped by pid (SIGTERM, then
 * SIGKILL). Also a restart helper (same port, for outage tests), extra
 * server arguments (e.g. `--enable-debug-command local`), a replica mode
 * (`replicaOf`: ready once its link to the master is up) and a 3-master
 * Redis Cluster built with `redis-cli --cluster create`.
 *
 * Needs Debian's `redis-server` and `redis-tools` (`npm test` installs them: scripts/ensure-system-deps.sh).
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const HOST = "127.0.0.1";

/** A running (or stopped, between restarts) redis-server. */
export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:port` */
  readonly url: string;
  /** Pid of the current process, or undefined while stopped. */
  readonly pid: number | undefined;
  /** Stops the server (SIGTERM, SIGKILL after 2 s). Idempotent. */
  stop(): Promise<void>;
  /** Stops it with SIGKILL at once (a crash). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same arguments. */
  start(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
  /** Runs `redis-cli -p port ...args` and returns its stdout. */
  cli(...args: string[]): Promise<string>;
}

/** A free TCP port on loopback (and, with `alsoPlus`, port + alsoPlus free too). */
export async function freePort(alsoPlus?: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once("error", reject);
      srv.listen(0, HOST, () => {
        const address = srv.address();
        const p = typeof address === "object" && address !== null ? address.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (alsoPlus === undefined) return port;
    if (port + alsoPlus > 65535) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port + alsoPlus, HOST, () => srv.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error("no free loopback port found in 50 attempts");
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run("redis-cli", ["-h", HOST, "-p", String(port), ...args], { timeout: 10_000 });
  return stdout;
}

async function waitForPing(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited early (${child.exitCode ?? child.signalCode}): ${log()}`);
    }
    try {
      if ((await cli(port, "PING")).trim() === "PONG") return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within 10 s: ${log()}`);
}

async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child === undefined || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 2_000);
  await exited;
  clearTimeout(timer);
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Port to listen on (default: a free one). */
  port?: number;
  /** Extra `redis-server` arguments, e.g. `["--enable-debug-command", "local"]`. */
  args?: readonly string[];
  /**
   * Start as a replica of the server (or proxy) on this loopback port:
   * `--replicaof 127.0.0.1 <port>`, its own temporary `--dir` (a replica
   * writes the RDB it receives), and ready only once `INFO replication`
   * says `master_link_status:up`.
   */
  replicaOf?: number;
}

async function waitForLink(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await cli(port, "INFO", "replication")).includes("master_link_status:up")) {
    if (Date.now() > deadline) throw new Error(`replica on port ${port}: replication link not up within 15 s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Starts a redis-server on a free loopback port (or `port`) with persistence
 * off and returns once it answers PING (a replica: once its link is up).
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const extra = [...(options.args ?? [])];
  let dir: string | undefined;
  if (options.replicaOf !== undefined) {
    dir = mkdtempSync(join(tmpdir(), "permits-replica-"));
    extra.push("--replicaof", HOST, String(options.replicaOf), "--dir", dir);
  }
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    if (dir !== undefined) mkdirSync(dir, { recursive: true });
    const args = ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no", ...extra];
    const proc = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    proc.stdout.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-2000)));
    proc.stderr.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-2000)));
    live.add(proc);
    proc.once("exit", () => live.delete(proc));
    child = proc;
    await waitForPing(port, proc, () => output);
    if (options.replicaOf !== undefined) await waitForLink(port);
  };
  const cleanup = (): void => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  };

  await start();
  const server: RedisServer = {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    get pid() {
      return child?.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    async stop() {
      await stopChild(child);
      cleanup();
    },
    async kill() {
      await stopChild(child, "SIGKILL");
      cleanup();
    },
    start,
    async restart() {
      await stopChild(child);
      await start();
    },
    cli: (...args) => cli(port, ...args),
  };
  return server;
}

/** A 3-master Redis Cluster on loopback. */
export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  /** `[{ host, port }]` of every master, for cluster clients. */
  readonly startupNodes: readonly { host: string; port: number }[];
  stop(): Promise<void>;
}

/**
 * Starts three redis-servers with `cluster-enabled yes`, joins them with
 * `redis-cli --cluster create ... --cluster-yes` (no replicas) and waits until
 * every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "permits-cluster-"));
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort(10_000); // the cluster bus listens on port + 10000
      nodes.push(
        await startRedisServer({
          port,
          args: [
            "--cluster-enabled", "yes",
            "--cluster-config-file", join(dir, `nodes-${port}.conf`),
            "--cluster-node-timeout", "2000",
            "--dir", dir,
          ],
        }),
      );
    }
    await run(
      "redis-cli",
      ["--cluster", "create", ...nodes.map((n) => `${HOST}:${n.port}`), "--cluster-replicas", "0", "--cluster-yes"],
      { timeout: 30_000 },
    );
    const deadline = Date.now() + 20_000;
    for (const node of nodes) {
      while (!(await node.cli("CLUSTER", "INFO")).includes("cluster_state:ok")) {
        if (Date.now() > deadline) throw new Error(`cluster node ${node.port} not ok within 20 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (error) {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: n.host, port: n.port })),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
