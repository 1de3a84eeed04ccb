/* global setTimeout, clearTimeout, console */ // Node globals: this is a Node module
// What the Redis benchmarks share: a throwaway redis-server on a free loopback port, stopped by
// its pid, and forked workers spoken to over IPC.
import { execFileSync, fork, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The `p`th percentile (0–100) of a sorted array; NaN when empty. */
export const pct = (sorted, p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts redis-server (persistence off) on a free loopback port; `stop()` ends it by its pid. */
export async function startRedis(label = "bench") {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `permits-${label}-`));
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], {
    stdio: "ignore",
  });
  for (let i = 0; i < 200; i++) {
    try {
      const pong = execFileSync("redis-cli", ["-p", String(port), "PING"], { stdio: ["ignore", "pipe", "ignore"] });
      if (pong.toString().trim() === "PONG") break;
    } catch {
      // not yet
    }
    await sleep(25);
  }
  return {
    port,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 2000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Forks `file` with `args`; `next(key)` resolves with the first message that has `key`
 * (buffered if it came early), `ready` with the worker's `{ ready }`.
 */
export function startWorker(file, args, timeoutMs = 180_000) {
  const child = fork(file, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const inbox = [];
  const waiting = [];
  child.on("message", (m) => {
    if (m.error) console.error(`worker ${child.pid}: ${m.error}`);
    const i = waiting.findIndex((w) => w.key in m);
    if (i >= 0) waiting.splice(i, 1)[0].resolve(m);
    else inbox.push(m);
  });
  const next = (key, ms = timeoutMs) => {
    const i = inbox.findIndex((m) => key in m);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`worker: no ${key} in ${ms} ms`)), ms);
      waiting.push({ key, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  };
  return { child, send: (m) => child.send(m), next, ready: next("ready", 20_000), exit: () => child.send({ cmd: "exit" }) };
}
