/* SPDX-License-Identifier: MIT */
/* e2e.c: a victim for the end-to-end test: known leaks, run under the real preload. */
#include <stdlib.h>
#include <string.h>

void *volatile sink[4096];

static inline __attribute__((always_inline)) void *grab(size_t n)
{
	return calloc(1, n); /* L:e2e_grab_calloc */
}

__attribute__((noinline)) void leak_small(int i)
{
	sink[i] = malloc(64); /* L:e2e_small_malloc */
}

__attribute__((noinline)) void leak_big(int i)
{
	sink[2048 + i] = grab(4096); /* L:e2e_big_grab */
}

int main(void)
{
	for (int i = 0; i < 1000; i++)
		leak_small(i); /* L:e2e_main_small */
	for (int i = 0; i < 200; i++)
		leak_big(i); /* L:e2e_main_big */
	for (int i = 0; i < 500; i++)
		free(malloc(32)); /* freed: must not be reported */
	return 0;
}
