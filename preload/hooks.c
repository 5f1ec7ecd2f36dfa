/* SPDX-License-Identifier: MIT */
/* preload/hooks.c: the interposed malloc family, the hot path. With leak
 * detection off each hook costs one load and one predictable branch; on,
 * one thread-local decrement. Every rare case is a tail call into
 * sampler.c, so no hook sets up a frame. */
#include "internal.h"

LS_EXPORT void *malloc(size_t size)
{
	if (unlikely(ls_sample_tick(size)))
		return ls_slow_malloc(size);
	return ls_real.malloc(size);
}

LS_EXPORT void free(void *p)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_real.free(p);
}

LS_EXPORT void *calloc(size_t n, size_t size)
{
	/* An overflowing product fails in the slow path or the real calloc. */
	if (unlikely(ls_sample_tick(n * size)))
		return ls_slow_calloc(n, size);
	return ls_real.calloc(n, size);
}

LS_EXPORT void *realloc(void *p, size_t size)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_slow_realloc(p, 1, size, LS_API_REALLOC, false);
	if (unlikely(ls_sample_tick(size)))
		return ls_slow_realloc(p, 1, size, LS_API_REALLOC, true);
	return ls_real.realloc(p, size);
}

LS_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	/* Checks the product itself: the next allocator may lack it. */
	return ls_slow_realloc(p, n, size, LS_API_REALLOCARRAY, false);
}

LS_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	if (unlikely(ls_sample_tick(size)))
		return ls_slow_posix_memalign(out, align, size);
	return ls_real.posix_memalign(out, align, size);
}

LS_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (unlikely(ls_sample_tick(size)))
		return ls_slow_aligned(align, size, LS_API_ALIGNED_ALLOC);
	return ls_real.aligned_alloc(align, size);
}

LS_EXPORT void *memalign(size_t align, size_t size)
{
	if (unlikely(ls_sample_tick(size)))
		return ls_slow_aligned(align, size, LS_API_MEMALIGN);
	return ls_real.memalign(align, size);
}

LS_EXPORT void *valloc(size_t size)
{
	if (unlikely(ls_sample_tick(size)))
		return ls_slow_aligned(LS_PAGE, size, LS_API_VALLOC);
	return ls_real.valloc(size);
}

LS_EXPORT void *pvalloc(size_t size)
{
	if (unlikely(ls_sample_tick(size)))
		return ls_slow_aligned(LS_PAGE, size, LS_API_PVALLOC);
	return ls_real.pvalloc(size);
}

LS_EXPORT size_t malloc_usable_size(void *p)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_usable(p);
	return ls_real.malloc_usable_size(p);
}
