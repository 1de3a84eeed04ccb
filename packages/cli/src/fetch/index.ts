/**
 * `permits fetch [file]`: fetch a list of URLs with limits, one NDJSON result
 * per input line.
 *
 * The limits are `permit-pool/http`'s `limitFetch`; this module reads lines, counts
 * attempts, applies the per-attempt timeout, writes results, draws the
 * progress bar (`cli-progress`, on stderr when it is a TTY, see ../progress.ts)
 * and handles Ctrl-C.
 *
 * @module
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { type AdaptiveLimitStats, limitFetch, type LimitFetchStats } from "permit-pool/http";
import { Semaphore } from "permit-pool";
import { durationFlag, integerFlag, parseCommandLine, rateFlag, UsageError, type RateSpec } from "../args.js";
import type { Io } from "../io.js";
import { progressBar } from "../progress.js";

/** `permits fetch --help`. */
export const FETCH_HELP = `Usage: permits fetch [file] [options]

Fetches every URL listed in <file> (or stdin when no file is given), one URL
per line, with the limits below, and prints one JSON object per input line on
stdout, in the order the requests finish:

  {"url":"https://example.com/","status":200,"bytes":1256,"ms":87,"attempts":1,"error":null,"code":null}

  url       the input line (trimmed)
  status    the HTTP status, or null when no response arrived
  bytes     the length of the response body in bytes
  ms        from the first attempt being sent to the body read (or the failure)
  attempts  attempts for this line (1 + retries), always at least 1
  error     null on success, else what went wrong, in words: "HTTP 404 Not
            Found", "connection refused by 127.0.0.1:8080", "timed out after
            30000 ms", "malformed URL", "interrupted", ...
  code      null on success, else a stable code to match on: HTTP_ERROR
            (status 400 and up), TIMEOUT, INTERRUPTED, BAD_URL,
            UNSUPPORTED_PROTOCOL, BAD_PORT, or the network error's own code
            (ECONNREFUSED, ECONNRESET, ENOTFOUND, UND_ERR_SOCKET,
            ERR_SSL_..., ...), FETCH_FAILED when it has none

Blank lines and lines starting with # (comments) are skipped; every other
line gets exactly one result.

Options:
  --concurrency <n>  requests in flight at once, in total (default 8);
                     \`auto\` finds the limit from the responses (adaptive
                     concurrency: it rises while responses come back fast
                     and clean, and falls on 429/503s, timeouts and
                     resets); the limit it settles on is in the summary
  --per-origin <n>   requests in flight at once per origin (default: no
                     limit beyond --concurrency); \`auto\` for an adaptive
                     limit per origin
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

A progress bar is drawn on stderr when stderr is a terminal (results scroll
above it when stdout is that terminal too); a summary is printed on stderr at
the end.

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
  /** `null` on success, else what went wrong, in words (one line). */
  error: string | null;
  /** `null` on success, else a stable code: `HTTP_ERROR`, `TIMEOUT`, `INTERRUPTED`, `BAD_URL`, a network error's code, … */
  code: string | null;
}

/** The parsed options of `permits fetch`. */
export interface FetchOptions {
  /** Input file, or `undefined` for stdin. */
  file: string | undefined;
  /** Total requests in flight, or `"auto"` (adaptive). */
  concurrency: number | "auto";
  /** Requests in flight per origin, or `"auto"` (adaptive per origin). */
  perOrigin: number | "auto" | undefined;
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
    concurrency: limitFlag("concurrency", values.concurrency, 8),
    perOrigin: perOrigin === undefined ? undefined : limitFlag("per-origin", perOrigin, 1),
    rate: rate === undefined ? undefined : burst === undefined ? rate : { ...rate, burst },
    retries: integerFlag("fetch", "retries", values.retries, 2, 0, 100),
    timeout: durationFlag("fetch", "timeout", values.timeout, 30_000),
  };
}

/** A concurrency flag: an integer from 1 to 10,000, or `auto`. */
function limitFlag(name: string, value: string | boolean | undefined, fallback: number): number | "auto" {
  if (typeof value === "string" && value.trim().toLowerCase() === "auto") return "auto";
  try {
    return integerFlag("fetch", name, value, fallback, 1, 10_000);
  } catch (error) {
    if (error instanceof UsageError) {
      throw new UsageError(`${error.message.replace(/, got /, " or `auto`, got ")}`, "fetch");
    }
    throw error;
  }
}

/**
 * The summary line of the adaptive limits: where each settled (the limit at
 * the end of the run), `undefined` when no limit is adaptive. At most five
 * origins are named.
 */
export function adaptiveSummary(stats: LimitFetchStats): string | undefined {
  const parts: string[] = [];
  const global = stats.adaptive;
  if (global !== undefined) {
    parts.push(`concurrency settled at ${global.limit} (${describeAdaptive(global)})`);
  }
  const origins = Object.entries(stats.origins).filter(([, o]) => o.adaptive !== undefined);
  if (origins.length > 0) {
    const shown = origins.slice(0, 5).map(([origin, o]) => `${origin} at ${o.adaptive!.limit} (${describeAdaptive(o.adaptive!)})`);
    if (origins.length > 5) shown.push(`${origins.length - 5} more`);
    parts.push(`per-origin limits settled: ${shown.join(", ")}`);
  }
  return parts.length === 0 ? undefined : `adaptive ${parts.join("; ")}`;
}

function describeAdaptive(stats: AdaptiveLimitStats): string {
  const lowest = Math.min(stats.limit, ...stats.history.map((h) => h.limit));
  const highest = Math.max(stats.limit, ...stats.history.map((h) => h.limit));
  const range = lowest === highest ? "" : `, ranged ${lowest}–${highest}`;
  return `${stats.algorithm}${range}, ${stats.drops} drop${stats.drops === 1 ? "" : "s"}`;
}

/** A failure as a result line reports it: words for people, a stable code for programs. */
export interface Failure {
  /** One line, lower case, no codes, no library internals. */
  error: string;
  /** A stable identifier, `A_Z0_9`. */
  code: string;
}

/** Plain words for the network errors people meet; anything else keeps its own message. */
const NETWORK_ERRORS: Record<string, (detail: { host: string }) => string> = {
  ECONNREFUSED: ({ host }) => `connection refused by ${host}`,
  ECONNRESET: () => "the connection was reset",
  EPIPE: () => "the connection was closed while sending",
  UND_ERR_SOCKET: () => "the server closed the connection",
  ENOTFOUND: ({ host }) => `host not found: ${host}`,
  EAI_AGAIN: ({ host }) => `could not look up ${host} (DNS did not answer)`,
  ETIMEDOUT: ({ host }) => `connecting to ${host} timed out`,
  UND_ERR_CONNECT_TIMEOUT: ({ host }) => `connecting to ${host} timed out`,
  UND_ERR_HEADERS_TIMEOUT: () => "the server sent no response headers in time",
  UND_ERR_BODY_TIMEOUT: () => "the server stopped sending the body",
  EHOSTUNREACH: ({ host }) => `host unreachable: ${host}`,
  ENETUNREACH: ({ host }) => `network unreachable for ${host}`,
  CERT_HAS_EXPIRED: () => "TLS error: the server's certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: () => "TLS error: the server's certificate is self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: () => "TLS error: a self-signed certificate in the server's chain",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: () => "TLS error: the server's certificate could not be verified",
  ERR_TLS_CERT_ALTNAME_INVALID: ({ host }) => `TLS error: the certificate is not for ${host}`,
};

/** The first line of a message, trimmed, without a trailing period. */
function oneLine(message: string): string {
  return (message.split("\n").find((line) => line.trim() !== "") ?? message).trim().replace(/\.$/, "");
}

/**
 * Turns what fetch threw into a {@link Failure}. fetch wraps network failures
 * as `TypeError("fetch failed")` with the useful part in `cause`, whose message
 * may be a code (`"bad port"`), a sentence, or an OpenSSL string: the code
 * picks plain words, so the form does not depend on which layer failed.
 */
export function describeFailure(error: unknown, url: URL, timeoutMs: number): Failure {
  if (error instanceof DOMException && error.name === "TimeoutError") return { error: `timed out after ${timeoutMs} ms`, code: "TIMEOUT" };
  const host = url.host;
  let inner: unknown = error;
  // The innermost cause that carries a code (or the innermost error) says the most.
  for (let depth = 0; depth < 4; depth++) {
    const cause = (inner as { cause?: unknown } | null)?.cause;
    if (!(cause instanceof Error)) break;
    inner = cause;
    if (typeof (cause as { code?: unknown }).code === "string") break;
  }
  if (!(inner instanceof Error)) return { error: oneLine(String(inner)), code: "FETCH_FAILED" };
  const code = (inner as { code?: unknown }).code;
  if (typeof code === "string" && /^[A-Z][A-Z0-9_]*$/.test(code)) {
    const words = NETWORK_ERRORS[code];
    if (words !== undefined) return { error: words({ host }), code };
    if (code.startsWith("ERR_SSL_")) return { error: `TLS error: ${code.slice(8).toLowerCase().replaceAll("_", " ")}`, code };
    const message = oneLine(inner.message).replace(new RegExp(`^${code}:?\\s*`), "");
    return { error: message === "" ? code.toLowerCase().replaceAll("_", " ") : message, code };
  }
  if (inner.message === "bad port") return { error: `port ${url.port} is blocked by fetch (a "bad port")`, code: "BAD_PORT" };
  return { error: oneLine(inner.message === "fetch failed" ? "the request failed" : inner.message), code: "FETCH_FAILED" };
}

function parseUrl(line: string): URL | Failure {
  let url: URL;
  try {
    url = new URL(line);
  } catch {
    return { error: "malformed URL", code: "BAD_URL" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { error: `unsupported protocol ${url.protocol} (http: and https: only)`, code: "UNSUPPORTED_PROTOCOL" };
  }
  return url;
}

const INTERRUPTED: Failure = { error: "interrupted", code: "INTERRUPTED" };

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

  // Progress on stderr, only for a person watching it; results scroll above it when they share the terminal.
  const bar = progressBar<{ ok: number; failed: number; interrupted: string }>(
    io.stderr,
    "{bar} {value}/{total} | {ok} ok, {failed} failed{interrupted} | {duration_formatted}",
  );
  const barPayload = () => ({
    ok: counts.ok,
    failed: counts.failed,
    interrupted: counts.interrupted > 0 ? `, ${counts.interrupted} interrupted` : "",
  });
  const resultsAboveBar = bar !== undefined && io.stdout.isTTY === true;

  let stdoutBroken = false;
  const onStdoutError = (): void => {
    // The reader went away (`| head`): nothing more can be reported, so stop working.
    stdoutBroken = true;
    stop.abort();
  };
  io.stdout.on("error", onStdoutError);
  const emit = (result: FetchResult): void => {
    counts.done++;
    if (result.code === null) counts.ok++;
    else if (result.code === INTERRUPTED.code) counts.interrupted++;
    else counts.failed++;
    if (!stdoutBroken) {
      const line = `${JSON.stringify(result)}\n`;
      if (resultsAboveBar) bar.print(io.stdout, line);
      else io.stdout.write(line);
    }
    bar?.update(counts.done, barPayload());
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
    concurrency: options.concurrency === "auto" ? "adaptive" : options.concurrency,
    ...(options.perOrigin !== undefined ? { perOrigin: options.perOrigin === "auto" ? "adaptive" : options.perOrigin } : {}),
    ...(options.rate !== undefined ? { rate: options.rate } : {}),
    retries: options.retries,
    fetch: innerFetch,
  });

  const fetchOne = async (line: string): Promise<FetchResult> => {
    const url = parseUrl(line);
    if (!(url instanceof URL)) return { url: line, status: null, bytes: 0, ms: 0, attempts: 1, ...url };
    // One controller per line (its signal also keys the attempt count); Ctrl-C aborts every live one.
    // (Not AbortSignal.any([stop.signal]): on Node 20 each such signal stays attached to the long-lived source.)
    const controller = new AbortController();
    live.add(controller);
    const { signal } = controller;
    let status: number | null = null;
    let bytes = 0;
    let failure: Failure | undefined;
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
      if (!response.ok) failure = { error: `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`, code: "HTTP_ERROR" };
    } catch (caught) {
      failure = stop.signal.aborted ? INTERRUPTED : describeFailure(caught, url, options.timeout);
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
      error: failure?.error ?? null,
      code: failure?.code ?? null,
    };
  };

  // Reading ahead is bounded, so a list of millions of URLs does not become millions of pending promises.
  // (An adaptive limit may climb to 1,000, its default `max`: read far enough ahead to let it.)
  const readAhead = new Semaphore(options.concurrency === "auto" ? 4_000 : Math.max(100, options.concurrency * 4));
  const pending = new Set<Promise<void>>();

  const lines = createInterface({ input, crlfDelay: Infinity });
  let interrupts = 0;
  const removeInterrupt = io.onInterrupt(() => {
    interrupts++;
    if (interrupts > 1) {
      bar?.stop();
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
      // Blank lines and comments are not input (a URL never starts with #).
      if (line === "" || line.startsWith("#")) continue;
      counts.read++;
      // The total grows as lines are read (stdin has no length); the bar starts with the first line, not at 0/0.
      if (counts.read === 1) bar?.start(1, 0, barPayload());
      else bar?.setTotal(counts.read);
      let permit;
      try {
        permit = await readAhead.acquire({ signal: stop.signal });
      } catch {
        // Interrupted while waiting for room: this line still gets its result.
        emit({ url: line, status: null, bytes: 0, ms: 0, attempts: 1, ...INTERRUPTED });
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
  const adaptive = adaptiveSummary(limited.stats());
  const adaptiveLine = adaptive === undefined ? "" : `permits: ${adaptive}\n`;
  if (interrupted) {
    io.stderr.write(`permits: interrupted — ${counts.ok + counts.failed} finished before Ctrl-C. ${summary}\n${adaptiveLine}`);
    return 130;
  }
  io.stderr.write(
    (stdoutBroken ? `permits: stdout was closed, so the run stopped. ${summary}\n` : `permits: ${summary}\n`) + adaptiveLine,
  );
  return counts.failed > 0 || stdoutBroken ? 1 : 0;
}
