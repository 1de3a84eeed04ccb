/**
 * The demo's timeline as an SVG picture: one panel per approach, one row per
 * request (grey waiting, blue running, orange ticks for wasted wake-ups), and
 * under it a step chart of what the server was serving at once, with the
 * limit dashed and anything above it in red. Every approach shares one time
 * scale, so lengths compare across panels.
 *
 * @module
 */
import { computeStats, serverSteps, tickStep } from "./report.js";
import { APPROACH_INFO, APPROACHES, type ApproachRun } from "./model.js";

/** What the picture's title says about the scenario. */
export interface SvgScenario {
  /** Requests per approach. */
  requests: number;
  /** The limit. */
  limit: number;
  /** Server time per request, in ms. */
  delay: number;
}

const escapeXml = (text: string): string =>
  text.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[ch] ?? ch);

const fmt = (n: number): string => String(Math.round(n * 10) / 10);

const COLORS = {
  wait: "#d4d4d8",
  run: "#2563eb",
  over: "#dc2626",
  wakeUp: "#ea580c",
  text: "#18181b",
  muted: "#71717a",
  grid: "#e4e4e7",
  server: "#93c5fd",
} as const;

/** Renders every run into one standalone SVG document. */
export function renderSvg(runs: readonly ApproachRun[], scenario: SvgScenario): string {
  const width = 960;
  const left = 48;
  const right = 28;
  const plot = width - left - right;
  const rowH = 12;
  const rowGap = 4;
  const chartH = 48;
  const span = Math.max(1, ...runs.map((r) => r.totalMs));
  const x = (t: number): number => left + (Math.max(0, t) / span) * plot;
  const step = tickStep(span / plot, 60);
  const out: string[] = [];
  let y = 16;

  out.push(
    `<text x="${left}" y="${y + 12}" font-size="16" font-weight="bold" fill="${COLORS.text}">` +
      escapeXml(`permits demo — ${scenario.requests} requests, limit ${scenario.limit}, ${scenario.delay} ms each`) +
      `</text>`,
  );
  y += 24;
  out.push(
    `<text x="${left}" y="${y + 10}" font-size="11" fill="${COLORS.muted}" xml:space="preserve">` +
      `<tspan fill="${COLORS.wait}">■</tspan> waiting   <tspan fill="${COLORS.run}">■</tspan> running   ` +
      `<tspan fill="${COLORS.wakeUp}">|</tspan> a wake-up that found no free slot   ` +
      `<tspan fill="${COLORS.server}">■</tspan> requests the server served at once (dashed: the limit; ` +
      `<tspan fill="${COLORS.over}">■</tspan> above it)</text>`,
  );
  y += 24;

  for (const run of runs) {
    const s = computeStats(run);
    const n = APPROACHES.indexOf(run.key) + 1;
    const over = s.serverPeak > s.limit;
    const heading =
      `${n} ${APPROACH_INFO[run.key].title} — server peak ${s.serverPeak}/${s.limit}${over ? " (over the limit)" : ""}, ` +
      `total ${Math.round(s.totalMs)} ms, mean wait ${Math.round(s.meanWaitMs)} ms, max wait ${Math.round(s.maxWaitMs)} ms, ` +
      `${s.wastedWakeUps} wasted wake-ups`;
    out.push(
      `<text x="${left}" y="${y + 12}" font-size="13" font-weight="bold" fill="${over ? COLORS.over : COLORS.text}">${escapeXml(heading)}</text>`,
    );
    y += 20;
    const top = y;
    const rowsH = run.traces.length * (rowH + rowGap);
    // Grid and axis labels.
    for (let t = 0; t <= span; t += step) {
      out.push(`<line x1="${fmt(x(t))}" y1="${top}" x2="${fmt(x(t))}" y2="${top + rowsH + chartH}" stroke="${COLORS.grid}"/>`);
      out.push(`<text x="${fmt(x(t))}" y="${top + rowsH + chartH + 12}" font-size="10" fill="${COLORS.muted}" text-anchor="middle">${t} ms</text>`);
    }
    for (const trace of run.traces) {
      out.push(`<text x="${left - 6}" y="${y + rowH - 2}" font-size="10" fill="${COLORS.muted}" text-anchor="end">#${trace.id}</text>`);
      const end = trace.ended ?? run.totalMs;
      const started = trace.started ?? end;
      if (started > trace.queued) {
        out.push(`<rect x="${fmt(x(trace.queued))}" y="${y}" width="${fmt(x(started) - x(trace.queued))}" height="${rowH}" fill="${COLORS.wait}"/>`);
      }
      if (trace.started !== undefined) {
        out.push(
          `<rect x="${fmt(x(trace.started))}" y="${y}" width="${fmt(Math.max(1, x(end) - x(trace.started)))}" height="${rowH}" ` +
            `fill="${trace.error !== undefined ? COLORS.over : COLORS.run}"><title>#${trace.id}: waited ${Math.round(trace.started - trace.queued)} ms, ` +
            `ran ${Math.round(end - trace.started)} ms</title></rect>`,
        );
      }
      for (const w of trace.wakeUps) {
        if (!w.wasted) continue;
        out.push(`<line x1="${fmt(x(w.at))}" y1="${y}" x2="${fmt(x(w.at))}" y2="${y + rowH}" stroke="${COLORS.wakeUp}" stroke-width="1.5"/>`);
      }
      y += rowH + rowGap;
    }
    // The server's concurrency as steps; the scale fits the larger of the peak and the limit.
    const scaleMax = Math.max(s.serverPeak, s.limit, 1);
    const base = y + chartH - 4;
    const unit = (chartH - 12) / scaleMax;
    for (const st of serverSteps(run)) {
      const h = st.count * unit;
      out.push(
        `<rect x="${fmt(x(st.from))}" y="${fmt(base - h)}" width="${fmt(Math.max(0.5, x(st.to) - x(st.from)))}" height="${fmt(h)}" ` +
          `fill="${st.count > s.limit ? COLORS.over : COLORS.server}"/>`,
      );
    }
    const limitY = base - s.limit * unit;
    out.push(`<line x1="${left}" y1="${fmt(limitY)}" x2="${left + plot}" y2="${fmt(limitY)}" stroke="${COLORS.text}" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${left - 6}" y="${fmt(limitY + 4)}" font-size="10" fill="${COLORS.muted}" text-anchor="end">${s.limit}</text>`);
    out.push(`<text x="${left - 6}" y="${base}" font-size="10" fill="${COLORS.muted}" text-anchor="end">srv</text>`);
    y += chartH + 28;
  }

  const height = y;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="ui-sans-serif, system-ui, -apple-system, Segoe UI, sans-serif">\n` +
    `<rect width="100%" height="100%" fill="#ffffff"/>\n` +
    out.join("\n") +
    `\n</svg>\n`
  );
}
