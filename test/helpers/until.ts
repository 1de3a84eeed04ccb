/**
 * Polls `check` every 10–20 ms until it holds, for tests that wait on a real
 * process (redis-server, a child, a socket). Bounded: throws naming `what`
 * after `ms`.
 *
 * @example
 * ```ts
 * await until("client reconnected", () => redis.status === "ready");
 * ```
 */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
}
