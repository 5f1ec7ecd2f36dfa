/* SPDX-License-Identifier: MIT */
/* tests/victims/libdlvictim.c: a library that victim_life dlopens, leaks
 * through, and dlcloses: its leaked blocks outlive it, and their stacks
 * must still translate from the report's maps. */
#include <stdlib.h>

void *dl_kept[100000]; /* exported: the compiler may not drop the mallocs */
int dl_nkept;

__attribute__((constructor)) static void dl_init(void)
{
	free(malloc(77));
}

__attribute__((noinline)) void dl_leak(int n, int size)
{
	for (int i = 0; i < n && dl_nkept < 100000; i++)
		dl_kept[dl_nkept++] = malloc((size_t)size);
	__asm__ volatile("" ::: "memory");
}
