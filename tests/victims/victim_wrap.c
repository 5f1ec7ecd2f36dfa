/* SPDX-License-Identifier: MIT */
/* tests/victims/victim_wrap.c: leaks through the C library's allocation wrappers (strdup, asprintf, getline...).
 *
 *   victim_wrap DIR COUNT
 *
 * DIR is a directory the test made: it holds a file "lines" (at least one
 * line) and the files scandir lists (those whose names do not start with a
 * dot). Each leak_* function below leaks COUNT results of its wrapper; a
 * "L:name" comment marks the line of each call, for the test to check.
 * Leaked blocks stay reachable from sink; blocks the wrappers need only
 * for a while are freed. Exits 0, or 1 with a message on stderr. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#define NOINLINE __attribute__((noinline))

static void *volatile *sink;
static size_t sink_n, sink_cap;
static const char *dir;

static void fail(const char *what)
{
	perror(what);
	exit(1);
}

static void keep(void *p)
{
	if (p == NULL)
		fail("wrapper returned NULL");
	if (sink_n == sink_cap) {
		sink_cap = sink_cap ? sink_cap * 2 : 1024;
		sink = realloc((void *)sink, sink_cap * sizeof(*sink));
		if (sink == NULL)
			fail("realloc");
	}
	sink[sink_n++] = p;
}

NOINLINE static void leak_strdup(long i)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "strdup %ld", i);
	keep(strdup(buf)); /* L:strdup */
}

NOINLINE static void leak_strndup(long i)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "strndup %ld and more", i);
	keep(strndup(buf, 10)); /* L:strndup */
}

NOINLINE static void leak_wcsdup(long i)
{
	wchar_t buf[32];

	swprintf(buf, 32, L"wcsdup %ld", i);
	keep(wcsdup(buf)); /* L:wcsdup */
}

NOINLINE static void leak_asprintf(long i)
{
	char *p = NULL;

	if (asprintf(&p, "asprintf %ld %s", i, dir) < 0) /* L:asprintf */
		fail("asprintf");
	keep(p);
}

NOINLINE static void leak_vasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap); /* L:vasprintf */
	va_end(ap);
	if (n < 0)
		fail("vasprintf");
	keep(p);
}

NOINLINE static void leak_getline(FILE *f)
{
	char *line = NULL;
	size_t cap = 0;

	rewind(f);
	if (getline(&line, &cap, f) < 0) /* L:getline */
		fail("getline");
	keep(line);
}

NOINLINE static void leak_realpath(const char *path)
{
	keep(realpath(path, NULL)); /* L:realpath */
}

NOINLINE static void leak_open_memstream(long i)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		fail("open_memstream");
	fprintf(f, "memstream %ld", i);
	fclose(f); /* L:open_memstream */
	keep(buf);
}

static int no_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

NOINLINE static void leak_scandir(void)
{
	struct dirent **list = NULL;
	int n = scandir(dir, &list, no_dots, alphasort); /* L:scandir */

	if (n < 0)
		fail("scandir");
	for (int i = 0; i < n; i++)
		keep(list[i]);
	keep(list);
}

NOINLINE static void leak_get_current_dir_name(void)
{
	keep(get_current_dir_name()); /* L:get_current_dir_name */
}

int main(int argc, char **argv)
{
	char path[4096];
	long count;
	FILE *f;

	if (argc != 3 || (count = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: victim_wrap DIR COUNT\n");
		return 2;
	}
	dir = argv[1];
	snprintf(path, sizeof(path), "%s/./lines", dir);
	if ((f = fopen(path, "r")) == NULL)
		fail(path);
	if (chdir(dir) != 0)
		fail("chdir");
	for (long i = 0; i < count; i++) {
		leak_strdup(i);
		leak_strndup(i);
		leak_wcsdup(i);
		leak_asprintf(i);
		leak_vasprintf("vasprintf %ld", i);
		leak_getline(f);
		leak_realpath(path);
		leak_open_memstream(i);
		leak_scandir();
		leak_get_current_dir_name();
	}
	fclose(f);
	printf("%zu\n", sink_n);
	return 0;
}
