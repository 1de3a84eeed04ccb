/**
 * `permits demo`: the seed article's scenario, measured. Starts a loopback
 * server, runs the four approaches one after another against it, and prints
 * what the server saw.
 *
 * @module
 */
import { writeFile } from "node:fs/promises";
import { durationFlag, integerFlag, parseCommandLine, UsageError } from "../args.js";
import { terminalWidth, type Io } from "../io.js";
import { progressBar } from "../progress.js";
import { renderLegend, renderTable, renderTimeline, renderVerdicts, shouldColor, wrap } from "./report.js";
import { APPROACH_INFO, APPROACHES, DEFAULT_APPROACHES, runApproach, warmUp, type ApproachKey, type ApproachRun } from "./scenarios.js";
import { startDemoServer } from "./server.js";
import { renderSvg } from "./svg.js";

/** `permits demo --help`. */
export const DEMO_HELP = `Usage: permits demo [options]

Runs the scenario of "Limiting connections with a semaphore": N requests to
one server, at most L at once, four ways, each ported as the article writes it:

  1 polled counter   while (connections >= limit) await sleep(100); connections += 1
  2 counter + Lock   the same loop; the increment under a Lock, the check outside it
  3 Semaphore        await sem.run(() => fetch(url))
  4 limitFetch       the limit inside fetch itself (permit-pool/http)

and, with --all or --only 5, the article's lock version as Python runs it:

  5 Lock (asyncio)   as 2, but a free lock is taken without yielding
                     (asyncio.Lock does not suspend when the lock is free;
                     in JavaScript every \`await\` yields)

The server is a loopback HTTP server started for the demo (127.0.0.1, a free
port) that takes --delay per request and counts the requests it serves at
once. The table shows the peak the SERVER saw, the total time, the mean and
longest wait, and the wake-ups of the polling loops; the timeline shows each
request waiting (░) and running (█).

Options:
  --requests <n>    requests per approach (default 10)
  --limit <n>       requests allowed at once (default 3)
  --delay <time>    server time per request: 100, 100ms, 0.1s (default 100ms)
  --poll <time>     sleep of the polling loops in 1 and 2 (default 100ms, as in the article)
  --only <list>     run only these approaches: 1,3 or polled,semaphore
  --all             run all five approaches
  --svg <file>      also write the timeline as an SVG picture
  --width <n>       timeline width in columns (default: the terminal's, or 80)
  --json            print the measurements as JSON instead of the report
  -h, --help        show this help

Exit code: 0, or 1 when the Semaphore or limitFetch let the server see more
than the limit or a request failed (that would be a bug in permits).
`;

const OPTIONS = {
  requests: { type: "string" },
  limit: { type: "string" },
  delay: { type: "string" },
  poll: { type: "string" },
  only: { type: "string" },
  all: { type: "boolean" },
  svg: { type: "string" },
  width: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function parseOnly(value: string | boolean | undefined, all: boolean): ApproachKey[] {
  if (value !== undefined && all) throw new UsageError("`--only` and `--all` do not go together", "demo");
  if (all) return [...APPROACHES];
  if (value === undefined) return [...DEFAULT_APPROACHES];
  const picked: ApproachKey[] = [];
  for (const part of String(value).split(",")) {
    const name = part.trim();
    const byNumber = /^\d+$/.test(name) ? APPROACHES[Number(name) - 1] : undefined;
    const byName = APPROACHES.find((a) => a.toLowerCase() === name.toLowerCase());
    const key = byNumber ?? byName;
    if (key === undefined) {
      throw new UsageError(
        `Expected \`--only\` to list approaches by number (1-5) or name (${APPROACHES.join(", ")}), got \`${String(value)}\``,
        "demo",
      );
    }
    if (!picked.includes(key)) picked.push(key);
  }
  return APPROACHES.filter((a) => picked.includes(a));
}

/** Runs `permits demo` with `args`; resolves to the exit code. */
export async function demoCommand(args: readonly string[], io: Io): Promise<number> {
  const { values } = parseCommandLine("demo", args, OPTIONS, 0);
  if (values.help === true) {
    io.stdout.write(DEMO_HELP);
    return 0;
  }
  const requests = integerFlag("demo", "requests", values.requests, 10, 1, 1000);
  const limit = integerFlag("demo", "limit", values.limit, 3, 1, 1000);
  const delay = durationFlag("demo", "delay", values.delay, 100);
  const poll = durationFlag("demo", "poll", values.poll, 100);
  if (delay > 60_000 || poll > 60_000) throw new UsageError("`--delay` and `--poll` are capped at 60s to keep the demo short", "demo");
  const only = parseOnly(values.only, values.all === true);
  const width = integerFlag("demo", "width", values.width, terminalWidth(io.stdout, io.env), 30, 1000);
  const svgPath = typeof values.svg === "string" ? values.svg : undefined;
  if (svgPath === "") throw new UsageError("Expected `--svg` to name a file", "demo");

  const server = await startDemoServer({ delay });
  const runs: ApproachRun[] = [];
  // Progress on stderr while it runs (seconds with the defaults, minutes with big flags), for a person watching it.
  // It counts the responses the server has finished, read by a 100 ms timer: the scenarios themselves are not
  // touched, so the display cannot change the interleavings they measure. Cleared before the report is printed.
  const bar = progressBar<{ approach: string }>(io.stderr, "{bar} {value}/{total} requests | {approach}", { clearOnComplete: true });
  let finished = 0;
  let approach = "warming up";
  const served = (): number => finished + server.served.filter((r) => r.id > 0 && r.end !== undefined).length;
  bar?.start(only.length * requests, 0, { approach });
  const ticker = bar === undefined ? undefined : setInterval(() => bar.update(served(), { approach }), 100);
  try {
    await warmUp(server.url, limit);
    for (const [index, key] of only.entries()) {
      approach = `${index + 1}/${only.length} ${APPROACH_INFO[key].title}`;
      bar?.update(finished, { approach });
      runs.push(await runApproach(key, { url: server.url, requests, limit, poll }, server));
      finished += requests;
    }
  } finally {
    clearInterval(ticker);
    bar?.stop();
    await server.close();
  }

  const failed =
    runs.some((r) => r.traces.some((t) => t.error !== undefined)) ||
    runs.some((r) => (r.key === "semaphore" || r.key === "limitFetch") && r.serverPeak > r.limit);

  if (svgPath !== undefined) await writeFile(svgPath, renderSvg(runs, { requests, limit, delay }));

  if (values.json === true) {
    io.stdout.write(`${JSON.stringify({ requests, limit, delay, poll, runs }, null, 2)}\n`);
    return failed ? 1 : 0;
  }

  const color = shouldColor(io.stdout, io.env);
  const spanMs = Math.max(...runs.map((r) => r.totalMs));
  const out: string[] = [
    wrap(
      `permits demo: ${requests} requests, limit ${limit}, the server takes ${delay} ms per request; ` +
        `the polling loops sleep ${poll} ms.`,
      width,
    ),
    "",
    renderTable(runs, { color }),
    "",
    renderVerdicts(runs, { width }),
    "",
  ];
  for (const run of runs) out.push(renderTimeline(run, { width, spanMs, color }), "");
  out.push(...renderLegend().split("\n").map((line) => wrap(line, width, "  ")));
  if (svgPath !== undefined) out.push(`SVG timeline written to ${svgPath}`);
  io.stdout.write(`${out.join("\n")}\n`);
  return failed ? 1 : 0;
}
