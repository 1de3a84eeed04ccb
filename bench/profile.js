// Where the time goes in the cells whose targets are missed: each cell runs once more in a
// fresh process under `node --cpu-prof`, and this prints, per cell, the share of samples in
// the garbage collector and the functions with the most self time, as Markdown.
//   npm run bench:profile                     (builds first; writes nothing, prints the report)
//   node bench/profile.js --out bench/PROFILES.md
// A profile is one run on a shared machine: read the shares, not the absolute numbers.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({ options: { out: { type: "string" }, top: { type: "string", default: "8" } } });
const TOP = Number(args.top);
const CELL = fileURLToPath(new URL("./cell.js", import.meta.url));

/** The cells behind the missed targets of issue 3, and the baselines that explain them. */
const CELLS = [
  ...["permits", "permits run()", "naive+permit", "naive", "es-toolkit"].map((adapter) => ({
    workload: "a",
    adapter,
    cap: 1,
    // Ten times the benchmark's count, so the timed loop, not start-up, fills the profile.
    n: 10_000_000,
  })),
  ...["permits", "naive+permit", "naive", "es-toolkit"].map((adapter) => ({ workload: "b", adapter, cap: 4, n: 200_000 })),
];

/** Self-time shares of one .cpuprofile: [label, share] sorted, plus the GC share. */
function summarize(file) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const self = new Map();
  let busy = 0;
  for (const [id, count] of counts) {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame;
    if (functionName === "(idle)") continue;
    busy += count;
    const where = url === "" ? "" : ` (${url.split("/").slice(-2).join("/")}:${lineNumber + 1})`;
    const label = `${functionName || "(anonymous)"}${where}`;
    self.set(label, (self.get(label) ?? 0) + count);
  }
  const rows = [...self].sort((x, y) => y[1] - x[1]).map(([label, count]) => [label, count / busy]);
  return { rows, gc: (self.get("(garbage collector)") ?? 0) / busy };
}

const lines = [
  "# Profiles of the cells behind issue 3's missed targets",
  "",
  `Command: \`npm run bench:profile\` (one run of each cell under \`node --cpu-prof\`), ${new Date().toISOString()},`,
  `Node ${process.version}. Shares are of the busy samples (idle excluded) of the whole cell process:`,
  "the limit check and warm-up included, so read them as where a cell's CPU goes, not as the timed loop alone.",
  "",
];
for (const spec of CELLS) {
  const dir = mkdtempSync(join(tmpdir(), "permits-prof-"));
  try {
    const run = spawnSync(process.execPath, ["--expose-gc", "--cpu-prof", `--cpu-prof-dir=${dir}`, CELL, JSON.stringify(spec)], {
      encoding: "utf8",
    });
    const result = /^RESULT (.*)$/m.exec(run.stdout);
    if (run.status !== 0 || result === null) throw new Error(`cell ${JSON.stringify(spec)} failed: ${run.stderr}`);
    const value = JSON.parse(result[1]).value;
    const [file] = readdirSync(dir);
    const { rows, gc } = summarize(join(dir, file));
    lines.push(
      `## (${spec.workload}) ${spec.adapter}, capacity ${spec.cap}: ${Math.round(value).toLocaleString("en-US")} per second, ${(gc * 100).toFixed(0)}% of busy samples in GC`,
      "",
      "| self time | function |",
      "|---:|---|",
      ...rows.slice(0, TOP).map(([label, share]) => `| ${(share * 100).toFixed(1)}% | \`${label}\` |`),
      "",
    );
    process.stderr.write(".");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
process.stderr.write("\n");
const md = lines.join("\n");
if (args.out !== undefined) writeFileSync(args.out, md);
process.stdout.write(md);
