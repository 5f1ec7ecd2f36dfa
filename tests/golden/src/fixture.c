/* SPDX-License-Identifier: MIT */
/* fixture.c: a golden-test program's own leakscope report (see fixture.h). */
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"

#define MAX_LEAKS 8
#define MAX_DEPTH 32
#define SAMPLING 10

static struct {
	unsigned long count, bytes;
	void *addr[MAX_DEPTH];
	int n;
} leaks[MAX_LEAKS];
static int nleaks;

void fx_begin(void)
{
	void *bt[4];

	backtrace(bt, 4);
}

static int in_libc(void *pc)
{
	Dl_info info;
	const char *base;

	if (dladdr(pc, &info) == 0 || info.dli_fname == NULL)
		return 0;
	base = strrchr(info.dli_fname, '/');
	base = base ? base + 1 : info.dli_fname;
	return strncmp(base, "libc.so", 7) == 0;
}

__attribute__((noinline)) void fx_capture(int skip, unsigned long count, unsigned long bytes)
{
	void *bt[MAX_DEPTH + 8];
	int n = backtrace(bt, MAX_DEPTH + 8);

	if (nleaks == MAX_LEAKS)
		return;
	leaks[nleaks].count = count;
	leaks[nleaks].bytes = bytes;
	for (int i = 1 + skip; i < n && !in_libc((char *)bt[i] - 1) && leaks[nleaks].n < MAX_DEPTH; i++)
		leaks[nleaks].addr[leaks[nleaks].n++] = (char *)bt[i] - (i == 1 + skip);
	nleaks++;
}

/* Copies the executable mappings of /proc/self/maps as map: lines. */
static int write_maps(FILE *out, int count_only)
{
	char line[4096];
	int n = 0;
	FILE *in = fopen("/proc/self/maps", "r");

	if (in == NULL)
		return -1;
	while (fgets(line, sizeof(line), in) != NULL) {
		char range[64], perms[8], off[32], dev[16], *path;
		unsigned long inode;
		int pos = 0;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%63s %7s %31s %15s %lu %n", range, perms, off, dev, &inode, &pos) < 5 || pos == 0)
			continue;
		path = line + pos;
		if (perms[2] != 'x' || *path == '\0')
			continue;
		n++;
		if (!count_only)
			fprintf(out, "map: %s %s %s - %s\n", range, perms, off, path);
	}
	fclose(in);
	return n;
}

int fx_finish(int argc, char **argv)
{
	unsigned long count = 0, bytes = 0;
	char exe[4096];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *out;

	if (argc < 2 || len < 0)
		return 2;
	exe[len] = '\0';
	for (int i = 0; i < nleaks; i++)
		count += leaks[i].count, bytes += leaks[i].bytes;
	out = fopen(argv[1], "w");
	if (out == NULL)
		return 1;
	/* Fixed numbers where a real report has run-dependent ones. */
	fprintf(out,
		"format: leakscope-report 1\nversion: 0.1.0\npid: 4242\nexe: %s\nsampling: %d\n"
		"window_start: 1763900000.123456\nwindow_seconds: 12.500\nwindow_open: no\nmin_age: 0.000\n"
		"max_frames: %d\nunwinder: libunwind\nsampled: %lu\ndropped: 0\nlive: %lu %lu\nestimated: %lu %lu\n"
		"stacks: %d\nmaps: %d\n",
		exe, SAMPLING, MAX_DEPTH, count + 3, count, bytes, count * SAMPLING, bytes * SAMPLING, nleaks,
		write_maps(out, 1));
	write_maps(out, 0);
	for (int i = 0; i < nleaks; i++) {
		fprintf(out, "leak: count=%lu bytes=%lu est_count=%lu est_bytes=%lu max_age=12.401 min_age=0.013 @",
			leaks[i].count, leaks[i].bytes, leaks[i].count * SAMPLING, leaks[i].bytes * SAMPLING);
		for (int j = 0; j < leaks[i].n; j++)
			fprintf(out, " %p", leaks[i].addr[j]);
		fputc('\n', out);
	}
	fprintf(out, "end: %d stacks\n", nleaks);
	if (fclose(out) != 0)
		return 1;
	if (argc > 2 && strcmp(argv[2], "wait") == 0) {
		char buf[64];

		printf("ready\n");
		fflush(stdout);
		while (fread(buf, 1, sizeof(buf), stdin) > 0)
			;
	}
	return 0;
}
