#!/usr/bin/env node
// The `permits` executable. It only loads the built CLI (dist/main.js), and it
// is a file of its own, kept in git, so that npm links the command when it
// installs the workspace, which in this repository happens before the CLI is
// built (`npm ci`, then `npm run build` or `npm run demo`).
import process from "node:process";

import("../dist/main.js").catch((/** @type {{ code?: unknown; message?: unknown }} */ error) => {
  if (error?.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("main.js")) {
    process.stderr.write("permits: the command is not built yet; run `npm run build` at the repository root\n");
    process.exitCode = 1;
    return;
  }
  throw error;
});
