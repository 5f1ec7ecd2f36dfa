#!/bin/sh
# SPDX-License-Identifier: MIT
# make demo: runs examples/leaky-server under leakscope, turns leak
# detection on, drives a few seconds of load with curl, turns it off and
# prints the top leaks, symbolized. Leaves no process behind.
set -eu
cd "$(dirname "$0")/.."
out=build/demo
rm -rf "$out"
mkdir -p "$out"
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "1. Start the leaky demo server with leakscope preloaded"
echo "   LD_PRELOAD=build/libleakscope.so LEAKSCOPE_PORT=0 build/leaky-server"
LD_PRELOAD="$PWD/build/libleakscope.so" LEAKSCOPE_PORT=0 \
	LEAKSCOPE_PORT_FILE="$out/control.port" \
	build/leaky-server "$out/server.port" 2>"$out/server.log" &
server_pid=$!
i=0
while [ ! -s "$out/control.port" ] || [ ! -s "$out/server.port" ]; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$server_pid" 2>/dev/null; then
		echo "the demo server did not start:" >&2
		cat "$out/server.log" >&2
		exit 1
	fi
	sleep 0.05
done
ctl="http://127.0.0.1:$(cat "$out/control.port")"
app="http://127.0.0.1:$(cat "$out/server.port")"
echo "   control port: $ctl    server: $app"

say "2. Turn leak detection on: one allocation in 100 is sampled"
echo "   curl '$ctl/leak-on?sampling=100'"
curl -s "$ctl/leak-on?sampling=100"

say "3. Drive load for a few seconds"
urls="$out/urls"
: >"$urls"
n=0
while [ $n -lt 600 ]; do
	printf 'url = "%s/user?id=%d"\noutput = "/dev/null"\n' "$app" $n >>"$urls"
	printf 'url = "%s/search?q=cheap+red+%s"\noutput = "/dev/null"\n' "$app" \
		"$([ $((n % 4)) -eq 0 ] && echo bad || echo shoes)" >>"$urls"
	printf 'url = "%s/page?n=%d"\noutput = "/dev/null"\n' "$app" $((n % 150 + 1)) >>"$urls"
	n=$((n + 1))
done
end=$(($(date +%s) + 4))
rounds=0
while [ "$(date +%s)" -lt "$end" ]; do
	curl -s --no-progress-meter -Z --parallel-max 8 -K "$urls"
	rounds=$((rounds + 1))
done
echo "   $((rounds * 1800)) requests served"
curl -s "$ctl/leak-status"

say "4. Turn it off and save the report"
echo "   curl '$ctl/leak-off' > $out/leak.report"
curl -s "$ctl/leak-off" >"$out/leak.report"
grep -E '^(sampling|window_seconds|live|estimated|stacks):' "$out/leak.report" | sed 's/^/   /'

say "5. The top leaks, symbolized"
echo "   build/leakscope-translate --top 3 $out/leak.report"
build/leakscope-translate --top 3 "$out/leak.report"
