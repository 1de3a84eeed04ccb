/**
 * The progress display of the commands: a `cli-progress` bar on stderr, drawn
 * only when stderr is a terminal, with result lines scrolling above it (as
 * npm, cargo and pip do) when stdout is a terminal too.
 *
 * cli-progress draws the bar; what it is told to write to the terminal goes
 * through {@link ScrollingTerminal}, given to it as its `terminal` option (the
 * seam its MultiBar uses to share one terminal between bars). Its own terminal
 * does three things that garble a screen where other lines scroll:
 * - it turns the terminal's line wrapping off (`ESC[?7l`) for the whole run, so
 *   every result line longer than the screen is cut;
 * - it saves the cursor position at the start (`ESC 7`) and restores it at the
 *   end (`ESC 8`): once results have scrolled, that position is on top of
 *   earlier output, where the summary and the shell prompt then land;
 * - `linewrap: null`, documented as "keep terminal settings", is read as the
 *   default (`false`) by its option parser in 3.12.
 * Ours leaves wrapping and the cursor position alone: it only ever rewrites the
 * current line (`\r`, the bar, clear to the end of the line) and trims the bar
 * to the width, so the bar itself never wraps and can always be redrawn in place.
 *
 * @module
 */
import cliProgress from "cli-progress";
import type { OutStream } from "./io.js";

const CLEAR_LINE = "\r\x1b[2K";

/**
 * What cli-progress calls on its `terminal` (lib/terminal.js); only the calls a
 * SingleBar makes do anything here.
 */
class ScrollingTerminal {
  readonly #stream: OutStream;
  /** The bar as last drawn ("" when the line holds no bar). */
  #drawn = "";

  constructor(stream: OutStream) {
    this.#stream = stream;
  }

  /** Writes `text` (whole lines) above the bar: clear the bar's line, write, draw the bar again below. */
  above(write: () => void): void {
    if (this.#drawn === "") {
      write();
      return;
    }
    this.#stream.write(CLEAR_LINE);
    write();
    this.#stream.write(this.#line(this.#drawn));
  }

  /** The bar is done: leave it on its line and move below it. */
  leave(): void {
    if (this.#drawn !== "") this.#stream.write("\n");
    this.#drawn = "";
  }

  /**
   * One bar line, self-contained: from column 0, trimmed to the width (a wrapped
   * bar could not be redrawn in place), cleared to the end. The cursor is parked
   * back at column 0, so a line another process writes to this terminal (stdout
   * piped through `tee`) overwrites the bar instead of being appended to it.
   */
  #line(bar: string): string {
    return `\r${bar.slice(0, Math.max(1, this.getWidth() - 1))}\x1b[K\r`;
  }

  // The calls cli-progress makes.
  write(text: string): void {
    this.#drawn = text;
    this.#stream.write(this.#line(text));
  }
  newline(): void {
    this.leave();
  }
  clearLine(): void {
    this.#stream.write(CLEAR_LINE);
    this.#drawn = "";
  }
  clearBottom(): void {
    this.clearLine();
  }
  isTTY(): boolean {
    return this.#stream.isTTY === true;
  }
  getWidth(): number {
    return typeof this.#stream.columns === "number" && this.#stream.columns > 0 ? this.#stream.columns : 80;
  }
  // Each bar line positions and clears itself (see #line); saving and restoring
  // the cursor, hiding it, and turning wrapping off are what this class is here
  // not to do.
  cursorSave(): void {}
  cursorRestore(): void {}
  cursor(): void {}
  lineWrapping(): void {}
  cursorTo(): void {}
  cursorRelative(): void {}
  cursorRelativeReset(): void {}
  clearRight(): void {}
}

/** A bar with its own terminal; see the module documentation. */
export interface Progress<Payload extends object> {
  /** Starts the bar (draws it at once). */
  start(total: number, value: number, payload: Payload): void;
  /** Moves the bar; redrawn at most `fps` times a second. */
  update(value: number, payload: Payload): void;
  /** Changes the total (for input whose length is not known in advance). */
  setTotal(total: number): void;
  /** Writes whole lines (ending in "\n") to `stream` above the bar. */
  print(stream: OutStream, text: string): void;
  /** Draws the final state and leaves it on its line (or clears it, with `clearOnComplete`); idempotent. */
  stop(): void;
}

/**
 * A progress bar on `stderr`, or `undefined` when `stderr` is not a terminal
 * (a log file or a pipe gets no bar, only the summary).
 */
export function progressBar<Payload extends object>(
  stderr: OutStream & NodeJS.WritableStream,
  format: string,
  { clearOnComplete = false }: { clearOnComplete?: boolean } = {},
): Progress<Payload> | undefined {
  if (stderr.isTTY !== true) return undefined;
  const terminal = new ScrollingTerminal(stderr);
  const options = {
    stream: stderr,
    // Not in @types/cli-progress, but read by the library's option parser (lib/options.js).
    terminal,
    format,
    barsize: 20,
    hideCursor: false,
    clearOnComplete,
    fps: 10,
  } as cliProgress.Options;
  const bar = new cliProgress.SingleBar(options, cliProgress.Presets.shades_classic);
  let running = false;
  return {
    start(total, value, payload) {
      running = true;
      bar.start(total, value, payload);
    },
    update(value, payload) {
      bar.update(value, payload);
    },
    setTotal(total) {
      bar.setTotal(total);
    },
    print(stream, text) {
      terminal.above(() => stream.write(text));
    },
    stop() {
      if (!running) return;
      running = false;
      bar.stop();
    },
  };
}
