// Hand-written SVG charts (no dependency): for one scenario, a panel of the
// limit and the in-flight count over time and a panel of the mean latency,
// one line per controller. Deterministic input gives byte-identical files.

const W = 860;
const PANEL = 190;
const GAP = 46;
const LEFT = 58;
const RIGHT = 150;
const TOP = 62;
const SEGMENT_GAP = 16;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
/** One colour per algorithm: ours solid, its Netflix peer dashed in the same colour. */
const ALGORITHM_COLORS = { gradient2: "#1f77b4", vegas: "#d62728", aimd: "#2ca02c" };

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (n) => (Math.round(n * 10) / 10).toString();

function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= value) return m * step;
  return 10 * step;
}

/** Downsamples `ys` (with `xs`) to at most `n` points: the max of each bucket for spiky series keeps the peaks. */
function down(xs, ys, n) {
  if (xs.length <= n) return xs.map((x, i) => [x, ys[i]]);
  const out = [];
  const per = xs.length / n;
  for (let b = 0; b < n; b++) {
    const from = Math.floor(b * per);
    const to = Math.floor((b + 1) * per);
    let best = NaN;
    for (let i = from; i < to; i++) if (!Number.isNaN(ys[i]) && !(ys[i] <= best)) best = ys[i];
    out.push([xs[from], best]);
  }
  return out;
}

/** Downsamples with `pick` (Math.min or Math.max) per bucket. */
function downWith(xs, ys, n, pick) {
  if (xs.length <= n) return xs.map((x, i) => [x, ys[i]]);
  const out = [];
  const per = xs.length / n;
  for (let b = 0; b < n; b++) {
    const from = Math.floor(b * per);
    const to = Math.floor((b + 1) * per);
    let v = ys[from];
    for (let i = from + 1; i < to; i++) v = pick(v, ys[i]);
    out.push([xs[from], v]);
  }
  return out;
}

/** A closed band between `lo` and `hi` (the range the limit took within each sampling interval). */
function band(xs, lo, hi, n, x, y) {
  const top = downWith(xs, hi, n, Math.max);
  const bottom = downWith(xs, lo, n, Math.min);
  let d = "";
  let run = [];
  const flush = () => {
    if (run.length > 1) {
      d += `M${run.map((i) => `${fmt(x(top[i][0]))},${fmt(y(top[i][1]))}`).join("L")}`;
      d += `L${run
        .slice()
        .reverse()
        .map((i) => `${fmt(x(bottom[i][0]))},${fmt(y(bottom[i][1]))}`)
        .join("L")}Z`;
    }
    run = [];
  };
  for (let i = 0; i < top.length; i++) {
    if (x(top[i][0]) === undefined) flush();
    else run.push(i);
  }
  flush();
  return d;
}

function path(points, x, y) {
  let d = "";
  let pen = false;
  for (const [px, py] of points) {
    const sx = x(px);
    if (Number.isNaN(py) || sx === undefined) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${fmt(sx)},${fmt(y(py))}`;
    pen = true;
  }
  return d;
}

/**
 * `runs`: [{ label, series: { t, limit, inFlight, latency } , dashed? }];
 * `marks`: [{ at (ms), label }] vertical lines (phase changes);
 * `segments`: [[from, to], …] (ms) the time ranges shown side by side (default: all of it).
 */
export function chart({ title, subtitle, runs, marks = [], limitMax, latencyMax, segments, noLoad = false }) {
  const end = Math.max(...runs.map((r) => r.series.t[r.series.t.length - 1] ?? 0));
  const plotW = W - LEFT - RIGHT;
  const parts0 = segments ?? [[0, end]];
  const total = parts0.reduce((sum, [a, b]) => sum + (b - a), 0);
  const usable = plotW - SEGMENT_GAP * (parts0.length - 1);
  const starts = [];
  let offset = LEFT;
  for (const [a, b] of parts0) {
    starts.push(offset);
    offset += ((b - a) / total) * usable + SEGMENT_GAP;
  }
  /** Screen x of time t, or undefined outside the segments shown. */
  const x = (t) => {
    for (let i = 0; i < parts0.length; i++) {
      const [a, b] = parts0[i];
      if (t >= a && t <= b) return starts[i] + ((t - a) / total) * usable;
    }
    return undefined;
  };
  const H = TOP + 2 * PANEL + GAP + 40;
  const yMax1 = limitMax ?? niceMax(Math.max(...runs.flatMap((r) => r.series.limit.concat(r.series.inFlight))));
  const lat = runs.flatMap((r) => r.series.latency.filter((v) => !Number.isNaN(v)));
  const yMax2 = latencyMax ?? niceMax(Math.max(...lat));
  const top1 = TOP;
  const top2 = TOP + PANEL + GAP;
  const y1 = (v) => top1 + PANEL - (Math.min(v, yMax1) / yMax1) * PANEL;
  const y2 = (v) => top2 + PANEL - (Math.min(v, yMax2) / yMax2) * PANEL;
  const parts = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${LEFT}" y="18" font-size="15" font-weight="600">${esc(title)}</text>`,
    `<text x="${LEFT}" y="34" fill="#555">${esc(subtitle)}</text>`,
  );
  for (const [top, yMax, label, y] of [
    [top1, yMax1, "limit (thick; shaded: its range within each 100 ms), in flight (thin)", y1],
    [top2, yMax2, noLoad ? "mean latency, ms (dotted: the controller's no-load RTT estimate)" : "mean latency, ms", y2],
  ]) {
    parts0.forEach(([a, b], i) => {
      const width = ((b - a) / total) * usable;
      parts.push(`<rect x="${fmt(starts[i])}" y="${top}" width="${fmt(width)}" height="${PANEL}" fill="none" stroke="#bbb"/>`);
    });
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      parts.push(
        `<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${fmt(y(v))}" y2="${fmt(y(v))}" stroke="#eee"/>`,
        `<text x="${LEFT - 6}" y="${fmt(y(v) + 4)}" text-anchor="end" fill="#555">${fmt(v)}</text>`,
      );
    }
    parts.push(`<text x="${LEFT + 4}" y="${top - 6}" fill="#333">${esc(label)}</text>`);
  }
  const tick = niceMax(total / 1000 / 8) * 1000;
  for (const [a, b] of parts0) {
    for (let t = Math.ceil(a / tick) * tick; t <= b + 1e-9; t += tick) {
      parts.push(`<text x="${fmt(x(t))}" y="${top2 + PANEL + 16}" text-anchor="middle" fill="#555">${fmt(t / 1000)}</text>`);
    }
  }
  parts.push(`<text x="${LEFT + plotW / 2}" y="${top2 + PANEL + 32}" text-anchor="middle" fill="#333">simulated seconds</text>`);
  for (const mark of marks) {
    if (x(mark.at) === undefined) continue;
    const mx = fmt(x(mark.at));
    parts.push(
      `<line x1="${mx}" x2="${mx}" y1="${top1}" y2="${top2 + PANEL}" stroke="#999" stroke-dasharray="3,3"/>`,
      `<text x="${fmt(x(mark.at) + 4)}" y="${top1 + 12}" fill="#666">${esc(mark.label)}</text>`,
    );
  }
  runs.forEach((run, i) => {
    const color = run.color ?? ALGORITHM_COLORS[run.label.replace(/^netflix-/, "")] ?? COLORS[i % COLORS.length];
    const dash = run.dashed ? ` stroke-dasharray="6,3"` : "";
    const s = run.series;
    const n = Math.floor(plotW);
    if (s.limitMin !== undefined) {
      const d = band(s.t, s.limitMin, s.limitMax, n, x, y1);
      if (d !== "") parts.push(`<path d="${d}" fill="${color}" opacity="0.18" stroke="none"/>`);
    }
    parts.push(
      `<path d="${path(down(s.t, s.inFlight, n), x, y1)}" fill="none" stroke="${color}" stroke-width="0.8" opacity="0.55"${dash}/>`,
      `<path d="${path(down(s.t, s.limit, n), x, y1)}" fill="none" stroke="${color}" stroke-width="1.8"${dash}/>`,
      `<path d="${path(down(s.t, s.latency, n), x, y2)}" fill="none" stroke="${color}" stroke-width="1.4"${dash}/>`,
    );
    if (noLoad && s.noLoad !== undefined) {
      parts.push(`<path d="${path(downWith(s.t, s.noLoad, n, Math.max), x, y2)}" fill="none" stroke="${color}" stroke-width="1.6" stroke-dasharray="1,2"/>`);
    }
    const ly = TOP + 10 + i * 18;
    parts.push(
      `<line x1="${W - RIGHT + 12}" x2="${W - RIGHT + 34}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`,
      `<text x="${W - RIGHT + 40}" y="${ly + 4}">${esc(run.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
