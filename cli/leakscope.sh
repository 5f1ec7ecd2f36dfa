#!/bin/sh
# SPDX-License-Identifier: MIT
# leakscope: run a program under the leak detector and talk to its control
# port. Installed as bin/leakscope; `leakscope --help` and leakscope(1).
#
# Exit status: 0 success, 1 failure (nothing listening, HTTP error,
# program failed to start), 2 bad usage.
set -u

VERSION=@VERSION@
me=leakscope
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "$me: $*" >&2; exit 1; }
usage_error() { echo "$me: $*" >&2; echo "$me: try '$me --help'" >&2; exit 2; }

# The preload and the translator: next to this script in a build tree,
# under ../lib and ../bin when installed.
find_lib() {
	for f in "$here/libleakscope.so" "$here/../lib/libleakscope.so.0" \
		"$here/../lib/x86_64-linux-gnu/libleakscope.so.0"; do
		[ -f "$f" ] && { (cd "$(dirname "$f")" && echo "$PWD/$(basename "$f")"); return 0; }
	done
	return 1
}
find_translate() {
	for f in "$here/leakscope-translate" "$here/../bin/leakscope-translate"; do
		[ -x "$f" ] && { echo "$f"; return 0; }
	done
	command -v leakscope-translate
}

help_main() {
	cat <<EOF
usage: $me COMMAND [OPTIONS]

Sampling memory-leak detector for live C and C++ programs.

commands:
  run [--port P] [--sampling N] [--report FILE] -- CMD [ARGS...]
                 start CMD under leakscope and print its control URL
  on --sampling N       open a leak window (sample one allocation in N)
  off [-o FILE] [--min-age S] [--format text|pprof]
                        close the window and write its report
  report [-o FILE] [--min-age S] [--format text|pprof]
                        the same report, leaving the window open
  status                the detector's state, as JSON
  translate ARGS...     symbolize a report (leakscope-translate ARGS...)

how to reach the program (on/off/report/status):
  --pid PID       find the process's own control socket (from /proc, not its
                  environment) and check that it answers for PID
  --port P        http://127.0.0.1:P  (default: \$LEAKSCOPE_PORT, else 8088)
  --host H        address to use with --port (default 127.0.0.1)
  --socket PATH   its LEAKSCOPE_SOCKET
  LEAKSCOPE_TOKEN, when set, is sent as the bearer token.

'$me COMMAND --help' describes one command. Exit status: 0 success,
1 failure, 2 bad usage. See leakscope(1).
EOF
}

help_run() {
	cat <<EOF
usage: $me run [--port P] [--sampling N] [--report FILE] -- CMD [ARGS...]

Starts CMD with the leakscope preload, prints the control URL on stderr
once the port is open, and waits for CMD, returning its exit status.

  --port P        control port (default 0: any free port)
  --sampling N    open a window at start, sampling one allocation in N
  --report FILE   write the report to FILE when CMD exits (%p = its pid)
EOF
}

help_on() {
	echo "usage: $me on --sampling N [--pid PID | --port P | --socket PATH]"
	echo
	echo "Opens a leak window: about one allocation in N (1..1000000000) is sampled."
}

help_off() {
	cat <<EOF
usage: $me off|report [-o FILE] [--min-age S] [--format text|pprof]
                      [--pid PID | --port P | --socket PATH]

off closes the window and prints its report (or writes it to FILE);
report does the same and leaves the window open. --min-age leaves out
allocations younger than S seconds; --format pprof gives the gperftools
heap profile text that pprof reads.
EOF
}

help_status() {
	echo "usage: $me status [--pid PID | --port P | --socket PATH]"
	echo
	echo "Prints the detector's state as JSON."
}

# ---- finding the control port ------------------------------------------

pid="" port="" host=127.0.0.1 sock="" url=""

# Finds the endpoint of process $1 from the process itself, never from
# /proc/PID/environ (servers overwrite it to set a process title). The
# preload's control thread is named "leakscope" and keeps its sockets in
# a descriptor table of its own: the listening socket among them, looked
# up by inode in the process's /proc/net tables, gives the address and
# port, or the Unix socket's path. Sets port and host, or sock.
endpoint_of() {
	p=$1
	[ -d "/proc/$p" ] || die "no process $p"
	[ -r "/proc/$p/maps" ] || die "cannot read /proc/$p/maps (permission? run as the process's user or root)"
	grep -q libleakscope "/proc/$p/maps" 2>/dev/null ||
		die "process $p does not run under leakscope (libleakscope is not loaded in it)"
	inodes=""
	for task in /proc/"$p"/task/*; do
		[ "$(cat "$task/comm" 2>/dev/null)" = leakscope ] || continue
		inodes="$inodes $(ls -l "$task/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ')"
	done
	[ -n "${inodes# }" ] || die "process $p runs leakscope but has no control endpoint (LEAKSCOPE_PORT=off, its port was taken, or it was exec'd by a process under leakscope and inherited its settings)"
	found=$(awk -v want=" $inodes " '
		function hex(s,   i, v, c) { v = 0; s = tolower(s)
			for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; v = v * 16 + c }
			return v }
		# /proc/net/tcp{,6}: local_address is HEX:PORT, words little-endian.
		FILENAME ~ /tcp6?$/ && FNR > 1 && $4 == "0A" && index(want, " " $10 " ") {
			split($2, a, ":"); port = hex(a[2]); ip = a[1]
			if (length(ip) == 8) {
				h = hex(substr(ip, 7, 2)) "." hex(substr(ip, 5, 2)) "." hex(substr(ip, 3, 2)) "." hex(substr(ip, 1, 2))
				if (h == "0.0.0.0") h = "127.0.0.1"
			} else {
				h = ""
				for (w = 0; w < 4; w++) {
					word = substr(ip, 8 * w + 1, 8)
					hi = substr(word, 7, 2) substr(word, 5, 2); lo = substr(word, 3, 2) substr(word, 1, 2)
					h = h (w ? ":" : "") sprintf("%x:%x", hex(hi), hex(lo))
				}
				if (h == "0:0:0:0:0:0:0:0") h = "::1"
			}
			print "tcp " h " " port; exit }
		# /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path.
		FILENAME ~ /unix$/ && FNR > 1 && $4 == "00010000" && index(want, " " $7 " ") && NF >= 8 {
			print "unix " $8; exit }
	' "/proc/$p/net/tcp" "/proc/$p/net/tcp6" "/proc/$p/net/unix" 2>/dev/null)
	case $found in
	"tcp "*) set -- $found; host=$2; port=$3 ;;
	"unix "*) sock=${found#unix } ;;
	*) die "process $p runs leakscope, but its control socket was not found in /proc/$p/net" ;;
	esac
}

resolve_target() {
	if [ -n "$pid" ]; then
		case $pid in *[!0-9]*|'') usage_error "--pid needs a number" ;; esac
		endpoint_of "$pid"
	fi
	if [ -z "$sock" ] && [ -z "$port" ]; then
		port=${LEAKSCOPE_PORT:-8088}
	fi
	case $port in *[!0-9]*) usage_error "--port needs a number" ;; esac
	case $host in *:*) url="http://[$host]:$port" ;; *) url="http://$host:$port" ;; esac
	[ -n "$sock" ] && url="http://localhost"
	if [ -n "$pid" ]; then
		# Never act on another process: the endpoint must answer for $pid.
		st=$(call "/leak-status") || exit 1
		answered=$(echo "$st" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
		[ "$answered" = "$pid" ] ||
			die "the endpoint found for process $pid answered for process ${answered:-?}; not using it"
	fi
	return 0
}

# curl the control port: prints the body (to $out when set), 1 on error.
call() {
	path=$1 out=${2:-}
	set -- -sS -w '%{http_code}' --max-time 600
	[ -n "$sock" ] && set -- "$@" --unix-socket "$sock"
	[ -n "${LEAKSCOPE_TOKEN:-}" ] && set -- "$@" -H "Authorization: Bearer $LEAKSCOPE_TOKEN"
	body=$(mktemp "${TMPDIR:-/tmp}/leakscope.XXXXXX") || die "cannot create a temporary file"
	code=$(curl "$@" -o "$body" "$url$path" 2>"$body.err")
	rc=$?
	if [ $rc -ne 0 ]; then
		rm -f "$body" "$body.err"
		if [ -n "$sock" ]; then
			die "nothing answers on socket $sock (is the program running under leakscope?)"
		fi
		die "nothing answers at $url (is the program running under leakscope? try --pid or --port)"
	fi
	rm -f "$body.err"
	case $code in
	2*)
		if [ -n "$out" ]; then
			mv "$body" "$out" || die "cannot write $out"
		else
			cat "$body"
			rm -f "$body"
		fi
		return 0 ;;
	*)
		sed "s/^/$me: /" "$body" >&2
		rm -f "$body"
		return 1 ;;
	esac
}

# ---- commands -------------------------------------------------------------

cmd_run() {
	rport=0 sampling="" report=""
	while [ $# -gt 0 ]; do
		case $1 in
		--help|-h) help_run; exit 0 ;;
		--port) [ $# -ge 2 ] || usage_error "--port needs a value"; rport=$2; shift 2 ;;
		--sampling) [ $# -ge 2 ] || usage_error "--sampling needs a value"; sampling=$2; shift 2 ;;
		--report) [ $# -ge 2 ] || usage_error "--report needs a value"; report=$2; shift 2 ;;
		--) shift; break ;;
		-*) usage_error "run: unknown option $1" ;;
		*) break ;;
		esac
	done
	[ $# -ge 1 ] || usage_error "run: which command? ($me run -- CMD ARGS...)"
	case $rport in *[!0-9]*|'') usage_error "--port needs a number" ;; esac
	case $sampling in *[!0-9]*) usage_error "--sampling needs a number" ;; esac
	lib=$(find_lib) || die "cannot find libleakscope.so next to $0"
	dir=$(mktemp -d "${TMPDIR:-/tmp}/leakscope-run.XXXXXX") || die "cannot create a temporary directory"
	pf=$dir/port
	# env execs the command, so $! is the command's own pid. A background
	# job's stdin is /dev/null even before its redirections: hand it ours
	# through fd 3.
	exec 3<&0
	env LD_PRELOAD="$lib${LD_PRELOAD:+ $LD_PRELOAD}" LEAKSCOPE_PORT="$rport" \
		LEAKSCOPE_PORT_FILE="$pf" ${sampling:+"LEAKSCOPE_SAMPLING=$sampling"} \
		${report:+"LEAKSCOPE_REPORT=$report"} "$@" <&3 3<&- &
	child=$!
	trap 'kill -TERM $child 2>/dev/null' INT TERM HUP
	i=0
	while [ ! -s "$pf" ] && kill -0 $child 2>/dev/null && [ $i -lt 200 ]; do
		sleep 0.05; i=$((i + 1))
	done
	if [ -s "$pf" ]; then
		p=$(head -n 1 "$pf")
		case $p in
		error:*) echo "$me: $1 runs without a control port: $p" >&2 ;;
		*) echo "$me: pid $child, control at http://127.0.0.1:$p" >&2 ;;
		esac
	fi
	wait $child
	rc=$?
	rm -rf "$dir"
	exit $rc
}

cmd_control() {
	what=$1; shift
	sampling="" out="" min_age="" format=""
	while [ $# -gt 0 ]; do
		case $1 in
		--help|-h)
			case $what in on) help_on ;; status) help_status ;; *) help_off ;; esac
			exit 0 ;;
		--pid) [ $# -ge 2 ] || usage_error "--pid needs a value"; pid=$2; shift 2 ;;
		--port) [ $# -ge 2 ] || usage_error "--port needs a value"; port=$2; shift 2 ;;
		--host) [ $# -ge 2 ] || usage_error "--host needs a value"; host=$2; shift 2 ;;
		--socket) [ $# -ge 2 ] || usage_error "--socket needs a value"; sock=$2; shift 2 ;;
		--sampling) [ $# -ge 2 ] || usage_error "--sampling needs a value"; sampling=$2; shift 2 ;;
		-o|--output) [ $# -ge 2 ] || usage_error "$1 needs a value"; out=$2; shift 2 ;;
		--min-age) [ $# -ge 2 ] || usage_error "--min-age needs a value"; min_age=$2; shift 2 ;;
		--format) [ $# -ge 2 ] || usage_error "--format needs a value"; format=$2; shift 2 ;;
		*) usage_error "$what: unknown argument $1" ;;
		esac
	done
	resolve_target
	case $what in
	on)
		[ -n "$sampling" ] || usage_error "on needs --sampling N"
		case $sampling in *[!0-9]*) usage_error "--sampling needs a number" ;; esac
		call "/leak-on?sampling=$sampling" ;;
	off|report)
		q=""
		[ -n "$min_age" ] && q="${q}&min_age=$min_age"
		[ -n "$format" ] && q="${q}&format=$format"
		q=${q#&}
		call "/leak-$what${q:+?$q}" "$out" ;;
	status)
		call "/leak-status" ;;
	esac
}

[ $# -ge 1 ] || { help_main >&2; exit 2; }
cmd=$1; shift
case $cmd in
--help|-h|help) help_main ;;
--version) echo "leakscope $VERSION" ;;
run) cmd_run "$@" ;;
on|off|report|status) cmd_control "$cmd" "$@" ;;
translate)
	t=$(find_translate) || die "cannot find leakscope-translate"
	exec "$t" "$@" ;;
*) usage_error "unknown command '$cmd'" ;;
esac
