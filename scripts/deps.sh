#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks the Debian packages a target needs; installs the missing ones as
# root (apt-get update once, then apt-get install), or prints the exact
# command and fails as non-root.
#   scripts/deps.sh build|check|stress|bench
set -u
what=${1:-build}

build_pkgs="gcc make libc6-dev libunwind-dev uthash-dev libmicrohttpd-dev libdw-dev libelf-dev curl libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libiberty-dev libgsl-dev"
check_pkgs="libevent-dev apache2-utils lighttpd postgresql-15 postgresql-plperl-15 nginx-light apache2 g++ perl python3 redis-server redis-tools binutils valgrind google-perftools libgoogle-perftools-dev libjemalloc-dev libmimalloc-dev protobuf-compiler man-db chromium golang-go golang-github-google-pprof-dev libc6-dbg rustc libgsl27 python3-scipy"
stress_pkgs="clang-14 libclang-rt-14-dev"
bench_pkgs="g++ heaptrack google-perftools libjemalloc-dev valgrind redis-server redis-tools hyperfine"

case "$what" in
  build) pkgs=$build_pkgs ;;
  check) pkgs="$build_pkgs $check_pkgs" ;;
  stress) pkgs="$build_pkgs $check_pkgs $stress_pkgs" ;;
  bench) pkgs="$build_pkgs $check_pkgs $bench_pkgs" ;;
  *) echo "usage: $0 build|check|stress|bench" >&2; exit 2 ;;
esac

installed() {
  dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q ' installed$'
}

missing=""
for p in $pkgs; do
  installed "$p" || case " $missing " in *" $p "*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0

cmd="apt-get update && apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
  echo "leakscope: missing Debian packages:$missing" >&2
  echo "leakscope: as root, run: $cmd" >&2
  exit 1
fi
echo "leakscope: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } >/tmp/leakscope-apt.log 2>&1; then
  echo "leakscope: '$cmd' failed; see /tmp/leakscope-apt.log" >&2
  tail -5 /tmp/leakscope-apt.log >&2
  exit 1
fi
