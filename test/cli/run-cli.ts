/**
 * Spawns the `permits` CLI from source (`node --import tsx packages/cli/src/main.ts`),
 * so the CLI itself needs no build; it imports the library by name
 * (`permit-pool`, the root's dist/), as it will from the registry, so build
 * the library first (`npm test` does). Every run has a deadline: a CLI that
 * hangs is killed and the test fails with what it printed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

/** What a finished CLI run produced. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from spawn to exit. */
  ms: number;
}

/** Options of {@link startCli}. */
export interface CliOptions {
  /** Written to stdin, which is then closed; stdin is left open when `undefined` and `keepStdinOpen` is set. */
  input?: string;
  /** Leave stdin open (for input that never ends). */
  keepStdinOpen?: boolean;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Kill the process after this many ms (default 30 s). */
  deadline?: number;
}

/** A running CLI: the child, what it printed so far, and its result once it exits. */
export interface RunningCli {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  done: Promise<CliResult>;
}

/** Starts the CLI with `args`. */
export function startCli(args: readonly string[], options: CliOptions = {}): RunningCli {
  const started = performance.now();
  // Plain output: no colour (and no FORCE_COLOR inherited from the test runner, which would override NO_COLOR).
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", ...options.env };
  delete env.FORCE_COLOR;
  const child = spawn(process.execPath, ["--import", "tsx", "packages/cli/src/main.ts", ...args], {
    cwd: ROOT,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  if (options.input !== undefined) child.stdin.end(options.input);
  else if (!options.keepStdinOpen) child.stdin.end();
  const deadline = options.deadline ?? 30_000;
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`CLI ${args.join(" ")} did not exit within ${deadline} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, deadline);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    done,
  };
}

/** Runs the CLI with `args` to completion. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

/** Parses NDJSON output into objects (throws on a line that is not JSON). */
export function ndjson(text: string): Array<Record<string, unknown>> {
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Polls `condition` every 10 ms until it holds, at most `timeout` ms. */
export async function waitFor(condition: () => boolean, timeout = 10_000, what = "condition"): Promise<void> {
  const until = performance.now() + timeout;
  while (!condition()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
