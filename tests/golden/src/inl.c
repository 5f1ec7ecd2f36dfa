/* SPDX-License-Identifier: MIT */
/* inl.c: golden-test program with always_inline helpers, so one address expands to inlined frames. */
#include "fixture.h"

static inline __attribute__((always_inline)) void leaf(int n)
{
	fx_capture(0, (unsigned long)n, (unsigned long)n * 16); /* L:leaf_capture */
}

static inline __attribute__((always_inline)) void mid(int n)
{
	leaf(n + 1); /* L:mid_calls_leaf */
}

__attribute__((noinline)) void outer(int n)
{
	mid(n); /* L:outer_calls_mid */
}

__attribute__((noinline)) void plain(void)
{
	fx_capture(0, 3, 48); /* L:plain_capture */
}

int main(int argc, char **argv)
{
	fx_begin();
	outer(4); /* L:main_calls_outer */
	plain(); /* L:main_calls_plain */
	return fx_finish(argc, argv);
}
