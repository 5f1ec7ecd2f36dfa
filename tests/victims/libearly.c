/* SPDX-License-Identifier: MIT */
/* tests/victims/libearly.c: a library whose constructor allocates, maybe
 * before leakscope's own constructor has run. The blocks are checked and
 * freed later by victim_life, after leakscope has started. */
#include <stdlib.h>
#include <string.h>

void *early_blocks[64];

__attribute__((constructor(101))) static void early_init(void)
{
	for (int i = 0; i < 64; i++) {
		early_blocks[i] = i % 3 ? malloc(24 + i) : calloc(1, 100);
		memset(early_blocks[i], 0x11, 24);
	}
	early_blocks[0] = realloc(early_blocks[0], 4000);
	free(malloc(10));
}

int early_check(void)
{
	for (int i = 0; i < 64; i++)
		for (int k = 0; k < 24; k++)
			if (((unsigned char *)early_blocks[i])[k] != 0x11)
				return 1;
	return 0;
}
