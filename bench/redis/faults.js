/* global process, console */ // Node globals: this is a Node script
// The second step of `npm run bench:redis`: issue 11's fault scenarios, the
// same code the tests run (test/helpers/fault-scenarios.ts, bundled here with
// esbuild, src/ included), printing one row of figures per scenario as a
// Markdown table (bench/RESULTS-faults.md).
//
// Every scenario: real redis-server(s), a TCP proxy of our own per worker
// process, 4 processes x 8 tasks (unless the scenario says otherwise) on one
// RedisSemaphore of capacity 3, leaseMs 1200, commandTimeoutMs 600, holds of
// 20-30 ms checked every 2 ms. Figures are the offline checker's.
//
// Env: BENCH_FAULT_RUNS (runs per scenario, default 1; figures are the worst
// run's), BENCH_FAULTS (comma list of scenario keys, default all).
import { execFileSync } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BUNDLE = fileURLToPath(new URL("../.tmp/fault-scenarios.mjs", import.meta.url));
const RUNS = Number(process.env.BENCH_FAULT_RUNS ?? 1);
const ONLY = process.env.BENCH_FAULTS?.split(",");

await build({
  entryPoints: [`${ROOT}test/helpers/fault-scenarios.ts`],
  bundle: true,
  platform: "node",
  format: "esm",
  packages: "external",
  outfile: BUNDLE,
  logLevel: "error",
});
const { scenarios, CAPACITY, LEASE_MS, COMMAND_TIMEOUT_MS } = await import(BUNDLE);

const fmt = (n, d = 0) => (n === undefined ? "–" : Number.isFinite(n) ? n.toFixed(d) : "never");
const max = (values) => (values.every((v) => v === undefined) ? undefined : Math.max(...values.filter((v) => v !== undefined)));

const rows = [];
for (const scenario of scenarios) {
  if (ONLY !== undefined && !ONLY.includes(scenario.key)) continue;
  const results = [];
  const errors = [];
  for (let run = 0; run < RUNS; run++) {
    process.stderr.write(`(${scenario.key}) ${scenario.title}, run ${run + 1}/${RUNS} ...\n`);
    try {
      results.push(await scenario.run());
    } catch (error) {
      errors.push(String(error?.message ?? error));
    }
  }
  const v = results.map((r) => r.verdict);
  const badness = (r) => [r.verdict.failures.length, r.verdict.violations, r.verdict.lateMs ?? 0, r.verdict.repeatedTokens];
  const worst = [...results].sort((a, b) => {
    const [x, y] = [badness(a), badness(b)];
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return y[i] - x[i];
    return 0;
  })[0];
  rows.push({
    key: scenario.key,
    title: scenario.title,
    failing: v.filter((x) => x.failures.length > 0).length + errors.length,
    runs: RUNS,
    maxBelieved: max(v.map((x) => x.maxBelieved)),
    violations: max(v.map((x) => x.violations)),
    longestOverMs: max(v.map((x) => x.longestOverMs)),
    lateMs: max(v.map((x) => x.lateMs)),
    recovery: max(v.map((x) => x.recoveryRatio)),
    repeated: max(v.map((x) => x.repeatedTokens)),
    causal: max(v.map((x) => x.causalViolations)),
    hung: max(v.map((x) => x.hung)),
    crashes: max(v.map((x) => x.crashes.length)),
    lost: v.some((x) => x.lostPermits),
    // what the columns do not show, from the worst run: failures other than
    // the columns', the scenario's own notes; and runs that did not finish
    notes: [
      ...(worst === undefined
        ? []
        : [...worst.verdict.failures.filter((f) => !/^over-admission|repeated|not above|recovery took|^permits lost|past their own deadline/.test(f)), ...worst.notes]),
      ...errors.map((e) => `run failed: ${e}`),
    ].map((n) => {
      const short = n.replace(/Redis at 127\.0\.0\.1:\d+/g, "Redis").replace(/ script: [0-9a-f]+.*$/, "");
      return short.length > 160 ? `${short.slice(0, 160)}…` : short;
    }),
  });
}

let commit = "?";
try {
  commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim();
} catch {
  // not a git checkout
}
const redisVersion = (() => {
  try {
    return /v=(\S+)/.exec(execFileSync("redis-server", ["--version"]).toString())?.[1] ?? "?";
  } catch {
    return "?";
  }
})();

const lines = [
  `Fault scenarios of issue 11 at ${commit}, ${new Date().toISOString().slice(0, 16)}Z: Redis ${redisVersion} on loopback, Node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)}.`,
  `Semaphore: capacity ${CAPACITY}, leaseMs ${LEASE_MS}, commandTimeoutMs ${COMMAND_TIMEOUT_MS}; ${RUNS} run(s) per scenario, figures from the worst run.`,
  "",
  "| scenario | runs failing | max believed holders | violating stretches | longest over-admission ms | late past own deadline ms | recovery ÷ lease | tokens repeated | causal token violations | hung | crashes | permits lost | notes |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
];
for (const r of rows) {
  lines.push(
    `| (${r.key}) ${r.title} | ${r.failing}/${r.runs} | ${fmt(r.maxBelieved)} | ${fmt(r.violations)} | ${fmt(r.longestOverMs, 1)} | ${fmt(r.lateMs)} | ${fmt(r.recovery, 2)} | ${fmt(r.repeated)} | ${fmt(r.causal)} | ${fmt(r.hung)} | ${fmt(r.crashes)} | ${r.lost ? "yes" : "no"} | ${r.notes.join("; ").replace(/\|/g, "/")} |`,
  );
}
console.log(lines.join("\n"));
