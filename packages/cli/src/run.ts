/**
 * The `permits` command line as a function: `main(argv, io)` → exit code.
 * The executable is `main.ts`, which only calls this.
 *
 * Exit codes: 0 success, 1 something failed (a request, a broken limit),
 * 2 a usage error (message on stderr, no stack trace), 130 interrupted.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { EXIT_USAGE, UsageError } from "./args.js";
import { demoCommand } from "./demo/index.js";
import { fetchCommand } from "./fetch/index.js";
import { processIo, type Io } from "./io.js";

/** `permits --help`. */
export const MAIN_HELP = `Usage: permits <command> [options]

Commands:
  demo             the seed article's scenario, measured four ways against a loopback server
  fetch [file]     fetch URLs (one per line, from file or stdin) with limits; NDJSON results

Options:
  -h, --help       show this help (also: permits <command> --help)
  -v, --version    print the version

Exit codes: 0 ok, 1 something failed, 2 usage error, 130 interrupted (Ctrl-C).
`;

const COMMANDS: Record<string, (args: readonly string[], io: Io) => Promise<number>> = {
  demo: demoCommand,
  fetch: fetchCommand,
};

function version(): string {
  // dist/main.js and src/main.ts both sit one level below the package.json of permit-pool-cli.
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "unknown";
}

/** Runs the CLI with `argv` (without `node` and the script); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || first === "-h" || first === "--help" || first === "help") {
      const topic = first === "help" ? rest[0] : undefined;
      if (topic !== undefined && topic in COMMANDS) return await (COMMANDS[topic] as (typeof COMMANDS)[string])(["--help"], io);
      (first === undefined ? io.stderr : io.stdout).write(MAIN_HELP);
      return first === undefined ? EXIT_USAGE : 0;
    }
    if (first === "-v" || first === "--version") {
      io.stdout.write(`${version()}\n`);
      return 0;
    }
    const command = COMMANDS[first];
    if (command === undefined) {
      throw new UsageError(`Unknown command \`${first}\` (expected one of: ${Object.keys(COMMANDS).join(", ")})`);
    }
    return await command(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      const help = error.command === undefined ? "permits --help" : `permits ${error.command} --help`;
      io.stderr.write(`permits: ${error.message}\nRun \`${help}\` for usage.\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}
