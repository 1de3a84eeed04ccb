#!/usr/bin/env bash
# Runs the whole vitest suite on one Node binary, the way `npm test` and
# scripts/test-runtimes.sh want it:
#
#   scripts/vitest.sh <node-binary> <label> [--fresh] [vitest filters…]
#
# (--fresh: empty the flaky log first; `npm test`'s first run does. Filters,
# such as test files, are passed to the first run.)
#
# - The suite runs once, with vitest's JSON report beside the usual output.
# - If test files failed, those files (only) run once more. A file that fails
#   twice fails the run. A file that failed once and then passed does not, but
#   it is printed as FLAKY — with the names of the tests that failed — here
#   and again in the last lines of `npm test` (scripts/test-extra.sh reads
#   $FLAKY_LOG). A flaky test is a bug to fix, not noise: the suite talks to
#   real redis-servers, HTTP servers and terminals on a 2-core machine, and a
#   rerun must not hide a real failure, which fails both times.
# - A run that fails without a failing file (an unhandled error, a crash)
#   fails at once, without a rerun.
#
# Exit status: 0 when everything passed (possibly on the rerun), else 1.
set -uo pipefail
cd "$(dirname "$0")/.."

node=${1:?usage: scripts/vitest.sh <node-binary> <label>}
label=${2:?usage: scripts/vitest.sh <node-binary> <label>}
flaky_log=${FLAKY_LOG:-node_modules/.cache/permit-pool/flaky.txt}
mkdir -p "$(dirname "$flaky_log")"
shift 2
if [ "${1:-}" = "--fresh" ]; then : > "$flaky_log"; shift; fi

json=$(mktemp)
trap 'rm -f "$json" "$json.2"' EXIT

"$node" node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile.json="$json" "$@"
rc=$?
[ "$rc" -eq 0 ] && exit 0

# The failed files, and the failed tests in them, from the JSON report.
report() { # report <json> files|tests
  "$node" -e '
    const fs = require("node:fs");
    const [file, what] = process.argv.slice(1);
    let data;
    try { data = JSON.parse(fs.readFileSync(file, "utf8")); } catch { process.exit(0); }
    const root = process.cwd() + "/";
    for (const result of data.testResults ?? []) {
      if (result.status !== "failed") continue;
      const name = String(result.name).replace(root, "");
      if (what === "files") { console.log(name); continue; }
      const failed = (result.assertionResults ?? []).filter((t) => t.status === "failed");
      if (failed.length === 0) console.log(`${name}: ${String(result.message ?? "failed").split("\n")[0]}`);
      for (const t of failed) console.log(`${name} > ${t.fullName ?? t.title}`);
    }
  ' "$1" "$2"
}

mapfile -t files < <(report "$json" files)
if [ ${#files[@]} -eq 0 ]; then
  echo "$label: vitest failed (exit $rc) with no failing test file in its report: not rerun" >&2
  exit 1
fi
mapfile -t first < <(report "$json" tests)

echo
echo "=== $label: ${#files[@]} test file(s) failed; running them once more: ${files[*]}"
"$node" node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile.json="$json.2" "${files[@]}"
rc2=$?
if [ "$rc2" -ne 0 ]; then
  echo "$label: failed again on the rerun:" >&2
  report "$json.2" tests | sed 's/^/  /' >&2
  exit 1
fi
{
  for line in "${first[@]}"; do echo "FLAKY ($label, passed on the rerun): $line"; done
} | tee -a "$flaky_log"
exit 0
