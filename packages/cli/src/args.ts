/**
 * Argument parsing shared by the `permits` commands: `util.parseArgs` does the
 * parsing; this module turns its errors and our value checks into a
 * {@link UsageError}, which `main` prints without a stack trace and answers
 * with exit code 2.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Exit code for a bad command line (flags, values, too many arguments). */
export const EXIT_USAGE = 2;

/**
 * A mistake on the command line. `main` prints `message` and a pointer to
 * `--help` on stderr and exits with code 2; no stack trace is shown.
 */
export class UsageError extends Error {
  /** The command whose `--help` the message points to, e.g. `"fetch"`. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** What {@link parseCommandLine} returns: the parsed flag values and positionals. */
export interface ParsedCommandLine {
  /** Flag values by long name; absent flags are `undefined`. */
  values: Record<string, string | boolean | undefined>;
  /** Arguments that are not flags. */
  positionals: string[];
}

/**
 * Parses `args` strictly with `util.parseArgs`: an unknown flag, a missing
 * value or a value given to a boolean flag is a {@link UsageError}.
 */
export function parseCommandLine(
  command: string,
  args: readonly string[],
  options: Options,
  maxPositionals: number,
): ParsedCommandLine {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
  } catch (error) {
    // parseArgs reports usage mistakes as TypeErrors with an ERR_PARSE_ARGS_* code; anything else is ours to see.
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      throw new UsageError(tidyParseArgsMessage((error as Error).message), command);
    }
    throw error;
  }
  if (parsed.positionals.length > maxPositionals) {
    const extra = parsed.positionals.slice(maxPositionals).map((p) => JSON.stringify(p)).join(", ");
    throw new UsageError(`Unexpected argument ${extra}`, command);
  }
  return { values: parsed.values as ParsedCommandLine["values"], positionals: parsed.positionals };
}

/**
 * parseArgs' messages are good but address script authors and span lines
 * ("To specify a positional argument starting with a '-', ..."): keep them on
 * one line, and drop that hint for unknown options, where it only confuses.
 */
function tidyParseArgsMessage(message: string): string {
  const kept = message.split(/\n|(?<=\.) (?=To specify a positional)/).filter((part) => !part.startsWith("To specify a positional"));
  return kept.join(" ").replace(/\.$/, "");
}

function describeFlagValue(value: string): string {
  return `\`${value}\``;
}

/**
 * Reads an integer flag: digits only (no `1e3`, `0x10`, `2.5`), within `[min, max]`.
 * Returns `fallback` when the flag was not given.
 */
export function integerFlag(
  command: string,
  name: string,
  value: string | boolean | undefined,
  fallback: number,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const text = String(value).trim();
  const number = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `from ${min} and up` : `from ${min} to ${max}`;
    throw new UsageError(`Expected \`--${name}\` to be an integer ${range}, got ${describeFlagValue(String(value))}`, command);
  }
  return number;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, sec: 1_000, m: 60_000, min: 60_000, h: 3_600_000 };

/**
 * Reads a duration flag: `250`, `250ms`, `1.5s`, `2m`, `1h`. A bare number is
 * milliseconds, like every `timeout` option of the library. Returns
 * `fallback` when the flag was not given.
 */
export function durationFlag(
  command: string,
  name: string,
  value: string | boolean | undefined,
  fallback: number,
  { allowZero = false }: { allowZero?: boolean } = {},
): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(String(value));
  if (ms === undefined || (!allowZero && ms === 0)) {
    throw new UsageError(
      `Expected \`--${name}\` to be a duration such as \`500ms\`, \`10s\` or \`2m\` (a bare number is milliseconds)` +
        `${allowZero ? "" : " above 0"}, got ${describeFlagValue(String(value))}`,
      command,
    );
  }
  return ms;
}

/** `"1.5s"` → 1500; `undefined` for anything that is not a finite, non-negative duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?\s*$/i.exec(text);
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = UNIT_MS[(match[2] ?? "ms").toLowerCase()] ?? 1;
  const ms = Math.round(amount * unit);
  return Number.isFinite(ms) ? ms : undefined;
}

/** A rate in the RateLimiter's shape: `limit` requests per `interval` milliseconds. */
export interface RateSpec {
  /** Requests allowed per interval. */
  limit: number;
  /** The interval in milliseconds. */
  interval: number;
}

/**
 * Reads a rate flag: `10/s`, `100/min`, `5/2s`, `1/500ms`, `3600/h`.
 * Returns `undefined` when the flag was not given.
 */
export function rateFlag(command: string, name: string, value: string | boolean | undefined): RateSpec | undefined {
  if (value === undefined) return undefined;
  const rate = parseRate(String(value));
  if (rate === undefined) {
    throw new UsageError(
      `Expected \`--${name}\` to be a rate such as \`10/s\`, \`100/min\` or \`5/2s\` (an integer from 1 and up per a duration above 0), ` +
        `got ${describeFlagValue(String(value))}`,
      command,
    );
  }
  return rate;
}

/** `"10/s"` → `{ limit: 10, interval: 1000 }`; `undefined` when malformed. */
export function parseRate(text: string): RateSpec | undefined {
  const match = /^\s*(\d+)\s*\/\s*(\d+(?:\.\d+)?)?\s*(ms|s|sec|m|min|h)\s*$/i.exec(text);
  if (!match) return undefined;
  const limit = Number(match[1]);
  const interval = parseDuration(`${match[2] ?? "1"}${match[3] ?? ""}`);
  if (!Number.isSafeInteger(limit) || limit < 1 || interval === undefined || interval <= 0) return undefined;
  return { limit, interval };
}
