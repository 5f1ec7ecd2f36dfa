#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs each libFuzzer target for the given seconds, starting from the
# committed corpus; new interesting inputs land in build/fuzz/new-*/
# (merge the ones worth keeping into tests/fuzz/corpus/ by hand).
# Prints "ok - " / "not ok - " lines for tests/run.sh.
set -u
secs=${1:-60}
cd "$(dirname "$0")/.."
rc=0
for t in query report; do
	new=build/fuzz/new-$t
	mkdir -p "$new"
	log=build/fuzz/$t.log
	if [ ! -x build/fuzz/fuzz_$t ]; then
		echo "not ok - build/fuzz/fuzz_$t is not built (make fuzz-bins needs clang-14)"
		rc=1
		continue
	fi
	if build/fuzz/fuzz_$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-close_fd_mask=2 "$new" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
		execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
		[ -n "$execs" ] || execs=$(grep -oE '#[0-9]+' "$log" | tail -1 | tr -d '#')
		echo "ok - fuzz_$t ran ${secs}s, ${execs:-?} executions, no crash"
	else
		echo "not ok - fuzz_$t found a crash; see $log and crash-* files"
		tail -30 "$log"
		rc=1
	fi
done
exit $rc
