/**
 * `permits fetch [file]`: fetch a list of URLs with limits, one NDJSON result
 * per input line.
 *
 * The limits are `permits/http`'s `limitFetch`; this module reads lines, counts
 * attempts, applies the per-attempt timeout, writes results, draws the
 * progress bar (`cli-progress`, on stderr when it is a TTY) and handles Ctrl-C.
 *
 * @module
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import cliProgress from "cli-progress";
import { limitFetch } from "../../http/index.js";
import { Semaphore } from "../../index.js";
import { durationFlag, integerFlag, parseCommandLine, rateFlag, UsageError, type RateSpec } from "../args.js";
import type { Io } from "../io.js";

/** `permits fetch --help`. */
export const FETCH_HELP = `Usage: permits fetch [file] [options]

Fetches every URL listed in <file> (or stdin when no file is given), one URL
per line, with the limits below, and prints one JSON object per input line on
stdout, in the order the requests finish:

  {"url":"https://example.com/","status":200,"bytes":1256,"ms":87,"attempts":1,"error":null}

  url       the input line (trimmed)
  status    the HTTP status, or null when no response arrived
  bytes     the length of the response body in bytes
  ms        from the first attempt being sent to the body read (or the failure)
  attempts  attempts for this line (1 + retries), always at least 1
  error     null on success, else what went wrong: an HTTP status of 400 and up,
            a network error, a timeout, a malformed URL, "interrupted"

Blank lines are skipped; every other line gets exactly one result.

Options:
  --concurrency <n>  requests in flight at once, in total (default 8)
  --per-origin <n>   requests in flight at once per origin (default: no
                     limit beyond --concurrency)
  --rate <n/time>    at most n requests started per interval, per origin:
                     10/s, 100/min, 5/2s (default: no rate limit); starts
                     are spread evenly, never more than n in any interval
  --burst <n>        with --rate: let up to n start at once from rest (a
                     window of the interval may then see n-1 more; default 1)
  --retries <n>      retries of a 429 or 503 response, waiting as its
                     Retry-After says (the whole origin pauses) or backing
                     off with jitter (default 2)
  --timeout <time>   limit on each attempt, from sending it to reading the
                     whole body; waiting in the queue does not count:
                     500ms, 10s, 1m (a bare number is ms; default 30s)
  -h, --help         show this help

A progress bar is drawn on stderr when stderr is a terminal; a summary is
printed on stderr at the end.

Exit codes: 0 every line succeeded, 1 any line failed (including malformed
lines), 2 usage error, 130 interrupted by Ctrl-C: requests in flight are
cancelled, their lines report "interrupted", and a summary of what finished
goes to stderr. A second Ctrl-C exits at once.
`;

const OPTIONS = {
  concurrency: { type: "string" },
  "per-origin": { type: "string" },
  rate: { type: "string" },
  burst: { type: "string" },
  retries: { type: "string" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** One line of output. */
export interface FetchResult {
  /** The input line, trimmed. */
  url: string;
  /** HTTP status, or `null` when no response arrived. */
  status: number | null;
  /** Response body length in bytes. */
  bytes: number;
  /** Milliseconds from the first attempt being sent to the end. */
  ms: number;
  /** Requests sent for this line (0 for a malformed line or one interrupted before it was sent). */
  attempts: number;
  /** `null` on success, else a short description. */
  error: string | null;
}

/** The parsed options of `permits fetch`. */
export interface FetchOptions {
  /** Input file, or `undefined` for stdin. */
  file: string | undefined;
  /** Total requests in flight. */
  concurrency: number;
  /** Requests in flight per origin. */
  perOrigin: number | undefined;
  /** Rate per origin, with its burst. */
  rate: (RateSpec & { burst?: number }) | undefined;
  /** Retries of 429/503. */
  retries: number;
  /** Per-attempt timeout in ms. */
  timeout: number;
}

/** Parses the command line of `permits fetch`; throws a `UsageError` on mistakes. */
export function parseFetchArgs(args: readonly string[]): FetchOptions | "help" {
  const { values, positionals } = parseCommandLine("fetch", args, OPTIONS, 1);
  if (values.help === true) return "help";
  const perOrigin = values["per-origin"];
  const file = positionals[0];
  const rate = rateFlag("fetch", "rate", values.rate);
  if (values.burst !== undefined && rate === undefined) throw new UsageError("`--burst` needs `--rate`", "fetch");
  const burst = values.burst === undefined ? undefined : integerFlag("fetch", "burst", values.burst, 1, 1, 1_000_000);
  if (file === "") throw new UsageError("Expected a file name, got an empty string", "fetch");
  return {
    file: file === "-" ? undefined : file,
    concurrency: integerFlag("fetch", "concurrency", values.concurrency, 8, 1, 10_000),
    perOrigin: perOrigin === undefined ? undefined : integerFlag("fetch", "per-origin", perOrigin, 1, 1, 10_000),
    rate: rate === undefined ? undefined : burst === undefined ? rate : { ...rate, burst },
    retries: integerFlag("fetch", "retries", values.retries, 2, 0, 100),
    timeout: durationFlag("fetch", "timeout", values.timeout, 30_000),
  };
}

/** Describes why a request failed, in a few words. */
function describeError(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === "TimeoutError") return `timed out after ${timeoutMs} ms`;
  if (error instanceof Error) {
    // fetch wraps network failures as TypeError("fetch failed") with the useful part in `cause`.
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as { code?: unknown }).code;
      return typeof code === "string" && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
    }
    return error.message;
  }
  return String(error);
}

function parseUrl(line: string): URL | string {
  let url: URL;
  try {
    url = new URL(line);
  } catch {
    return "malformed URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `unsupported protocol ${url.protocol} (http: and https: only)`;
  return url;
}

/** Runs `permits fetch` with `args`; resolves to the exit code. */
export async function fetchCommand(args: readonly string[], io: Io): Promise<number> {
  const options = parseFetchArgs(args);
  if (options === "help") {
    io.stdout.write(FETCH_HELP);
    return 0;
  }

  // A file that cannot be read is a usage error, found before anything is printed.
  if (options.file !== undefined) {
    const file = options.file;
    const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`Cannot read \`${file}\`: ${error.code ?? error.message}`, "fetch");
    });
    if (info.isDirectory()) throw new UsageError(`Cannot read \`${file}\`: it is a directory`, "fetch");
  } else if (io.stdin.isTTY === true) {
    io.stderr.write("permits: reading URLs from the terminal, one per line; end with Ctrl-D\n");
  }
  const input = options.file === undefined ? io.stdin : createReadStream(options.file);
  // Opening fails asynchronously (permissions); wait for it, so that failure is a usage error too.
  if (options.file !== undefined) {
    await new Promise<void>((resolve, reject) => {
      const stream = input as ReturnType<typeof createReadStream>;
      stream.once("open", () => resolve());
      stream.once("error", (error: NodeJS.ErrnoException) =>
        reject(new UsageError(`Cannot read \`${options.file}\`: ${error.code ?? error.message}`, "fetch")),
      );
    });
  }

  const stop = new AbortController();
  const live = new Set<AbortController>();
  stop.signal.addEventListener("abort", () => {
    for (const controller of live) controller.abort(stop.signal.reason);
  });
  let interrupted = false;
  const started = performance.now();
  const counts = { read: 0, done: 0, ok: 0, failed: 0, interrupted: 0 };

  // Progress on stderr, only for a person watching it.
  const bar = io.stderr.isTTY
    ? new cliProgress.SingleBar(
        {
          stream: io.stderr,
          format: "{bar} {value}/{total} | {ok} ok, {failed} failed | {duration_formatted}",
          hideCursor: true,
          clearOnComplete: true,
          fps: 10,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  // When results and the bar share a terminal, clear the bar's line before a result so they do not run together.
  const clearLine = bar !== undefined && io.stdout.isTTY === true ? "\r\x1b[2K" : "";

  let stdoutBroken = false;
  const onStdoutError = (): void => {
    // The reader went away (`| head`): nothing more can be reported, so stop working.
    stdoutBroken = true;
    stop.abort();
  };
  io.stdout.on("error", onStdoutError);
  const emit = (result: FetchResult): void => {
    counts.done++;
    if (result.error === null) counts.ok++;
    else if (result.error === "interrupted") counts.interrupted++;
    else counts.failed++;
    if (!stdoutBroken) io.stdout.write(`${clearLine}${JSON.stringify(result)}\n`);
    bar?.update(counts.done, { ok: counts.ok, failed: counts.failed + counts.interrupted });
  };

  // Attempts and per-attempt timeouts: limitFetch calls this inner fetch once per attempt, after the limits admitted it.
  const attempts = new WeakMap<AbortSignal, { count: number; first: number }>();
  const innerFetch: typeof fetch = (request, init) => {
    const signal = init?.signal ?? (request instanceof Request ? request.signal : undefined);
    if (signal) {
      const entry = attempts.get(signal);
      if (entry) entry.count++;
      else attempts.set(signal, { count: 1, first: performance.now() });
    }
    const timeout = AbortSignal.timeout(options.timeout);
    return fetch(request, { ...init, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  };
  const limited = limitFetch({
    concurrency: options.concurrency,
    ...(options.perOrigin !== undefined ? { perOrigin: options.perOrigin } : {}),
    ...(options.rate !== undefined ? { rate: options.rate } : {}),
    retries: options.retries,
    fetch: innerFetch,
  });

  const fetchOne = async (line: string): Promise<FetchResult> => {
    const url = parseUrl(line);
    if (typeof url === "string") return { url: line, status: null, bytes: 0, ms: 0, attempts: 1, error: url };
    // One controller per line (its signal also keys the attempt count); Ctrl-C aborts every live one.
    // (Not AbortSignal.any([stop.signal]): on Node 20 each such signal stays attached to the long-lived source.)
    const controller = new AbortController();
    live.add(controller);
    const { signal } = controller;
    let status: number | null = null;
    let bytes = 0;
    let error: string | null = null;
    try {
      const response = await limited(url, { signal });
      status = response.status;
      if (response.body) {
        const reader = response.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          bytes += value.byteLength;
        }
      }
      if (!response.ok) error = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
    } catch (caught) {
      error = stop.signal.aborted ? "interrupted" : describeError(caught, options.timeout);
    } finally {
      live.delete(controller);
    }
    const entry = attempts.get(signal);
    return {
      url: line,
      status,
      bytes,
      ms: entry ? Math.round(performance.now() - entry.first) : 0,
      attempts: entry?.count ?? 1, // at least 1, also for a line cancelled before its request went out
      error,
    };
  };

  // Reading ahead is bounded, so a list of millions of URLs does not become millions of pending promises.
  const readAhead = new Semaphore(Math.max(100, options.concurrency * 4));
  const pending = new Set<Promise<void>>();

  const lines = createInterface({ input, crlfDelay: Infinity });
  let interrupts = 0;
  const removeInterrupt = io.onInterrupt(() => {
    interrupts++;
    if (interrupts > 1) {
      bar?.stop(); // restores the cursor
      io.stderr.write("\npermits: interrupted twice, exiting now\n");
      process.exit(130);
    }
    interrupted = true;
    stop.abort();
    lines.close();
  });

  try {
    for await (const raw of lines) {
      if (stop.signal.aborted) break;
      const line = raw.trim();
      if (line === "") continue;
      counts.read++;
      // The total grows as lines are read (stdin has no length); the bar starts with the first line, not at 0/0.
      if (counts.read === 1) bar?.start(1, 0, { ok: 0, failed: 0 });
      else bar?.setTotal(counts.read);
      let permit;
      try {
        permit = await readAhead.acquire({ signal: stop.signal });
      } catch {
        // Interrupted while waiting for room: this line still gets its result.
        emit({ url: line, status: null, bytes: 0, ms: 0, attempts: 1, error: "interrupted" });
        break;
      }
      const task = fetchOne(line)
        .then(emit)
        .finally(() => {
          permit.release();
          pending.delete(task);
        });
      pending.add(task);
    }
  } catch (error) {
    // A read error after opening (a directory, an I/O error) ends the input; what was read still completes.
    io.stderr.write(`permits: stopped reading input: ${error instanceof Error ? error.message : String(error)}\n`);
    counts.failed++;
  } finally {
    lines.close();
    if (input === io.stdin) io.stdin.pause();
  }
  await Promise.all(pending);
  removeInterrupt();
  io.stdout.off("error", onStdoutError);
  bar?.stop();

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const summary =
    `${counts.done} line${counts.done === 1 ? "" : "s"}: ${counts.ok} ok, ${counts.failed} failed` +
    `${counts.interrupted ? `, ${counts.interrupted} interrupted` : ""} in ${seconds}s`;
  if (interrupted) {
    io.stderr.write(`permits: interrupted — ${counts.ok + counts.failed} finished before Ctrl-C. ${summary}\n`);
    return 130;
  }
  io.stderr.write(stdoutBroken ? `permits: stdout was closed, so the run stopped. ${summary}\n` : `permits: ${summary}\n`);
  return counts.failed > 0 || stdoutBroken ? 1 : 0;
}
