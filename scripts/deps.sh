#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks the Debian packages a target needs; installs them as root, or
# prints the exact command and fails as non-root.
set -u
what=${1:-build}

# package:probe pairs; a probe is a header under /usr/include or a command.
build_pkgs="gcc:gcc make:make libunwind-dev:libunwind.h uthash-dev:uthash.h
libmicrohttpd-dev:microhttpd.h libdw-dev:elfutils/libdwfl.h libelf-dev:libelf.h
curl:curl"
check_pkgs="redis-server:redis-server redis-tools:redis-cli perl:perl
python3:python3 g++:g++"

case "$what" in
  build) pkgs=$build_pkgs ;;
  check) pkgs="$build_pkgs $check_pkgs" ;;
  *) pkgs="$build_pkgs $(shift; echo "$*")" ;;
esac

missing=""
for pair in $pkgs; do
  pkg=${pair%%:*}; probe=${pair#*:}
  case "$probe" in
    *.h) [ -e "/usr/include/$probe" ] && continue ;;
    *) command -v "$probe" >/dev/null 2>&1 && continue
       # redis-server lives in /usr/bin but some PATHs drop /usr/sbin.
       [ -x "/usr/bin/$probe" ] || [ -x "/usr/sbin/$probe" ] && continue ;;
  esac
  missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

cmd="apt-get update && apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
  echo "leakscope: missing Debian packages:$missing" >&2
  echo "leakscope: run as root: $cmd" >&2
  exit 1
fi
echo "leakscope: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
  echo "leakscope: '$cmd' failed" >&2; exit 1; }
