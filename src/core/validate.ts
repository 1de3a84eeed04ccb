/**
 * Argument checks shared by every limiter. Each throws before anything
 * changes, with a message that names the argument, echoes the value and its
 * type, and says what is allowed:
 * ``Expected `capacity` to be an integer from 1 and up, got `0` (number)``.
 *
 * Not exported from the package's entry points. (Not tagged internal here:
 * `stripInternal` would drop the first declaration below with the tag.)
 *
 * @module
 */

import { invalidArgument, outOfRange } from "./errors.js";

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
    throw invalidArgument(`Expected \`${name}\` to be an integer from ${min} and up, got ${describe(value)}`);
  }
  if (!Number.isSafeInteger(value) || value < min) {
    throw outOfRange(`Expected \`${name}\` to be an integer from ${min} and up, got ${describe(value)}`);
  }
  return value;
}

/** Checks a duration in milliseconds: a finite number from 0 and up, or `Infinity`. */
export function checkDuration(name: string, value: unknown): number {
  if (typeof value !== "number") {
    throw invalidArgument(`Expected \`${name}\` to be a number of milliseconds from 0 and up, got ${describe(value)}`);
  }
  if (Number.isNaN(value) || value < 0) {
    throw outOfRange(`Expected \`${name}\` to be a number of milliseconds from 0 and up, got ${describe(value)}`);
  }
  return value;
}

/**
 * Checks a rate's `interval`: a finite number of milliseconds above 0 (a
 * window of 0 or of forever is no rate). `checkDuration` would allow 0 and
 * say "from 0 and up", which the docs do not.
 */
export function checkInterval(name: string, value: unknown): number {
  if (typeof value === "number" && Number.isFinite(value) && value > 0) return value;
  const message = `Expected \`${name}\` to be a finite number of milliseconds above 0, got ${describe(value)}`;
  throw typeof value === "number" ? outOfRange(message) : invalidArgument(message);
}

/** Checks something that quacks like an `AbortSignal`. */
export function checkSignal(name: string, value: unknown): AbortSignal {
  if (
    typeof value !== "object" ||
    value === null ||
    typeof (value as AbortSignal).aborted !== "boolean" ||
    typeof (value as AbortSignal).addEventListener !== "function"
  ) {
    throw invalidArgument(`Expected \`${name}\` to be an AbortSignal, got ${describe(value)}`);
  }
  return value as AbortSignal;
}

/** Checks that an options bag is an object with no keys outside `allowed`. */
export function checkOptions(name: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidArgument(`Expected \`${name}\` to be an object, got ${describe(value)}`);
  }
  for (const key in value) {
    if (!allowed.includes(key)) {
      throw invalidArgument(
        `Unknown option \`${key}\` in \`${name}\`; allowed: ${allowed.map((k) => `\`${k}\``).join(", ")}`,
      );
    }
  }
}

/** Checks a callback. */
export function checkFunction(name: string, value: unknown): void {
  if (typeof value !== "function") {
    throw invalidArgument(`Expected \`${name}\` to be a function, got ${describe(value)}`);
  }
}

/** The checked options of an `acquire`/`run` call. */
export interface ParsedAcquire {
  weight: number;
  signal: AbortSignal | undefined;
  timeout: number | undefined;
  /** 0 unless given. */
  priority: number;
  tenant: string | undefined;
}

const ACQUIRE_KEYS: readonly string[] = ["weight", "signal", "timeout", "priority", "tenant"];

/** Checks a waiter's priority: a safe integer (negative allowed), higher first. */
export function checkPriority(value: unknown): number {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  const message = `Expected \`priority\` to be an integer (higher is served first; default 0), got ${describe(value)}`;
  throw typeof value === "number" ? outOfRange(message) : invalidArgument(message);
}

/** Checks a waiter's tenant: any string. */
export function checkTenant(value: unknown): string {
  if (typeof value === "string") return value;
  throw invalidArgument(`Expected \`tenant\` to be a string, got ${describe(value)}`);
}

/**
 * Checks the `aging` option: a number of milliseconds above 0, or `Infinity`
 * (no aging: strict priority).
 */
export function checkAging(value: unknown): number {
  if (typeof value === "number" && value > 0) return value;
  const message = `Expected \`aging\` to be a number of milliseconds above 0 (or Infinity: no aging), got ${describe(value)}`;
  throw typeof value === "number" ? outOfRange(message) : invalidArgument(message);
}

/**
 * Asks a `weights` option for a tenant's weight and checks the answer: a
 * finite number above 0.
 */
export function tenantWeight(weights: (tenant: string) => number, tenant: string): number {
  const w = weights(tenant);
  if (typeof w === "number" && Number.isFinite(w) && w > 0) return w;
  const message =
    `Expected \`weights\` to return a finite number above 0 for tenant ${describe(tenant)}, got ${describe(w)}`;
  throw typeof w === "number" ? outOfRange(message) : invalidArgument(message);
}

/**
 * Checks the options of `acquire`/`run` (`{ weight, signal, timeout,
 * priority, tenant }`) the same way for every limiter and backend: unknown
 * keys are a `TypeError`, a bad weight, signal, timeout, priority or tenant a
 * `TypeError`/`RangeError`. Call it only when options were given (the
 * no-options path allocates nothing).
 */
export function readAcquireOptions(options: {
  weight?: number | undefined;
  signal?: AbortSignal | undefined;
  timeout?: number | undefined;
  priority?: number | undefined;
  tenant?: string | undefined;
}): ParsedAcquire {
  checkOptions("options", options, ACQUIRE_KEYS);
  return {
    weight: options.weight === undefined ? 1 : checkInteger("weight", options.weight),
    signal: options.signal === undefined ? undefined : checkSignal("signal", options.signal),
    timeout: options.timeout === undefined ? undefined : checkDuration("timeout", options.timeout),
    priority: options.priority === undefined ? 0 : checkPriority(options.priority),
    tenant: options.tenant === undefined ? undefined : checkTenant(options.tenant),
  };
}

/** @internal Checks a `{ limit, interval, burst? }` options object (the HTTP layer uses it too). */
export function checkRate(name: string, options: unknown, allowed: readonly string[]): { limit: number; interval: number; burst: number } {
  checkOptions(name, options, allowed);
  const o = options as { limit?: unknown; interval?: unknown; burst?: unknown };
  const limit = checkInteger("limit", o.limit);
  const interval = checkInterval("interval", o.interval);
  const burst = o.burst === undefined ? 1 : checkInteger("burst", o.burst);
  return { limit, interval, burst };
}
