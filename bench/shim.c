/* SPDX-License-Identifier: MIT */
/* bench/shim.c: the floor of any LD_PRELOAD malloc interposer. It hooks
 * the four calls mallocbench makes and forwards each to glibc at once,
 * with no check at all: one more call level, one more indirect jump.
 * Whatever a preloaded detector costs with nothing to do is measured
 * against this (bench.py, "forwarding-only preload"). Benchmark use only:
 * it assumes glibc underneath. */
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

__attribute__((visibility("default"))) void *malloc(size_t n)
{
	return __libc_malloc(n);
}

__attribute__((visibility("default"))) void free(void *p)
{
	__libc_free(p);
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t size)
{
	return __libc_calloc(n, size);
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t n)
{
	return __libc_realloc(p, n);
}
