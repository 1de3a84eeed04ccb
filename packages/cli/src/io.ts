/**
 * The streams and environment a command runs with. `main` passes the real
 * process; tests can pass their own.
 *
 * @module
 */

/** A writable stream as the commands use it. */
export interface OutStream {
  write(chunk: string): boolean;
  /** True when the stream is a terminal. */
  isTTY?: boolean;
  /** Terminal width, when it is one. */
  columns?: number;
}

/** Everything a command touches outside itself. */
export interface Io {
  /** Where input comes from when no file is named. */
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Results. */
  stdout: OutStream & NodeJS.WritableStream;
  /** Progress, summaries and errors. */
  stderr: OutStream & NodeJS.WritableStream;
  /** Environment variables (`COLUMNS`, `NO_COLOR`, …). */
  env: NodeJS.ProcessEnv;
  /**
   * Registers `handler` for Ctrl-C (SIGINT); returns a function that
   * unregisters it.
   */
  onInterrupt(handler: () => void): () => void;
}

/** The real process as an {@link Io}. */
export function processIo(): Io {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    onInterrupt(handler) {
      process.on("SIGINT", handler);
      return () => process.off("SIGINT", handler);
    },
  };
}

/** Terminal width for `stream`: its own when a TTY, else `$COLUMNS`, else 80. */
export function terminalWidth(stream: OutStream, env: NodeJS.ProcessEnv): number {
  if (stream.isTTY === true && typeof stream.columns === "number" && stream.columns > 0) return stream.columns;
  const fromEnv = Number(env.COLUMNS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 80;
}
