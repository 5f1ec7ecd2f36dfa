#!/bin/sh
# SPDX-License-Identifier: MIT
# Test runner: runs each test command given as an argument. A test prints
# "ok - NAME" or "not ok - NAME" lines; a command that exits non-zero
# without any "not ok" line counts as one failure. Ends with one line,
# "N passed, N failed", and exits non-zero on any failure.
set -u
passed=0; failed=0
log=$(mktemp /tmp/leakscope-test.XXXXXX)
# The suite's processes keep their sockets and exit reports in a runtime
# directory of the run's own (docs/process-trees.md), not in the user's;
# a test of the default location unsets it.
LEAKSCOPE_RUNTIME_DIR=$(mktemp -d /tmp/leakscope-test-rt.XXXXXX)
export LEAKSCOPE_RUNTIME_DIR
trap 'rm -f "$log"; rm -rf "$LEAKSCOPE_RUNTIME_DIR"' EXIT
for t in "$@"; do
  echo "== $t"
  # shellcheck disable=SC2086
  sh -c "$t" >"$log" 2>&1
  rc=$?
  cat "$log"
  p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $t exited with status $rc"
    f=1
  fi
  passed=$((passed + p)); failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
