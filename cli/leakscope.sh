#!/bin/sh
# SPDX-License-Identifier: MIT
# leakscope: run a program under the leak detector and talk to its control
# endpoints: one process, or a whole process tree (docs/process-trees.md).
# Installed as bin/leakscope; `leakscope --help` and leakscope(1).
#
# Exit status: 0 success, 1 failure (nothing listening, HTTP error,
# program failed to start, nothing of a tree reached), 2 bad usage.
set -u

VERSION=@VERSION@
me=leakscope
here=$(cd "$(dirname "$0")" && pwd)
uid=$(id -u)

die() { echo "$me: $*" >&2; exit 1; }
warn() { echo "$me: $*" >&2; }
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
  ps [--tree PID] [--json]
                 every process running under leakscope that you may reach
  on --sampling N | --bytes B
                        open a leak window: sample one allocation in N, or
                        on average one per B bytes allocated (512K, 1M ...)
  off [-o FILE] [--min-age S] [--format text|pprof]
                        close the window and write its report
  report [-o FILE] [--min-age S] [--format text|pprof]
                        the same report, leaving the window open
  status                the detector's state, as JSON
  translate ARGS...     symbolize a report (leakscope-translate ARGS...)

how to reach the program (on/off/report/status):
  --pid PID       exactly that process: its socket PID.sock in the runtime
                  directory, else its control socket found through /proc;
                  the answer must come from PID
  --tree PID      PID and every descendant running under leakscope; off and
                  report write one tree report holding all their reports
                  and those of the processes of the tree that exited
  --port P        http://127.0.0.1:P  (default: \$LEAKSCOPE_PORT, else 8088)
  --host H        address to use with --port (default 127.0.0.1)
  --socket PATH   a Unix socket (LEAKSCOPE_SOCKET, or a runtime dir's PID.sock)
  LEAKSCOPE_TOKEN, when set, is sent as the bearer token.

runtime directories searched: \$LEAKSCOPE_RUNTIME_DIR, \$XDG_RUNTIME_DIR/leakscope,
/tmp/leakscope-UID (as root also every /tmp/leakscope-* and /run/user/*/leakscope).

'$me COMMAND --help' describes one command. Exit status: 0 success,
1 failure, 2 bad usage. See leakscope(1).
EOF
}

help_run() {
	cat <<EOF
usage: $me run [--port P] [--sampling N | --bytes B] [--report FILE] -- CMD [ARGS...]

Starts CMD with the leakscope preload, prints the control URL on stderr
once the port is open, and waits for CMD, returning its exit status.

  --port P        control port (default 0: any free port)
  --sampling N    open a window at start, sampling one allocation in N
  --bytes B       open a window at start, sampling one allocation per B bytes
  --report FILE   write the report to FILE when CMD exits (%p = its pid)
EOF
}

help_ps() {
	cat <<EOF
usage: $me ps [--tree PID] [--json]

Lists every process running under leakscope that you may reach, found
through the sockets PID.sock of the runtime directories: pid, ppid, exe,
the window (off, or on with its sampling 1/N and its age), the window's
estimated live bytes (sampled live bytes times N), and how it is reached
(the socket, and tcp HOST:PORT when it has a TCP port).

  --tree PID   only PID and its descendants
  --json       a JSON array of {pid, ppid, exe, window: {on, sampling,
               seconds}, estimated_bytes, socket, tcp}

Stale sockets (process gone, pid reused, nobody answering) are removed, and
so are exit reports none of whose processes (pid, ancestors) is alive.
EOF
}

help_on() {
	cat <<EOF
usage: $me on --sampling N | --bytes B [--pid PID | --tree PID | --port P | --socket PATH]

Opens a leak window: about one allocation in N (1..1000000000) is sampled,
or, with --bytes, on average one per B bytes allocated (1 to 1G, suffix K,
M or G; 512K suits a live server): big allocations are then never missed.
With --tree, in PID first, then in each descendant running under leakscope
(one whose window is already open is said so, not an error); processes
forked later inherit the window.
EOF
}

help_off() {
	cat <<EOF
usage: $me off|report [-o FILE] [--min-age S] [--format text|pprof]
                      [--pid PID | --tree PID | --port P | --socket PATH]

off closes the window and prints its report (or writes it to FILE);
report does the same and leaves the window open. --min-age leaves out
allocations younger than S seconds; --format pprof gives the gperftools
heap profile text that pprof reads.

With --tree PID: one tree report (format leakscope-tree 1) holding the
report of PID and of every descendant running under leakscope, and the
exit reports of the tree's processes that ended with a window open
(since PID's window opened, when it has one). off closes PID first, then
the descendants, and deletes the exit reports it used; report keeps them.
Tree reports are text: read them with '$me translate'. --min-age applies
to the live processes; exit reports are kept as they were written.
EOF
}

help_status() {
	cat <<EOF
usage: $me status [--pid PID | --tree PID | --port P | --socket PATH]

Prints the detector's state as JSON; with --tree, one line per process.
EOF
}

# ---- runtime directories -------------------------------------------------

# The runtime directories to search, one a line, each once: real
# directories (not symlinks) owned by the user they belong to.
runtime_dirs() {
	{
		[ -n "${LEAKSCOPE_RUNTIME_DIR:-}" ] && echo "$uid $LEAKSCOPE_RUNTIME_DIR"
		case ${XDG_RUNTIME_DIR:-} in /*) echo "$uid $XDG_RUNTIME_DIR/leakscope" ;; esac
		echo "$uid /tmp/leakscope-$uid"
		if [ "$uid" = 0 ]; then
			for d in /tmp/leakscope-[0-9]*; do echo "${d#/tmp/leakscope-} $d"; done
			for d in /run/user/[0-9]*/leakscope; do
				u=${d#/run/user/}; echo "${u%/leakscope} $d"
			done
		fi
	} | while read -r owner d; do
		case $owner in *[!0-9]*|'') continue ;; esac
		[ -d "$d" ] && [ ! -L "$d" ] || continue
		[ "$(stat -c %u "$d" 2>/dev/null)" = "$owner" ] || continue
		(cd "$d" 2>/dev/null && pwd -P)
	done | awk '!seen[$0]++'
}
RDIRS=$(runtime_dirs)

# Prints D/PID.sock for the first runtime directory that has one.
sock_for() {
	while IFS= read -r d; do
		[ -n "$d" ] && [ -S "$d/$1.sock" ] && { echo "$d/$1.sock"; return 0; }
	done <<EOF
$RDIRS
EOF
	return 1
}

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# Seconds since the epoch when process $1 started (to a second or so:
# btime is whole seconds), or nothing when it is gone.
proc_start() {
	awk -v tck="$CLK_TCK" '
		FILENAME == "/proc/stat" { if ($1 == "btime") bt = $2; next }
		{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); st = f[20] }
		END { if (st != "") printf "%d\n", bt + st / tck }' /proc/stat "/proc/$1/stat" 2>/dev/null
}

# True when process $1 is gone or a zombie.
proc_gone() {
	[ -d "/proc/$1" ] || return 0
	state=$(sed -n 's/.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)
	case $state in ''|Z|X) return 0 ;; esac
	return 1
}

# True when socket $1 named for pid $2 is stale: the process is gone, is a
# zombie, or started after the socket was made (its pid was reused).
sock_stale() {
	proc_gone "$2" && return 0
	started=$(proc_start "$2")
	made=$(stat -c %Y "$1" 2>/dev/null) || return 1
	[ -n "$started" ] && [ "$started" -gt $((made + 2)) ]
}

# Removes a stale socket, unless it was replaced meanwhile.
sock_remove() {
	[ -S "$1" ] && [ ! -L "$1" ] && rm -f "$1" 2>/dev/null
	return 0
}

# ---- requests ------------------------------------------------------------

pid="" port="" host=127.0.0.1 sock="" url="" tree=""
req_timeout=600

# One request to the endpoint in $sock (or $url). Returns 0 for a 2xx
# answer (the body on stdout, or in file $2), 1 for an HTTP error (its text
# in $req_err), 2 when nothing is listening (refused, no socket), 3 when it
# did not answer in time or broke off.
req() {
	rpath=$1 rout=${2:-}
	req_err=""
	set -- -sS -w '%{http_code}' --max-time "$req_timeout"
	[ -n "$sock" ] && set -- "$@" --unix-socket "$sock"
	[ -n "${LEAKSCOPE_TOKEN:-}" ] && set -- "$@" -H "Authorization: Bearer $LEAKSCOPE_TOKEN"
	body=$(mktemp "${TMPDIR:-/tmp}/leakscope.XXXXXX") || die "cannot create a temporary file"
	code=$(curl "$@" -o "$body" "$url$rpath" 2>"$body.err")
	req_rc=$?
	if [ $req_rc -ne 0 ]; then
		req_err=$(sed -n '$s/^curl: ([0-9]*) //p' "$body.err")
		rm -f "$body" "$body.err"
		case $req_rc in 7) return 2 ;; *) return 3 ;; esac
	fi
	rm -f "$body.err"
	case $code in
	2*)
		if [ -n "$rout" ]; then
			mv "$body" "$rout" || { rm -f "$body"; die "cannot write $rout"; }
		else
			cat "$body"
			rm -f "$body"
		fi
		return 0 ;;
	*)
		req_err=$(sed -n '1s/^error: //p' "$body")
		[ -n "$req_err" ] || req_err="HTTP $code"
		rm -f "$body"
		return 1 ;;
	esac
}

# req, or exit 1 with a message.
# Prints the verdicts of report (or tree report) $1 on stderr, one line
# ("3 stacks growing, 41 plateau, 12 undecided"), through the translator;
# nothing when it is missing or the report has no series.
verdict_summary() {
	vt=$(find_translate) || return 0
	vs=$("$vt" --verdict-summary "$1" 2>/dev/null) || return 0
	case $vs in *"without a series"*) ;; *) echo "$me: $vs" >&2 ;; esac
}

call() {
	req "$@"
	case $? in
	0) return 0 ;;
	1) die "$req_err" ;;
	*)
		if [ -n "$sock" ]; then
			die "nothing answers on socket $sock (is the program running under leakscope?)"
		fi
		die "nothing answers at $url (is the program running under leakscope? try --pid or --port)" ;;
	esac
}

# The raw JSON value of key $1 in the one-line JSON object $2.
jget() {
	printf '%s\n' "$2" | awk -v k="$1" '{
		if (match($0, "\"" k "\": *(\"([^\"\\\\]|\\\\.)*\"|[^,}]*)")) {
			v = substr($0, RSTART, RLENGTH); sub(/^"[^"]*": */, "", v); print v; exit }
	}'
}

# ---- finding a process's endpoint -----------------------------------------

# The listening sockets of process $1's control thread (the preload's
# thread named "leakscope" keeps its sockets in a descriptor table of its
# own), looked up by inode in the process's /proc/net tables: one line per
# socket, "tcp HOST PORT" or "unix PATH". Never from /proc/PID/environ:
# servers overwrite it to set a process title.
proc_endpoints() {
	inodes=""
	for comm in $(grep -lx leakscope /proc/"$1"/task/*/comm 2>/dev/null); do
		inodes="$inodes $(ls -l "${comm%/comm}/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ')"
	done
	[ -n "${inodes# }" ] || return 0
	awk -v want=" $inodes " '
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
			print "tcp " h " " port }
		# /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path.
		FILENAME ~ /unix$/ && FNR > 1 && $4 == "00010000" && index(want, " " $7 " ") && NF >= 8 {
			print "unix " $8 }
	' "/proc/$1/net/tcp" "/proc/$1/net/tcp6" "/proc/$1/net/unix" 2>/dev/null
}

# Whether process $1 runs under leakscope: 0 yes, 1 no, 2 cannot tell
# (its maps are not readable by us), 3 no such process.
under_leakscope() {
	proc_gone "$1" && return 3
	grep -q libleakscope "/proc/$1/maps" 2>/dev/null
	case $? in 0) return 0 ;; 1) proc_gone "$1" && return 3; return 1 ;; esac
	proc_gone "$1" && return 3
	return 2
}

# Asks the endpoint in $sock/$url for its status and checks that it
# answers for pid $1: 0 (the status in $ep_status), 1 nothing listening,
# 2 another failure or another pid (the reason in $ep_err).
check_answer() {
	ep_status=$(req_timeout=10 req /leak-status)
	case $? in
	0) ;;
	2) ep_err="nothing answers on ${sock:-$url}"; return 1 ;;
	3) ep_err="no answer on ${sock:-$url}${req_err:+ ($req_err)}"; return 2 ;;
	*) ep_err="${sock:-$url} answered: $req_err"; return 2 ;;
	esac
	answered=$(jget pid "$ep_status")
	[ "$answered" = "$1" ] && return 0
	ep_err="the endpoint found for process $1 (${sock:-$url}) answered for process ${answered:-?}; not using it"
	return 2
}

# Finds the endpoint of process $1 and checks it answers for $1; sets
# sock, or host and port, and url. Returns 0 (its status in $ep_status),
# or 1 with the reason in $ep_err and its kind in $ep_why: gone (no such
# process), vanished (it ran under leakscope and exited meanwhile),
# notunder, denied, noendpoint.
find_endpoint() {
	fp=$1 ep_err="" ep_why="" ep_status="" s_err="" ep_seen=""
	sock="" port="" host=127.0.0.1 url=""
	s=$(sock_for "$fp")
	if [ -n "$s" ]; then
		if sock_stale "$s" "$fp"; then
			sock_remove "$s"
		elif [ ! -w "$s" ]; then
			ep_err="cannot reach process $fp: permission denied on $s"; ep_why=denied
			return 1
		else
			ep_seen=1 sock=$s url=http://localhost
			# Nobody listening: once more (it may be between its bind
			# and its listen), then the socket is stale.
			check_answer "$fp"; st=$?
			if [ $st -eq 1 ]; then sleep 0.2; check_answer "$fp"; st=$?; fi
			[ $st -eq 0 ] && return 0
			[ $st -eq 1 ] && sock_remove "$s"
			s_err=$ep_err
			sock="" url=""
		fi
	fi
	under_leakscope "$fp"
	case $? in
	3)
		if [ -n "$ep_seen" ]; then ep_err="process $fp exited"; ep_why=vanished
		else ep_err="no process $fp"; ep_why=gone; fi
		return 1 ;;
	1) ep_err="process $fp does not run under leakscope (libleakscope is not loaded in it)"; ep_why=notunder; return 1 ;;
	2) ep_err="cannot reach process $fp: permission denied (cannot read /proc/$fp/maps; run as its user or root)"; ep_why=denied; return 1 ;;
	esac
	eps=$(proc_endpoints "$fp")
	if [ -z "$eps" ]; then
		proc_gone "$fp" && { ep_err="process $fp exited"; ep_why=vanished; return 1; }
		ep_err=${s_err:-"process $fp runs leakscope but has no control socket (LEAKSCOPE_PORT=off, or an exec'd program that has not allocated since its first 20 ms)"}
		ep_why=noendpoint
		return 1
	fi
	# Every endpoint it listens on, TCP first, until one answers for it
	# (not again the socket that did not).
	while read -r kind a b; do
		case $kind in
		tcp) sock="" host=$a port=$b
			case $host in *:*) url="http://[$host]:$port" ;; *) url="http://$host:$port" ;; esac ;;
		unix) [ -n "$s" ] && [ "$a" = "$s" ] && continue
			sock=$a url=http://localhost ;;
		*) continue ;;
		esac
		check_answer "$fp" && return 0
	done <<EOF
$eps
EOF
	proc_gone "$fp" && { ep_err="process $fp exited"; ep_why=vanished; return 1; }
	[ -n "$ep_err" ] || ep_err=$s_err
	ep_why=noendpoint
	return 1
}

# The TCP control address of process $1, HOST:PORT, when it has one.
tcp_of() {
	proc_endpoints "$1" | awk '$1 == "tcp" { h = $2; if (h ~ /:/) h = "[" h "]"; print h ":" $3; exit }'
}

resolve_target() {
	if [ -n "$pid" ]; then
		case $pid in *[!0-9]*|'') usage_error "--pid needs a number" ;; esac
		find_endpoint "$pid" || die "$ep_err"
		return 0
	fi
	if [ -z "$sock" ] && [ -z "$port" ]; then
		port=${LEAKSCOPE_PORT:-8088}
	fi
	case $port in *[!0-9]*) usage_error "--port needs a number" ;; esac
	case $host in *:*) url="http://[$host]:$port" ;; *) url="http://$host:$port" ;; esac
	[ -n "$sock" ] && url="http://localhost"
	return 0
}

# ---- process trees -------------------------------------------------------

# Process $1 and its descendants, parents before children, from the ppid
# links of /proc/*/stat; not this script and what it runs.
tree_pids() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" -v self="$$" '
		/^[0-9]+ \(/ {
			p = $1; s = $0; if (!sub(/.*\) /, "", s)) next
			if (p == self && p != root) next
			split(s, f, " "); if (f[2] !~ /^[0-9]+$/) next
			kids[f[2]] = kids[f[2]] " " p }
		END {
			q[1] = root; n = 1
			for (i = 1; i <= n; i++) {
				print q[i]
				c = split(kids[q[i]], k, " ")
				for (j = 1; j <= c; j++) if (!(k[j] in seen)) { seen[k[j]] = 1; q[++n] = k[j] }
			}
		}'
}

# Every exit report file of the runtime directories, D/exit/TOP/*.report.
exit_report_files() {
	while IFS= read -r d; do
		[ -n "$d" ] && [ -d "$d/exit" ] && [ ! -L "$d/exit" ] || continue
		find "$d/exit" -mindepth 2 -maxdepth 2 -type f -name '*.report' 2>/dev/null
	done <<EOF
$RDIRS
EOF
}

# Exit reports of the tree of $1 in every runtime directory: files
# D/exit/TOP/*.report, complete, whose pid or ancestors include $1 and,
# when $2 is set, whose window started at or after $2. One line each:
# PATH<TAB>PID<TAB>TOP.
exit_reports_of() {
	exit_report_files | sort | awk -v root="$1" -v since="${2:-}" '
		{
			f = $0; pid = ""; anc = ""; ws = ""; top = ""; fmt = ""; last = ""; n = 0
			while ((getline line < f) > 0) {
				n++
				if (n == 1) { fmt = line; if (fmt !~ /^format: leakscope-report [12]$/) break; continue }
				if (line ~ /^(maps|stacks): / || line ~ /^(map|leak): /) break
				if (line ~ /^pid: /) pid = substr(line, 6)
				else if (line ~ /^ancestors: /) anc = substr(line, 12)
				else if (line ~ /^tree_top: /) top = substr(line, 11)
				else if (line ~ /^window_start: /) ws = substr(line, 15)
			}
			ok = fmt ~ /^format: leakscope-report [12]$/ && (pid == root || index(" " anc " ", " " root " "))
			if (ok && since != "" && ws != "" && ws + 0 < since - 0.000001) ok = 0
			if (ok) { last = line; while ((getline line < f) > 0) last = line; ok = last ~ /^end: / }
			close(f)
			if (ok) {
				if (top == "") { top = f; sub(/\/[^\/]*$/, "", top); sub(/.*\//, "", top) }
				print f "\t" pid "\t" top
			}
		}'
}

# ps's clean-up: removes the exit reports none of whose processes (pid,
# ancestors up to the tree's top) is alive, and exit/TOP directories with
# no reports left whose TOP is gone.
exit_reports_prune() {
	exit_report_files | awk '{
			f = $0; pid = ""; anc = ""; top = ""; n = 0
			while ((getline line < f) > 0) {
				if (++n > 40 || line ~ /^(maps|stacks): /) break
				if (line ~ /^pid: /) pid = substr(line, 6)
				else if (line ~ /^ancestors: /) anc = substr(line, 12)
				else if (line ~ /^tree_top: /) top = substr(line, 11)
			}
			close(f)
			# The ancestors up to the top of its tree: those above (the
			# shell that started the server) do not keep it.
			pids = pid; k = pid == top ? 0 : split(anc, a, " ")
			for (i = 1; i <= k; i++) { pids = pids " " a[i]; if (a[i] == top) break }
			print f "\t" pids
		}' | while IFS='	' read -r f pids; do
		alive=""
		for p in $pids; do
			case $p in *[!0-9]*|'') continue ;; esac
			[ -d "/proc/$p" ] && { alive=$p; break; }
		done
		[ -n "$alive" ] || { [ -f "$f" ] && [ ! -L "$f" ] && rm -f "$f"; }
	done
	while IFS= read -r d; do
		[ -n "$d" ] && [ -d "$d/exit" ] && [ ! -L "$d/exit" ] || continue
		for t in "$d"/exit/*; do
			[ -d "$t" ] && [ ! -L "$t" ] || continue
			top=${t##*/}
			set -- "$t"/*.report
			[ -e "$1" ] && continue
			case $top in *[!0-9]*|'') ;; *) [ -d "/proc/$top" ] && continue ;; esac
			rm -f "$t/dropped"
			rmdir "$t" 2>/dev/null
		done
	done <<EOF
$RDIRS
EOF
	return 0
}

# The tree commands. Per process: a line on stdout for what was done, a
# line on stderr for what could not be; tree reports assembled in $tmpd.
# Exit status 1 when no process of the tree was handled.
tree_note_err() {
	warn "$2"
	printf '%s %s\n' "$1" "$2" >>"$tmpd/errors"
}

# Handles process $1 for command $what; 0 handled, 1 not (reason noted).
tree_one() {
	tp=$1
	if ! find_endpoint "$tp"; then
		case $ep_why in
		notunder) [ "$tp" = "$tree" ] && warn "$ep_err"; return 2 ;;
		gone) [ "$tp" = "$tree" ] && { warn "$ep_err"; root_gone=1; }; return 2 ;;
		vanished) echo "$tp" >>"$tmpd/vanished"; return 1 ;;
		noendpoint) printf '%s\t%s\n' "$tp" "$ep_err" >>"$tmpd/maybe"; return 1 ;;
		esac
		tree_note_err "$tp" "$ep_err"
		return 1
	fi
	on_now=$(jget on "$ep_status")
	tt=$(jget tree_top "$ep_status")
	case $tt in ''|*[!0-9]*) ;; *) echo "$tt" >>"$tmpd/tops" ;; esac
	case $what in
	status)
		printf '%s\n' "$ep_status"
		return 0 ;;
	on)
		if [ "$on_now" = true ]; then
			if [ "$(jget sampling_bytes "$ep_status")" -gt 0 ] 2>/dev/null; then
				echo "$tp: window already open (sampling one allocation per $(jget sampling_bytes "$ep_status") bytes, $(jget window_seconds "$ep_status") s)"
			else
				echo "$tp: window already open (sampling one allocation in $(jget sampling "$ep_status"), $(jget window_seconds "$ep_status") s)"
			fi
			return 0
		fi
		if ans=$(req "/leak-on?$onq"); then
			echo "$tp: $ans"
			return 0
		fi
		case $? in
		1) case $req_err in *"already on"*) echo "$tp: window already open"; return 0 ;; esac
		   tree_note_err "$tp" "process $tp: $req_err" ;;
		*) tree_vanished_or "$tp" "process $tp stopped answering${req_err:+ ($req_err)}" ;;
		esac
		return 1 ;;
	off|report)
		if [ "$on_now" != true ]; then
			echo "$tp: no window open" >&2
			printf '%s\t\n' "$tp" >>"$tmpd/maybe"
			return 0
		fi
		f=$tmpd/live.$tp
		if req "/leak-$what${q:+?$q}" "$f"; then
			case $(sed -n '1p' "$f") in "format: leakscope-report "[12]) fmt_ok=1 ;; *) fmt_ok="" ;; esac
			if [ -z "$fmt_ok" ] ||
				! tail -n 1 "$f" | grep -q '^end: ' ||
				[ "$(sed -n 's/^pid: //p;/^maps: /q' "$f")" != "$tp" ]; then
				rm -f "$f"
				tree_note_err "$tp" "process $tp: its report is incomplete or not its own"
				return 1
			fi
			echo "$tp" >>"$tmpd/live"
			[ "$tp" = "$tree" ] && root_ws=$(sed -n 's/^window_start: //p;/^maps: /q' "$f")
			return 0
		fi
		case $? in
		1) case $req_err in *"is off"*) echo "$tp: no window open" >&2
			printf '%s\t\n' "$tp" >>"$tmpd/maybe"; return 0 ;; esac
		   tree_note_err "$tp" "process $tp: $req_err" ;;
		*) tree_vanished_or "$tp" "process $tp stopped answering${req_err:+ ($req_err)}" ;;
		esac
		return 1 ;;
	esac
}

# Writes file $1 to $out (through a temporary file renamed into place, so
# a reader never sees half of it), or to stdout when there is no $out.
write_out() {
	if [ -n "$out" ]; then
		otmp="$out.tmp.$$"
		cp "$1" "$otmp" && mv -f "$otmp" "$out" || { rm -f "$otmp"; die "cannot write $out"; }
	else
		cat "$1"
	fi
}

# Processes found with no window or no endpoint may be in their exit,
# which closes the window and the socket before it writes the exit
# report: wait (at most 1 s for them all) for those to be gone; the gone
# ones vanished, the others keep their error, if any.
tree_settle_maybe() {
	[ -s "$tmpd/maybe" ] || return 0
	i=0
	while [ $i -lt 10 ]; do
		alive=0
		while IFS='	' read -r mp merr; do
			proc_gone "$mp" || alive=1
		done <"$tmpd/maybe"
		[ $alive = 0 ] && break
		sleep 0.1; i=$((i + 1))
	done
	while IFS='	' read -r mp merr; do
		if proc_gone "$mp"; then
			echo "$mp" >>"$tmpd/vanished"
		elif [ -n "$merr" ]; then
			tree_note_err "$mp" "$merr"
		fi
	done <"$tmpd/maybe"
	: >"$tmpd/maybe"
}

# A process that failed mid-command: gone (its exit report may hold its
# data), or still there and not answering.
tree_vanished_or() {
	# A process in its exit writes its exit report after it closed its
	# socket: give it a moment (at most 3 s) to be gone.
	i=0
	while [ $i -lt 30 ] && ! proc_gone "$1"; do sleep 0.1; i=$((i + 1)); done
	if proc_gone "$1"; then
		echo "$1" >>"$tmpd/vanished"
	else
		tree_note_err "$1" "$2"
	fi
}

# The query of /leak-on from --sampling N or --bytes B (exactly one), in
# $onq; the preload checks the ranges and says why in its 400.
on_query() {
	[ -n "$sampling" ] && [ -n "$bytes" ] && usage_error "on takes --sampling N or --bytes B, not both"
	[ -n "$sampling" ] || [ -n "$bytes" ] || usage_error "on needs --sampling N or --bytes B"
	if [ -n "$sampling" ]; then
		case $sampling in *[!0-9]*) usage_error "--sampling needs a number" ;; esac
		onq="sampling=$sampling"
	else
		case $bytes in ''|*[!0-9KkMmGg]*|[KkMmGg]*) usage_error "--bytes needs a size like 524288 or 512K" ;; esac
		onq="bytes=$bytes"
	fi
}

cmd_tree() {
	case $tree in *[!0-9]*|'') usage_error "--tree needs a number" ;; esac
	case $what in
	on) on_query ;;
	off|report)
		case ${format:-text} in
		text) ;;
		*) usage_error "tree reports are text only: write the tree report and convert it, e.g. '$me translate --format ${format} FILE'" ;;
		esac ;;
	esac
	q=""
	[ -n "$min_age" ] && q="min_age=$min_age"
	tmpd=$(mktemp -d "${TMPDIR:-/tmp}/leakscope-tree.XXXXXX") || die "cannot create a temporary directory"
	trap 'rm -rf "$tmpd"' EXIT
	trap 'exit 1' INT TERM HUP
	: >"$tmpd/errors"; : >"$tmpd/live"; : >"$tmpd/vanished"; : >"$tmpd/maybe"
	handled=0 root_gone="" root_ws="" seen=" "
	# off: the root first, so no child forked from now on inherits an open
	# window; then the descendants, again until no new one appears (a
	# worker may have forked while we closed the others).
	rounds=1
	[ "$what" = off ] && rounds=5
	if [ "$what" = off ] || [ "$what" = on ]; then
		seen=" $tree "
		tree_one "$tree" && handled=$((handled + 1))
	fi
	r=0
	while [ $r -lt $rounds ]; do
		r=$((r + 1)) new=0
		for p in $(tree_pids "$tree"); do
			case $seen in *" $p "*) continue ;; esac
			seen="$seen$p " new=1
			tree_one "$p" && handled=$((handled + 1))
		done
		[ $new = 1 ] || break
	done
	tree_settle_maybe
	case $what in
	status|on)
		nerr=$(wc -l <"$tmpd/errors")
		vanished=$(wc -l <"$tmpd/vanished")
		[ "$vanished" -gt 0 ] && warn "$vanished process(es) of the tree exited during the command"
		if [ "$handled" -eq 0 ]; then
			[ "$nerr" -gt 0 ] || [ -n "$root_gone" ] ||
				warn "no process of the tree of $tree runs under leakscope"
			exit 1
		fi
		[ "$nerr" -gt 0 ] && warn "$nerr process(es) of the tree of $tree could not be reached"
		exit 0 ;;
	esac
	tree_report
}

# Writes the tree report of $tree from $tmpd (off and report --tree).
tree_report() {
	exit_reports_of "$tree" "$root_ws" >"$tmpd/exits"
	# A process that vanished mid-command and left an exit report is not
	# missing.
	while read -r v; do
		awk -F '\t' -v p="$v" '$2 == p { f = 1 } END { exit !f }' "$tmpd/exits" ||
			tree_note_err "$v" "process $v exited during the command and left no exit report"
	done <"$tmpd/vanished"
	nlive=$(wc -l <"$tmpd/live")
	nexit=$(wc -l <"$tmpd/exits")
	nerr=$(wc -l <"$tmpd/errors")
	n=$((nlive + nexit))
	if [ "$n" -eq 0 ]; then
		if [ "$handled" -eq 0 ] && [ "$nerr" -eq 0 ]; then
			[ -n "$root_gone" ] || warn "no process of the tree of $tree runs under leakscope"
		elif [ "$nerr" -eq 0 ]; then
			warn "no window open in the tree of $tree, and no exit reports of it"
		fi
		exit 1
	fi
	[ -n "$root_gone" ] && [ "$nexit" -gt 0 ] && [ "$nlive" -eq 0 ] &&
		warn "the tree report holds only the exit reports of the tree of $tree"
	# exit_reports_dropped: the dropped files of the trees (TOP) involved:
	# those of the exit reports used, each live process's tree_top, the root.
	tops=" $tree "
	for t in $(cut -f 3 "$tmpd/exits") $(cat "$tmpd/tops" 2>/dev/null); do
		case $tops in *" $t "*) ;; *) tops="$tops$t " ;; esac
	done
	dropped=0
	for t in $tops; do
		while IFS= read -r d; do
			[ -n "$d" ] && [ -f "$d/exit/$t/dropped" ] || continue
			dropped=$((dropped + $(wc -c <"$d/exit/$t/dropped")))
		done <<EOF
$RDIRS
EOF
	done
	dest=$tmpd/tree.report
	{
		echo "format: leakscope-tree 1"
		echo "version: $VERSION"
		echo "root: $tree"
		echo "processes: $n"
		echo "live: $nlive"
		echo "exited: $nexit"
		echo "exit_reports_dropped: $dropped"
		echo "unreachable: $nerr"
		sed 's/^/error: /' "$tmpd/errors"
		while read -r p; do cat "$tmpd/live.$p"; done <"$tmpd/live"
		cut -f 1 "$tmpd/exits" | while IFS= read -r f; do cat "$f"; done
		echo "end: $n reports"
	} >"$dest" || die "cannot write the tree report"
	verdict_summary "$dest"
	write_out "$dest"
	if [ "$what" = off ]; then
		cut -f 1 "$tmpd/exits" | while IFS= read -r f; do rm -f "$f"; done
		# The drops this report told of are told: the next window's
		# report counts its own.
		for t in $tops; do
			printf '%s\n' "$RDIRS" | while IFS= read -r d; do
				[ -n "$d" ] && [ -f "$d/exit/$t/dropped" ] && [ ! -L "$d/exit/$t/dropped" ] &&
					: >"$d/exit/$t/dropped" 2>/dev/null
			done
		done
	fi
	what_done=closed
	[ "$what" = report ] && what_done=reported
	msg="tree of $tree: $nlive live process(es) $what_done, $nexit exit report(s)"
	[ "$nerr" -gt 0 ] && msg="$msg; $nerr process(es) could not be reached"
	[ "$dropped" -gt 0 ] && msg="$msg; $dropped exit report(s) were dropped"
	[ -n "$out" ] && warn "$msg; written to $out"
	[ -z "$out" ] && [ "$nerr" -gt 0 ] && warn "$msg"
	exit 0
}

# ---- ps ------------------------------------------------------------------

# One record per process for ps: PID<TAB>SOCKET<TAB>TCP<TAB>STATUS.
ps_record() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(tcp_of "$1")" "$3"
}

cmd_ps() {
	json="" tree=""
	while [ $# -gt 0 ]; do
		case $1 in
		--help|-h) help_ps; exit 0 ;;
		--json) json=1; shift ;;
		--tree) [ $# -ge 2 ] || usage_error "--tree needs a value"; tree=$2; shift 2 ;;
		*) usage_error "ps: unknown argument $1" ;;
		esac
	done
	recs=$(mktemp "${TMPDIR:-/tmp}/leakscope-ps.XXXXXX") || die "cannot create a temporary file"
	trap 'rm -f "$recs"' EXIT
	trap 'exit 1' INT TERM HUP
	rc=0
	if [ -n "$tree" ]; then
		case $tree in *[!0-9]*) usage_error "--tree needs a number" ;; esac
		n=0 bad=0
		for p in $(tree_pids "$tree"); do
			if find_endpoint "$p"; then
				ps_record "$p" "$sock" "$ep_status" >>"$recs"
				n=$((n + 1))
			else
				case $ep_why in
				notunder|gone) [ "$p" = "$tree" ] && warn "$ep_err" ;;
				vanished) ;;
				*) warn "$ep_err"; bad=$((bad + 1)) ;;
				esac
			fi
		done
		if [ $n -eq 0 ]; then
			[ $bad -gt 0 ] || [ ! -d "/proc/$tree" ] || warn "no process of the tree of $tree runs under leakscope"
			rc=1
		fi
	else
		while IFS= read -r d; do
			[ -n "$d" ] || continue
			for s in "$d"/*.sock; do
				[ -S "$s" ] || continue
				p=${s##*/}; p=${p%.sock}
				case $p in *[!0-9]*|'') continue ;; esac
				if sock_stale "$s" "$p"; then sock_remove "$s"; continue; fi
				[ -w "$s" ] || { warn "cannot reach process $p: permission denied on $s"; continue; }
				sock=$s url=http://localhost
				check_answer "$p"
				st=$?
				if [ $st -eq 1 ]; then sleep 0.2; check_answer "$p"; st=$?; fi
				case $st in
				0) ps_record "$p" "$s" "$ep_status" >>"$recs" ;;
				1) sock_remove "$s" ;;
				*) warn "process $p: $ep_err" ;;
				esac
			done
		done <<EOF
$RDIRS
EOF
		exit_reports_prune
	fi
	sort -n "$recs" | awk -F '\t' -v json="$json" '
		function raw(s, k,   v) {
			if (!match(s, "\"" k "\": *(\"([^\"\\\\]|\\\\.)*\"|[^,}]*)")) return ""
			v = substr(s, RSTART, RLENGTH); sub(/^"[^"]*": */, "", v); return v }
		function unq(v) { if (v ~ /^"/) { v = substr(v, 2, length(v) - 2); gsub(/\\"/, "\"", v); gsub(/\\\//, "/", v); gsub(/\\\\/, "\\", v) } return v }
		function jstr(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\t/, "\\t", s); return "\"" s "\"" }
		function human(b,   u, i) { b += 0; split("B KiB MiB GiB TiB PiB", u, " ")
			for (i = 1; b >= 1024 && i < 6; i++) b /= 1024
			return i == 1 ? sprintf("%d B", b) : sprintf("%.1f %s", b, u[i]) }
		function hb(b) { if (b % 1073741824 == 0) return (b / 1073741824) "G"
			if (b % 1048576 == 0) return (b / 1048576) "M"
			if (b % 1024 == 0) return (b / 1024) "K"; return b }
		function age(s) { s = int(s)
			if (s < 60) return s "s"
			if (s < 3600) return sprintf("%dm%02ds", s / 60, s % 60)
			if (s < 86400) return sprintf("%dh%02dm", s / 3600, (s % 3600) / 60)
			return sprintf("%dd%02dh", s / 86400, (s % 86400) / 3600) }
		{
			st = $4; n++
			pid[n] = $1; sock[n] = $2; tcp[n] = $3
			ppid[n] = raw(st, "ppid"); exe[n] = raw(st, "exe"); if (exe[n] == "") exe[n] = "\"\""
			on[n] = raw(st, "on") == "true"
			smp[n] = raw(st, "sampling") + 0
			smpb[n] = raw(st, "sampling_bytes") + 0
			secs[n] = raw(st, "window_seconds"); if (secs[n] == "") secs[n] = 0
			est = raw(st, "estimated_bytes")
			if (est == "") est = sprintf("%.0f", (raw(st, "live_bytes") + 0) * smp[n])
			estb[n] = on[n] ? est : 0
		}
		END {
			if (json) {
				printf "["
				for (i = 1; i <= n; i++)
					printf "%s\n{\"pid\": %s, \"ppid\": %s, \"exe\": %s, \"window\": {\"on\": %s, \"sampling\": %d, \"sampling_bytes\": %d, \"seconds\": %s}, \"estimated_bytes\": %s, \"socket\": %s, \"tcp\": %s}", \
						(i > 1 ? "," : ""), pid[i], (ppid[i] == "" ? "null" : ppid[i]), exe[i], \
						(on[i] ? "true" : "false"), (on[i] ? smp[i] : 0), (on[i] ? smpb[i] : 0), (on[i] ? secs[i] : 0), estb[i], \
						(sock[i] == "" ? "null" : jstr(sock[i])), (tcp[i] == "" ? "null" : jstr(tcp[i]))
				print (n ? "\n" : "") "]"
				exit
			}
			w = 3
			for (i = 1; i <= n; i++) { e[i] = unq(exe[i]); if (length(e[i]) > w) w = length(e[i]) }
			printf "%7s %7s  %-" w "s  %-16s %10s  %s\n", "PID", "PPID", "EXE", "WINDOW", "EST_LIVE", "REACHED"
			for (i = 1; i <= n; i++) {
				win = !on[i] ? "off" : smpb[i] ? sprintf("on /%s %s", hb(smpb[i]), age(secs[i])) : sprintf("on 1/%d %s", smp[i], age(secs[i]))
				reach = sock[i]
				if (tcp[i] != "") reach = reach (reach == "" ? "" : " ") "tcp " tcp[i]
				printf "%7s %7s  %-" w "s  %-16s %10s  %s\n", pid[i], ppid[i], e[i], win, \
					(on[i] ? human(estb[i]) : "-"), reach
			}
		}'
	exit $rc
}

# ---- the other commands -------------------------------------------------------------

cmd_run() {
	rport=0 sampling="" bytes="" report=""
	while [ $# -gt 0 ]; do
		case $1 in
		--help|-h) help_run; exit 0 ;;
		--port) [ $# -ge 2 ] || usage_error "--port needs a value"; rport=$2; shift 2 ;;
		--sampling) [ $# -ge 2 ] || usage_error "--sampling needs a value"; sampling=$2; shift 2 ;;
		--bytes) [ $# -ge 2 ] || usage_error "--bytes needs a value"; bytes=$2; shift 2 ;;
		--report) [ $# -ge 2 ] || usage_error "--report needs a value"; report=$2; shift 2 ;;
		--) shift; break ;;
		-*) usage_error "run: unknown option $1" ;;
		*) break ;;
		esac
	done
	[ $# -ge 1 ] || usage_error "run: which command? ($me run -- CMD ARGS...)"
	case $rport in *[!0-9]*|'') usage_error "--port needs a number" ;; esac
	case $sampling in *[!0-9]*) usage_error "--sampling needs a number" ;; esac
	[ -n "$sampling" ] && [ -n "$bytes" ] && usage_error "run takes --sampling N or --bytes B, not both"
	case $bytes in *[!0-9KkMmGg]*|[KkMmGg]*) usage_error "--bytes needs a size like 524288 or 512K" ;; esac
	lib=$(find_lib) || die "cannot find libleakscope.so next to $0"
	dir=$(mktemp -d "${TMPDIR:-/tmp}/leakscope-run.XXXXXX") || die "cannot create a temporary directory"
	pf=$dir/port
	# env execs the command, so $! is the command's own pid. A background
	# job's stdin is /dev/null even before its redirections: hand it ours
	# through fd 3.
	exec 3<&0
	env LD_PRELOAD="$lib${LD_PRELOAD:+ $LD_PRELOAD}" LEAKSCOPE_PORT="$rport" \
		LEAKSCOPE_PORT_FILE="$pf" ${sampling:+"LEAKSCOPE_SAMPLING=$sampling"} \
		${bytes:+"LEAKSCOPE_SAMPLING_BYTES=$bytes"} \
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
	sampling="" bytes="" out="" min_age="" format=""
	while [ $# -gt 0 ]; do
		case $1 in
		--help|-h)
			case $what in on) help_on ;; status) help_status ;; *) help_off ;; esac
			exit 0 ;;
		--pid) [ $# -ge 2 ] || usage_error "--pid needs a value"; pid=$2; shift 2 ;;
		--tree) [ $# -ge 2 ] || usage_error "--tree needs a value"; tree=$2; shift 2 ;;
		--port) [ $# -ge 2 ] || usage_error "--port needs a value"; port=$2; shift 2 ;;
		--host) [ $# -ge 2 ] || usage_error "--host needs a value"; host=$2; shift 2 ;;
		--socket) [ $# -ge 2 ] || usage_error "--socket needs a value"; sock=$2; shift 2 ;;
		--sampling) [ $# -ge 2 ] || usage_error "--sampling needs a value"; sampling=$2; shift 2 ;;
		--bytes) [ $# -ge 2 ] || usage_error "--bytes needs a value"; bytes=$2; shift 2 ;;
		-o|--output) [ $# -ge 2 ] || usage_error "$1 needs a value"; out=$2; shift 2 ;;
		--min-age) [ $# -ge 2 ] || usage_error "--min-age needs a value"; min_age=$2; shift 2 ;;
		--format) [ $# -ge 2 ] || usage_error "--format needs a value"; format=$2; shift 2 ;;
		*) usage_error "$what: unknown argument $1" ;;
		esac
	done
	n=0
	for t in "$pid" "$tree" "$port" "$sock"; do [ -n "$t" ] && n=$((n + 1)); done
	[ $n -le 1 ] || usage_error "$what: give one of --pid, --tree, --port, --socket"
	[ -n "$tree" ] && cmd_tree
	resolve_target
	case $what in
	on)
		on_query
		call "/leak-on?$onq" ;;
	off|report)
		q=""
		[ -n "$min_age" ] && q="${q}&min_age=$min_age"
		[ -n "$format" ] && q="${q}&format=$format"
		q=${q#&}
		if [ -n "$format" ]; then
			call "/leak-$what${q:+?$q}" "$out"
			return
		fi
		# A text report: its verdicts' one-line summary goes to stderr.
		rtmp=$(mktemp "${TMPDIR:-/tmp}/leakscope.XXXXXX") || die "cannot create a temporary file"
		trap 'rm -f "$rtmp"' EXIT
		call "/leak-$what${q:+?$q}" "$rtmp"
		verdict_summary "$rtmp"
		write_out "$rtmp" ;;
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
ps) cmd_ps "$@" ;;
on|off|report|status) cmd_control "$cmd" "$@" ;;
translate)
	t=$(find_translate) || die "cannot find leakscope-translate"
	exec "$t" "$@" ;;
*) usage_error "unknown command '$cmd'" ;;
esac
