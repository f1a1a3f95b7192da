#!/usr/bin/env bash
# One set-up step, one line: `scripts/step.sh "what it does" command args...`.
# The command's output goes to .venv/setup.log; on failure its last 40 lines are shown, with the log's path.
set -uo pipefail
what="$1"; shift
log="${SETUP_LOG:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/setup.log}"
mkdir -p "$(dirname "$log")"
start=$SECONDS
printf 'setup: %s ... ' "$what"
echo "=== $(date -u +%FT%TZ) $what: $*" >> "$log"
if "$@" >> "$log" 2>&1; then
  echo "ok ($((SECONDS - start)) s)"
else
  code=$?
  echo "FAILED (exit $code)"
  tail -n 40 "$log" >&2
  echo "setup: the whole output is in $log" >&2
  exit "$code"
fi
