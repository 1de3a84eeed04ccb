/** Type tests of permit-pool/http's shared rate: what permit-pool/redis offers fits it; a rate without pause does not. */
import { describe, expectTypeOf, test } from "vitest";
import type { SharedRate } from "../../src/http/index.js";
import type { RedisRateLimiter } from "../../src/redis/index.js";

describe("permit-pool/http SharedRate", () => {
  test("a RedisRateLimiter is a SharedRate", () => {
    expectTypeOf<RedisRateLimiter>().toExtend<SharedRate>();
  });

  test("something that cannot pause is not", () => {
    expectTypeOf<{ acquire(): Promise<{ release(): void }> }>().not.toExtend<SharedRate>();
  });
});
