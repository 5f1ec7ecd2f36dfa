/* SPDX-License-Identifier: MIT */
/* viaso.c: golden-test program whose stack starts in a libleakscope*.so, which the translator folds away. */
#include "fixture.h"

void lsg_alloc(void (*hook)(void));

static void hook(void)
{
	fx_capture(1, 5, 500);
}

int main(int argc, char **argv)
{
	fx_begin();
	lsg_alloc(hook); /* L:main_calls_lsg */
	return fx_finish(argc, argv);
}
