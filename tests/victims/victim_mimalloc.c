/* SPDX-License-Identifier: MIT */
/* tests/victims/victim_mimalloc.c: a program linked with mimalloc, which
 * leakscope does not cover beyond the standard family. Line protocol:
 *   mi COUNT    leak COUNT mi_malloc(100) blocks (invisible to leakscope)
 *   malloc COUNT  leak COUNT malloc(100) blocks (seen: mimalloc's malloc)
 *   quit */
#include <mimalloc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

void *sink[100000]; /* not static: the compiler must keep each malloc */
static size_t nsink;

NOINLINE static void leak_mi(void)
{
	sink[nsink++] = mi_malloc(100);
}

NOINLINE static void leak_malloc(void)
{
	sink[nsink++] = malloc(100);
}

int main(void)
{
	char line[128];
	long n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		if (strncmp(line, "quit", 4) == 0)
			break;
		if (sscanf(line, "mi %ld", &n) == 1) {
			for (long i = 0; i < n && nsink < 100000; i++)
				leak_mi();
		} else if (sscanf(line, "malloc %ld", &n) == 1) {
			for (long i = 0; i < n && nsink < 100000; i++)
				leak_malloc();
		} else {
			printf("error: bad command: %s", line);
			continue;
		}
		printf("done\n");
	}
	return 0;
}
