#!/usr/bin/env bash
# Everything `npm test` checks beyond the type-check, lint and the Node 20
# vitest run — one entry point, wired into `npm test` after those:
#   1. runtimes  (scripts/test-runtimes.sh): the whole vitest suite on Node 24;
#                the contract subset on Node 20, Node 24, Bun and Deno;
#   2. package   (scripts/check-package.sh): npm pack → publint, attw,
#                import + require() of every subpath on Node 20 and 24,
#                every runtime export typed for import and require, the
#                core's size budget (min+gzip);
#   3. tsdoc     (scripts/check-tsdoc.mjs): every public export has a
#                description and (values) an @example; every acquire/run has
#                "Fairness" and "Cancel safety" paragraphs;
#   4. docs      `typedoc --emit none`: the API reference builds (`npm run docs`
#                writes it to docs/api/).
# Needs dist/ (npm test builds it first). Exits non-zero if any step failed,
# and ends with one line "extra: N passed, N failed" (one per step).
#
#   scripts/test-extra.sh              all steps
#   scripts/test-extra.sh --no-vitest  skip the Node 24 vitest run (quick local check)
set -uo pipefail
cd "$(dirname "$0")/.."

runtimes_args=()
[ "${1:-}" = "--no-vitest" ] && runtimes_args+=(--smoke)

passed=0
failed=0
lines=()
step() { # step <name> <command...>
  local name=$1; shift
  echo
  echo "=== $name: $*"
  local start=$SECONDS
  if "$@"; then passed=$((passed + 1)); lines+=("ok    $name ($((SECONDS - start)) s)")
  else failed=$((failed + 1)); lines+=("FAIL  $name ($((SECONDS - start)) s)"); fi
}

step runtimes bash scripts/test-runtimes.sh "${runtimes_args[@]}"
step package bash scripts/check-package.sh
step tsdoc node scripts/check-tsdoc.mjs
step docs node_modules/.bin/typedoc --emit none --logLevel Error

echo
echo "test-extra:"
printf '  %s\n' "${lines[@]}"
flaky_log=${FLAKY_LOG:-node_modules/.cache/permit-pool/flaky.txt}
if [ -s "$flaky_log" ]; then
  echo "flaky tests (failed once, passed when their file ran again — bugs to fix):"
  sed 's/^/  /' "$flaky_log"
fi
echo "extra: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
