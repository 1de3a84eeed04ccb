/**
 * Turns measured runs into what a person reads: a table of numbers, a verdict
 * per approach that says only what was measured, and a text timeline (one row
 * per request, `░` waiting, `█` running, `╎` a wasted wake-up, and a row of
 * what the server was serving at once).
 *
 * Everything here is a pure function of the runs, so it is tested with
 * synthetic traces and fixed widths.
 *
 * @module
 */
import { APPROACH_INFO, APPROACHES, type ApproachRun } from "./model.js";

/** The numbers of one approach, as printed in the table. */
export interface RunStats {
  /** The most requests the server served at once. */
  serverPeak: number;
  /** The limit the approach was meant to hold. */
  limit: number;
  /** From the first request asked for to the last one done, in ms. */
  totalMs: number;
  /** Mean time from asking to being sent, in ms. */
  meanWaitMs: number;
  /** Longest time from asking to being sent, in ms. */
  maxWaitMs: number;
  /** Wake-ups of a polling loop, useful or not. */
  wakeUps: number;
  /** Wake-ups that found the limit still full and went back to sleep. */
  wastedWakeUps: number;
  /** Requests that failed. */
  failed: number;
  /**
   * Milliseconds × slots during which a slot was free while a request waited:
   * capacity left idle by the approach itself (0 for a semaphore, which hands
   * a released slot straight to the next waiter).
   */
  idleSlotMs: number;
}

/** One step of the server's concurrency: `count` requests in `[from, to)`. */
export interface Step {
  /** Start, in ms. */
  from: number;
  /** End, in ms. */
  to: number;
  /** Requests being served. */
  count: number;
}

/** The server's concurrency over time, as steps (from its spans). */
export function serverSteps(run: Pick<ApproachRun, "server">): Step[] {
  const events: Array<[number, number]> = [];
  for (const span of run.server) {
    events.push([span.start, +1], [span.end, -1]);
  }
  // At equal times the end comes first: a response finished and a new request arriving at the same instant did not overlap.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const steps: Step[] = [];
  let count = 0;
  for (let i = 0; i < events.length; i++) {
    const [time, delta] = events[i] as [number, number];
    count += delta;
    const next = events[i + 1];
    if (next && next[0] > time && count > 0) steps.push({ from: time, to: next[0], count });
  }
  return steps;
}

/** Computes the table's numbers for one run. */
export function computeStats(run: ApproachRun): RunStats {
  const waits = run.traces.filter((t) => t.started !== undefined).map((t) => (t.started as number) - t.queued);
  const wakeUps = run.traces.reduce((n, t) => n + t.wakeUps.length, 0);
  const wasted = run.traces.reduce((n, t) => n + t.wakeUps.filter((w) => w.wasted).length, 0);
  return {
    serverPeak: run.serverPeak,
    limit: run.limit,
    totalMs: run.totalMs,
    meanWaitMs: waits.length ? waits.reduce((a, b) => a + b, 0) / waits.length : 0,
    maxWaitMs: waits.length ? Math.max(...waits) : 0,
    wakeUps,
    wastedWakeUps: wasted,
    failed: run.traces.filter((t) => t.error !== undefined).length,
    idleSlotMs: idleSlotMs(run),
  };
}

/** Integral over time of min(waiting, limit − running): slots left empty while someone waited. */
function idleSlotMs(run: ApproachRun): number {
  const events: Array<[number, "wait+" | "wait-" | "run+" | "run-"]> = [];
  for (const t of run.traces) {
    const started = t.started ?? run.totalMs;
    events.push([t.queued, "wait+"], [started, "wait-"]);
    if (t.started !== undefined) events.push([t.started, "run+"], [t.ended ?? run.totalMs, "run-"]);
  }
  events.sort((a, b) => a[0] - b[0]);
  let waiting = 0;
  let running = 0;
  let total = 0;
  for (let i = 0; i < events.length; i++) {
    const [time, kind] = events[i] as [number, string];
    if (kind === "wait+") waiting++;
    else if (kind === "wait-") waiting--;
    else if (kind === "run+") running++;
    else running--;
    const next = events[i + 1];
    if (next) total += Math.max(0, Math.min(waiting, run.limit - running)) * (next[0] - time);
  }
  return total;
}

/** Whether to colour output: a TTY, and neither `NO_COLOR` nor `NODE_DISABLE_COLORS` set (FORCE_COLOR wins). */
export function shouldColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  if (env.NO_COLOR !== undefined || env.NODE_DISABLE_COLORS !== undefined) return false;
  return stream.isTTY === true && env.TERM !== "dumb";
}

// SGR codes, applied only when shouldColor() said so. (util.styleText decides on its own whether
// to colour, from process.stdout and differently across Node 20 releases, so it cannot honour our decision.)
const SGR = { red: [31, 39], green: [32, 39], dim: [2, 22], bold: [1, 22] } as const;
type Style = keyof typeof SGR;
type Paint = (format: Style | Style[], text: string) => string;
const painter = (color: boolean): Paint =>
  color
    ? (format, text) =>
        (Array.isArray(format) ? format : [format]).reduce((t, f) => `\x1b[${SGR[f][0]}m${t}\x1b[${SGR[f][1]}m`, text)
    : (_format, text) => text;

const ms = (value: number): string => `${Math.round(value)} ms`;

/** Renders the table: one row per approach, in the article's order. */
export function renderTable(runs: readonly ApproachRun[], { color = false }: { color?: boolean } = {}): string {
  const paint = painter(color);
  const header = ["approach", "server peak", "total", "mean wait", "max wait", "wake-ups (wasted)"];
  const rows = runs.map((run) => {
    const s = computeStats(run);
    const n = APPROACHES.indexOf(run.key) + 1;
    return [
      `${n} ${APPROACH_INFO[run.key].title}`,
      `${s.serverPeak} / ${s.limit}${s.serverPeak > s.limit ? " ✗" : "  "}`,
      ms(s.totalMs),
      ms(s.meanWaitMs),
      ms(s.maxWaitMs),
      `${s.wakeUps} (${s.wastedWakeUps})`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  const out = [paint("bold", line(header))];
  rows.forEach((row, i) => {
    const over = (runs[i]?.serverPeak ?? 0) > (runs[i]?.limit ?? 0);
    out.push(over ? paint("red", line(row)) : line(row));
  });
  return out.join("\n");
}

/**
 * One sentence per approach saying what the measurement shows, derived from
 * the numbers (never a canned claim): over or within the limit, what polling
 * cost, how far from the fastest run that held the limit.
 */
export function renderVerdicts(runs: readonly ApproachRun[], { width = 80 }: { width?: number } = {}): string {
  const stats = runs.map(computeStats);
  // Polling is compared with the Semaphore when it ran (the article's answer), else with the fastest run that held the limit.
  const semaphoreRun = runs.findIndex((r) => r.key === "semaphore");
  const held = stats.filter((s) => s.serverPeak <= s.limit && s.failed === 0).map((s) => s.totalMs);
  const reference =
    semaphoreRun >= 0
      ? { name: "the Semaphore", ms: (stats[semaphoreRun] as RunStats).totalMs }
      : held.length
        ? { name: "the fastest run that held the limit", ms: Math.min(...held) }
        : undefined;
  return runs
    .map((run, i) => {
      const s = stats[i] as RunStats;
      const n = APPROACHES.indexOf(run.key) + 1;
      const parts: string[] = [];
      if (s.serverPeak > s.limit) {
        parts.push(`OVER THE LIMIT: the server served ${s.serverPeak} at once (limit ${s.limit})`);
        if (run.key === "locked") {
          parts.push(
            "every request passed the check (outside the lock) before any of them incremented the counter, " +
              "because in JavaScript `await lock.acquire()` yields even when the lock is free",
          );
        }
      } else {
        parts.push(`held the limit (server peak ${s.serverPeak} of ${s.limit})`);
        if (run.key === "polled") {
          parts.push("no race: nothing yields between the check and `connections += 1`, so single-threaded JavaScript cannot interleave there");
        }
        if (run.key === "lockedAsyncio") {
          parts.push(
            "no race: a free lock is taken without yielding, as asyncio.Lock does, so nothing runs between the check " +
              "and the increment and the lock changes nothing",
          );
        }
      }
      if (s.wakeUps > 0) {
        parts.push(`${s.wastedWakeUps} of ${s.wakeUps} wake-ups found no free slot`);
        if (s.idleSlotMs >= 1) parts.push(`slots stood idle for ${Math.round(s.idleSlotMs)} slot·ms while requests waited`);
        if (reference !== undefined && s.serverPeak <= s.limit && s.totalMs - reference.ms >= 1) {
          parts.push(`${Math.round(s.totalMs - reference.ms)} ms slower than ${reference.name}`);
        }
      }
      if (s.failed > 0) parts.push(`${s.failed} request(s) failed: ${run.traces.find((t) => t.error)?.error ?? ""}`);
      return wrap(`${n} ${APPROACH_INFO[run.key].title}: ${parts.join("; ")}.`, width, "  ");
    })
    .join("\n");
}

/** Word-wraps `text` to `width` columns, indenting continuation lines. */
export function wrap(text: string, width: number, indent = ""): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    const candidate = line === "" ? word : `${line} ${word}`;
    if (candidate.length > width && line.trim() !== "") {
      lines.push(line);
      line = `${indent}${word}`;
    } else line = candidate;
  }
  lines.push(line);
  return lines.join("\n");
}

/** Glyphs of the text timeline. */
export const GLYPHS = { wait: "░", run: "█", wakeUp: "╎", idle: " " } as const;

/** Options of {@link renderTimeline}. */
export interface TimelineOptions {
  /** Total width in columns (the terminal's). Default 80. */
  width?: number;
  /** The time the axis spans, in ms; pass the longest run's total so that every approach shares one scale. */
  spanMs?: number;
  /** Colour with ANSI escapes. Default false. */
  color?: boolean;
}

const LABEL = 6;

/** Picks a tick step (1, 2 or 5 × 10^k ms) leaving at least `minCols` columns between ticks. */
export function tickStep(msPerCol: number, minCols = 10): number {
  const raw = msPerCol * minCols;
  const exp = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * exp >= raw) return m * exp;
  return 10 * exp;
}

/**
 * Renders one approach's timeline: a heading, a time axis, one row per
 * request and a `srv` row with the server's concurrency per column (digits;
 * `+` for 10 or more).
 */
export function renderTimeline(run: ApproachRun, options: TimelineOptions = {}): string {
  const width = Math.max(LABEL + 20, options.width ?? 80);
  const cols = width - LABEL - 1;
  const span = Math.max(options.spanMs ?? run.totalMs, 1);
  const msPerCol = span / cols;
  const paint = painter(options.color ?? false);
  const s = computeStats(run);
  const n = APPROACHES.indexOf(run.key) + 1;
  const over = s.serverPeak > s.limit;
  const heading =
    `${n} ${APPROACH_INFO[run.key].title} · server peak ${s.serverPeak}/${s.limit}${over ? " ✗" : ""} · ` +
    `${ms(s.totalMs)} · ${s.wastedWakeUps} wasted wake-ups`;

  const steps = serverSteps(run);
  const concurrencyAt = (col: number): number => {
    const from = col * msPerCol;
    const to = from + msPerCol;
    let max = 0;
    for (const step of steps) if (step.from < to && step.to > from) max = Math.max(max, step.count);
    return max;
  };
  const perCol = Array.from({ length: cols }, (_, c) => concurrencyAt(c));

  // Axis: tick labels placed at their column, never overlapping.
  const step = tickStep(msPerCol);
  const axis = Array.from({ length: cols }, () => " ");
  for (let t = 0; t <= span; t += step) {
    const col = Math.round(t / msPerCol);
    const label = t === 0 ? "0 ms" : String(t);
    if (col + label.length > cols) break;
    for (let i = 0; i < label.length; i++) axis[col + i] = label[i] as string;
  }

  const rows = run.traces.map((trace) => {
    const cells: string[] = Array.from({ length: cols }, () => GLYPHS.idle);
    const colOf = (t: number): number => Math.min(cols - 1, Math.max(0, Math.floor(t / msPerCol)));
    const end = trace.ended ?? run.totalMs;
    for (let c = 0; c < cols; c++) {
      const mid = (c + 0.5) * msPerCol;
      if (trace.started !== undefined && mid >= trace.started && mid < end) cells[c] = GLYPHS.run;
      else if (mid >= trace.queued && mid < (trace.started ?? end)) cells[c] = GLYPHS.wait;
    }
    // A run shorter than a column still shows.
    if (trace.started !== undefined && !cells.includes(GLYPHS.run)) cells[colOf(trace.started)] = GLYPHS.run;
    for (const w of trace.wakeUps) if (w.wasted && cells[colOf(w.at)] !== GLYPHS.run) cells[colOf(w.at)] = GLYPHS.wakeUp;
    // Runs of one style are painted together, so a coloured row is not one escape sequence per cell.
    const styleOf = (ch: string, c: number): Style | undefined => {
      if (ch === GLYPHS.run) return (perCol[c] ?? 0) > run.limit ? "red" : "green";
      return ch === GLYPHS.wait || ch === GLYPHS.wakeUp ? "dim" : undefined;
    };
    let painted = "";
    for (let c = 0; c < cols; ) {
      const style = styleOf(cells[c] as string, c);
      let end = c + 1;
      while (end < cols && styleOf(cells[end] as string, end) === style) end++;
      const text = cells.slice(c, end).join("");
      painted += style === undefined ? text : paint(style, text);
      c = end;
    }
    const label = `#${trace.id}`.padStart(LABEL - 1);
    return `${label} ${painted}${trace.error !== undefined ? paint("red", " ✗") : ""}`.trimEnd();
  });

  const srv = perCol
    .map((k) => {
      const ch = k === 0 ? "·" : k > 9 ? "+" : String(k);
      return k > run.limit ? paint(["red", "bold"], ch) : ch;
    })
    .join("");

  return [
    paint("bold", heading),
    `${" ".repeat(LABEL)}${axis.join("").trimEnd()}`,
    ...rows,
    `${"srv".padStart(LABEL - 1)} ${srv}`,
  ].join("\n");
}

/** The legend printed under the timelines. */
export function renderLegend(): string {
  return (
    `${GLYPHS.wait} waiting  ${GLYPHS.run} running  ${GLYPHS.wakeUp} a wake-up that found no free slot\n` +
    "srv: requests the server was serving at once (+ = 10 or more, · = none)"
  );
}
