import { describe, expect, it } from "vitest";
import {
  computeStats,
  renderLegend,
  renderTable,
  renderTimeline,
  renderVerdicts,
  serverSteps,
  shouldColor,
  tickStep,
} from "../../packages/cli/src/demo/report.js";
import type { ApproachKey, ApproachRun, Trace } from "../../packages/cli/src/demo/model.js";
import { renderSvg } from "../../packages/cli/src/demo/svg.js";

/** The escape that starts an ANSI colour sequence. */
const ESC = "\u001b[";

/** A run where request i waits `waits[i]` ms and then runs 100 ms; the server saw exactly the running spans. */
function syntheticRun(key: ApproachKey, waits: number[], limit = 3, wakeUps: Trace["wakeUps"][] = []): ApproachRun {
  const traces: Trace[] = waits.map((wait, i) => ({
    id: i + 1,
    queued: 0,
    started: wait,
    ended: wait + 100,
    wakeUps: wakeUps[i] ?? [],
  }));
  const server = traces.map((t) => ({ id: t.id, start: t.started as number, end: t.ended as number }));
  const steps = serverSteps({ server });
  const peak = Math.max(0, ...steps.map((s) => s.count));
  return { key, limit, traces, server, serverPeak: peak, totalMs: Math.max(...traces.map((t) => t.ended as number)) };
}

// The ideal semaphore schedule for 10 requests, limit 3, 100 ms each.
const IDEAL = [0, 0, 0, 100, 100, 100, 200, 200, 200, 300];

describe("serverSteps", () => {
  it("counts overlapping spans; a span ending when another starts does not overlap it", () => {
    const steps = serverSteps({
      server: [
        { id: 1, start: 0, end: 100 },
        { id: 2, start: 50, end: 150 },
        { id: 3, start: 100, end: 200 },
      ],
    });
    expect(steps).toEqual([
      { from: 0, to: 50, count: 1 },
      { from: 50, to: 100, count: 2 },
      { from: 100, to: 150, count: 2 },
      { from: 150, to: 200, count: 1 },
    ]);
  });

  it("is empty for no requests", () => {
    expect(serverSteps({ server: [] })).toEqual([]);
  });
});

describe("computeStats", () => {
  it("the ideal semaphore schedule: 400 ms, waits mean 120 and max 300, no idle slots", () => {
    const stats = computeStats(syntheticRun("semaphore", IDEAL));
    expect(stats).toMatchObject({ serverPeak: 3, limit: 3, totalMs: 400, meanWaitMs: 120, maxWaitMs: 300, wakeUps: 0 });
    expect(stats.idleSlotMs).toBe(0);
  });

  it("counts wasted wake-ups apart from useful ones", () => {
    const run = syntheticRun("polled", [0, 150], 1, [[], [{ at: 100, wasted: true }, { at: 150, wasted: false }]]);
    const stats = computeStats(run);
    expect(stats.wakeUps).toBe(2);
    expect(stats.wastedWakeUps).toBe(1);
  });

  it("idle slot time: a slot free for 50 ms while a request waited", () => {
    // Limit 1: #1 runs 0–100, #2 waits until 150 → the slot stood idle 100–150 while #2 waited.
    const stats = computeStats(syntheticRun("polled", [0, 150], 1));
    expect(stats.idleSlotMs).toBe(50);
  });

  it("counts failures", () => {
    const run = syntheticRun("semaphore", [0]);
    (run.traces[0] as Trace).error = "boom";
    expect(computeStats(run).failed).toBe(1);
  });
});

describe("renderTable", () => {
  it("one row per approach with the server peak against the limit, and ✗ when over it", () => {
    const table = renderTable([syntheticRun("locked", Array(10).fill(0) as number[]), syntheticRun("semaphore", IDEAL)]);
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/approach\s+server peak\s+total\s+mean wait\s+max wait\s+wake-ups \(wasted\)/);
    expect(lines[1]).toMatch(/^2 counter \+ Lock\s+10 \/ 3 ✗\s+100 ms\s+0 ms\s+0 ms\s+0 \(0\)$/);
    expect(lines[2]).toMatch(/^3 Semaphore\s+3 \/ 3\s+400 ms\s+120 ms\s+300 ms\s+0 \(0\)$/);
  });

  it("has no escape codes unless asked for colour", () => {
    expect(renderTable([syntheticRun("semaphore", IDEAL)])).not.toContain(ESC);
  });
});

describe("renderVerdicts", () => {
  it("says over the limit only when the server saw more than the limit", () => {
    const text = renderVerdicts([syntheticRun("locked", Array(10).fill(0) as number[]), syntheticRun("semaphore", IDEAL)]);
    expect(text).toMatch(/^2 counter \+ Lock: OVER THE LIMIT: the server served 10 at once \(limit 3\)/m);
    expect(text).toMatch(/^3 Semaphore: held the limit \(server peak 3 of 3\)\.$/m);
  });

  it("wraps to the width with an indent", () => {
    const text = renderVerdicts([syntheticRun("locked", Array(10).fill(0) as number[])], { width: 40 });
    for (const line of text.split("\n")) expect(line.length).toBeLessThanOrEqual(40);
    expect(text.split("\n")[1]).toMatch(/^ {2}\S/);
  });

  it("reports polling waste and how much slower than the Semaphore", () => {
    const wakeUps = [[], [{ at: 100, wasted: true }, { at: 200, wasted: false }]];
    const runs = [syntheticRun("polled", [0, 200], 1, wakeUps), syntheticRun("semaphore", [0, 100], 1)];
    const text = renderVerdicts(runs, { width: 1000 });
    expect(text).toContain("1 of 2 wake-ups found no free slot");
    expect(text).toContain("slots stood idle for 100 slot·ms");
    expect(text).toContain("100 ms slower than the Semaphore");
  });
});

describe("renderTimeline", () => {
  it("draws one row per request, waiting then running, on a shared scale", () => {
    // 40 plot columns (+ 6 label + 1 space) over 400 ms: 10 ms per column.
    const text = renderTimeline(syntheticRun("semaphore", IDEAL), { width: 47, spanMs: 400 });
    const lines = text.split("\n");
    expect(lines[0]).toBe("3 Semaphore · server peak 3/3 · 400 ms · 0 wasted wake-ups");
    expect(lines[1]).toBe("      0 ms      100       200       300");
    expect(lines[2]).toBe(`   #1 ${"█".repeat(10)}`);
    expect(lines[5]).toBe(`   #4 ${"░".repeat(10)}${"█".repeat(10)}`);
    expect(lines[11]).toBe(`  #10 ${"░".repeat(30)}${"█".repeat(10)}`);
    expect(lines[12]).toBe(`  srv ${"3".repeat(30)}${"1".repeat(10)}`);
  });

  it("marks wasted wake-ups and shows 10 or more at once as +", () => {
    const run = syntheticRun("polled", [0, 200], 1, [[], [{ at: 105, wasted: true }]]);
    const text = renderTimeline(run, { width: 37, spanMs: 300 });
    expect(text.split("\n")[3]).toBe(`   #2 ${"░".repeat(10)}╎${"░".repeat(9)}${"█".repeat(10)}`);
    const crowd = renderTimeline(syntheticRun("locked", Array(12).fill(0) as number[]), { width: 37, spanMs: 100 });
    expect(crowd.split("\n").at(-1)).toBe(`  srv ${"+".repeat(30)}`);
  });

  it("a run shorter than a column still shows", () => {
    const run = syntheticRun("semaphore", [0]);
    (run.traces[0] as Trace).ended = 0.5;
    run.server = [{ id: 1, start: 0, end: 0.5 }];
    const text = renderTimeline(run, { width: 40, spanMs: 10_000 });
    expect(text.split("\n")[2]).toBe("   #1 █");
  });

  it("colours only when asked", () => {
    const run = syntheticRun("locked", Array(5).fill(0) as number[]);
    expect(renderTimeline(run, { width: 60 })).not.toContain(ESC);
    expect(renderTimeline(run, { width: 60, color: true })).toContain(`${ESC}31m`);
  });

  it("the legend names every glyph", () => {
    expect(renderLegend()).toMatch(/░ waiting.*█ running.*╎ a wake-up that found no free slot/);
  });
});

describe("tickStep", () => {
  it.each([
    [1, 10],
    [2.5, 50],
    [10, 100],
    [11, 200],
  ])("%f ms per column gives ticks every %i ms", (msPerCol, step) => {
    expect(tickStep(msPerCol)).toBe(step);
  });
});

describe("shouldColor", () => {
  it("follows the TTY, NO_COLOR and FORCE_COLOR", () => {
    expect(shouldColor({ isTTY: true }, {})).toBe(true);
    expect(shouldColor({ isTTY: false }, {})).toBe(false);
    expect(shouldColor({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(shouldColor({ isTTY: true }, { TERM: "dumb" })).toBe(false);
    expect(shouldColor({ isTTY: false }, { FORCE_COLOR: "1" })).toBe(true);
    expect(shouldColor({ isTTY: true }, { FORCE_COLOR: "0", NO_COLOR: "1" })).toBe(false);
  });
});

describe("renderSvg", () => {
  const svg = renderSvg([syntheticRun("locked", Array(10).fill(0) as number[]), syntheticRun("semaphore", IDEAL)], {
    requests: 10,
    limit: 3,
    delay: 100,
  });

  it("is a standalone SVG document", () => {
    expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
  });

  it("has a running bar for every request of every approach, and the headings", () => {
    expect(svg.match(/<rect [^>]*fill="#2563eb"/g)).toHaveLength(20);
    expect(svg).toContain("2 counter + Lock — server peak 10/3 (over the limit)");
    expect(svg).toContain("3 Semaphore — server peak 3/3, total 400 ms");
  });

  it("draws the server above the limit in red", () => {
    expect(svg).toMatch(/<rect [^>]*height="[\d.]+" fill="#dc2626"\/>/);
  });

  it("escapes text", () => {
    expect(svg).not.toMatch(/<text[^>]*>[^<]*&(?!amp;|lt;|gt;|quot;|apos;)/);
  });
});
