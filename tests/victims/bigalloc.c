/* SPDX-License-Identifier: MIT */
/* tests/victims/bigalloc.c: big allocations under an address-space
 * limit. Each argument is a size: the victim mallocs it, touches its
 * first byte, prints "SIZE ok" or "SIZE fail", and frees it; "leak:N"
 * leaks N blocks of 64 bytes from leak_small. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where leaked pointers go, so the compiler cannot drop the mallocs. */
void *volatile bigalloc_sink;

__attribute__((noinline)) static void leak_small(long n)
{
	for (long i = 0; i < n; i++) {
		char *p = malloc(64);
		if (p)
			p[0] = 1;
		bigalloc_sink = p;
	}
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "leak:", 5)) {
			leak_small(atol(argv[i] + 5));
			printf("leaked %s\n", argv[i] + 5);
			continue;
		}
		size_t size = strtoull(argv[i], NULL, 10);
		char *p = malloc(size);
		if (p)
			p[0] = 1;
		bigalloc_sink = p;
		printf("%zu %s\n", size, p ? "ok" : "fail");
		free(p);
	}
	return 0;
}
