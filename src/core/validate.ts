/**
 * Argument checks shared by every limiter. Each throws before anything
 * changes, with a message that names the argument, echoes the value and its
 * type, and says what is allowed:
 * ``Expected `capacity` to be an integer from 1 and up, got `0` (number)``.
 *
 * @internal
 * @module
 */

/** Renders a value for an error message: `` `1.5` (number) ``. */
export function describe(value: unknown): string {
  let shown: string;
  if (typeof value === "string") shown = JSON.stringify(value);
  else if (typeof value === "bigint") shown = `${value}n`;
  else if (typeof value === "symbol" || typeof value === "function") shown = String(value);
  else if (typeof value === "object" && value !== null) {
    try {
      shown = JSON.stringify(value) ?? Object.prototype.toString.call(value);
    } catch {
      shown = Object.prototype.toString.call(value);
    }
    if (shown.length > 60) shown = `${shown.slice(0, 57)}...`;
  } else shown = String(value);
  return `\`${shown}\` (${value === null ? "null" : typeof value})`;
}

/**
 * Checks a positive integer (a capacity, a weight, a count).
 * A non-number is a `TypeError`; NaN, infinities, fractions and values below
 * `min` are a `RangeError`.
 */
export function checkInteger(name: string, value: unknown, min = 1): number {
  if (typeof value !== "number") {
    throw new TypeError(`Expected \`${name}\` to be an integer from ${min} and up, got ${describe(value)}`);
  }
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Expected \`${name}\` to be an integer from ${min} and up, got ${describe(value)}`);
  }
  return value;
}

/** Checks a duration in milliseconds: a finite number from 0 and up, or `Infinity`. */
export function checkDuration(name: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(`Expected \`${name}\` to be a number of milliseconds from 0 and up, got ${describe(value)}`);
  }
  if (Number.isNaN(value) || value < 0) {
    throw new RangeError(`Expected \`${name}\` to be a number of milliseconds from 0 and up, got ${describe(value)}`);
  }
  return value;
}

/** Checks something that quacks like an `AbortSignal`. */
export function checkSignal(name: string, value: unknown): AbortSignal {
  if (
    typeof value !== "object" ||
    value === null ||
    typeof (value as AbortSignal).aborted !== "boolean" ||
    typeof (value as AbortSignal).addEventListener !== "function"
  ) {
    throw new TypeError(`Expected \`${name}\` to be an AbortSignal, got ${describe(value)}`);
  }
  return value as AbortSignal;
}

/** Checks that an options bag is an object with no keys outside `allowed`. */
export function checkOptions(name: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`${name}\` to be an object, got ${describe(value)}`);
  }
  for (const key in value) {
    if (!allowed.includes(key)) {
      throw new TypeError(
        `Unknown option \`${key}\` in \`${name}\`; allowed: ${allowed.map((k) => `\`${k}\``).join(", ")}`,
      );
    }
  }
}

/** Checks a callback. */
export function checkFunction(name: string, value: unknown): void {
  if (typeof value !== "function") {
    throw new TypeError(`Expected \`${name}\` to be a function, got ${describe(value)}`);
  }
}

/** The checked options of an `acquire`/`run` call. */
export interface ParsedAcquire {
  weight: number;
  signal: AbortSignal | undefined;
  timeout: number | undefined;
}

const ACQUIRE_KEYS: readonly string[] = ["weight", "signal", "timeout"];

/**
 * Checks the options of `acquire`/`run` (`{ weight, signal, timeout }`) the
 * same way for every limiter and backend: unknown keys are a `TypeError`, a
 * bad weight, signal or timeout a `TypeError`/`RangeError`. Call it only when
 * options were given (the no-options path allocates nothing).
 */
export function readAcquireOptions(options: {
  weight?: number | undefined;
  signal?: AbortSignal | undefined;
  timeout?: number | undefined;
}): ParsedAcquire {
  checkOptions("options", options, ACQUIRE_KEYS);
  return {
    weight: options.weight === undefined ? 1 : checkInteger("weight", options.weight),
    signal: options.signal === undefined ? undefined : checkSignal("signal", options.signal),
    timeout: options.timeout === undefined ? undefined : checkDuration("timeout", options.timeout),
  };
}
