#!/usr/bin/env node
/**
 * The `permits` executable (package `bin`). All of the work is in `run.ts`.
 *
 * @module
 */
import { main } from "./run.js";

main(process.argv.slice(2)).then(
  (code) => {
    // exitCode, not exit(): stdout may still be flushing into a pipe.
    process.exitCode = code;
  },
  (error: unknown) => {
    // Usage errors and failed requests are handled inside; reaching here is a bug, so show it in full.
    process.stderr.write(`permits: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
