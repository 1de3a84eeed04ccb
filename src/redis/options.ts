/**
 * Option checks shared by the Redis limiters.
 *
 * @internal
 * @module
 */

import { outOfRange } from "../core/errors.js";
import { checkInteger, describe } from "../core/validate.js";

/** setTimeout's largest delay: past it, Node fires the timer at once. */
export { MAX_TIMEOUT } from "../core/wait.js";
import { MAX_TIMEOUT } from "../core/wait.js";

/**
 * An integer of ms from `min` up to setTimeout's limit (2^31 − 1): every
 * such option becomes a timer delay somewhere.
 */
export function checkMs(argument: string, value: unknown, min: number): number {
  const ms = checkInteger(argument, value, min);
  if (ms > MAX_TIMEOUT) {
    throw outOfRange(
      `Expected \`${argument}\` to be an integer from ${min} to ${MAX_TIMEOUT} (ms), got ${describe(value)}`,
    );
  }
  return ms;
}
