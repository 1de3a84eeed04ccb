#!/usr/bin/env bash
# Makes sure the programs the test suite runs, which npm cannot install, are
# here — the first step of `npm test`, and so of `.ci/run`:
#   redis-server  (Debian package redis-server)  the Redis tests' real server
#   redis-cli     (redis-tools)                  the Redis test helpers
#   chromium      (chromium)                     the browser tests ($CHROMIUM_PATH if set)
#   tmux          (tmux)                         the CLI tests in a pseudo-terminal
# All present: prints nothing, exits 0. Some missing and we are root with
# apt-get: installs them (apt-get update, apt-get install -y). Otherwise stops
# at once, exit 1, naming the packages and the command that installs them.
# Uses only shell builtins besides `id` and `apt-get`.
set -uo pipefail

missing=()   # Debian packages to install
commands=()  # what each provides, for the message
have() { command -v "$1" >/dev/null 2>&1; }
need() { # need <command> <package>
  if ! have "$1"; then missing+=("$2"); commands+=("$1"); fi
}
need redis-server redis-server
need redis-cli redis-tools
if [ -n "${CHROMIUM_PATH:-}" ]; then
  [ -x "$CHROMIUM_PATH" ] || { missing+=(chromium); commands+=("chromium (CHROMIUM_PATH=$CHROMIUM_PATH)"); }
else
  need chromium chromium
fi
need tmux tmux

[ ${#missing[@]} -eq 0 ] && exit 0

say() { printf 'ensure-system-deps: %s\n' "$*" >&2; }
install_cmd="apt-get install -y --no-install-recommends ${missing[*]}"
say "the tests need ${commands[*]}, which npm cannot install (Debian packages: ${missing[*]})"

if [ "$(id -u 2>/dev/null)" != "0" ]; then
  say "not root, so not installing them; run:"
  say "  sudo apt-get update && sudo $install_cmd"
  exit 1
fi
if ! have apt-get; then
  say "no apt-get here; install these with your system's package manager: ${missing[*]}"
  exit 1
fi

say "installing: apt-get update && $install_cmd"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq || ! apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  say "apt-get failed; run it yourself: apt-get update && $install_cmd"
  exit 1
fi

# Installed is not enough: each program must now be found.
still=()
for c in "${commands[@]}"; do
  name=${c%% *}
  if [ "$name" = chromium ] && [ -n "${CHROMIUM_PATH:-}" ]; then [ -x "$CHROMIUM_PATH" ] || still+=("$c")
  elif ! have "$name"; then still+=("$c"); fi
done
if [ ${#still[@]} -gt 0 ]; then
  say "installed ${missing[*]}, but still cannot find: ${still[*]}"
  exit 1
fi
say "installed ${missing[*]}"
