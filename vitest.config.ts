import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // Type tests of the public API (test/types/*.test-d.ts), checked by tsc, never run.
    // Source errors elsewhere are `npm run typecheck`'s to report, not the type tests'.
    typecheck: { enabled: true, include: ["test/types/**/*.test-d.ts"], ignoreSourceErrors: true },
  },
});
