#!/bin/sh
# SPDX-License-Identifier: MIT
# make lint: the preload's hard rules, by grep. Inside preload/ and
# control/ nothing may use stdio streams or call the hooked allocator by
# name; everything goes through ls_real (or a table of next functions: cxx_next.c's saved, tcmalloc.c's tc), ls_mem_* and ls_log.
set -u
cd "$(dirname "$0")/.."
bad=$(grep -nE '\b(printf|fprintf|sprintf|snprintf|puts|fputs|fopen|strdup|strndup|asprintf|malloc|calloc|realloc|free)\s*\(' \
	preload/*.c control/*.c |
	grep -vE '^[^:]+:[0-9]+:\s*(/?\*|//)' |
	grep -vE '(ls_real|saved|tc)\.(malloc|calloc|realloc|free)|LS_EXPORT|^preload/hooks\.c:')
if [ -n "$bad" ]; then
	echo "not ok - lint: stdio or allocator calls in the preload:"
	echo "$bad"
	exit 1
fi
echo "ok - lint: preload/ and control/ call no stdio and no hooked allocator by name"
