/* SPDX-License-Identifier: MIT */
/* preload/hooks.c: the interposed malloc family, the hot path. With leak
 * detection off each hook costs one load and one predictable branch; on,
 * one thread-local decrement. Everything else is in sampler.c. */
#include "internal.h"

#include <errno.h>

static inline bool pow2(size_t v)
{
	return v && !(v & (v - 1));
}

LS_EXPORT void *malloc(size_t size)
{
	if (unlikely(ls_sample_now()))
		return ls_sample_alloc(size, 0, LS_API_MALLOC);
	return ls_real.malloc(size);
}

LS_EXPORT void free(void *p)
{
	if (unlikely(ls_arena_owns(p))) {
		ls_sample_free(p);
		return;
	}
	ls_real.free(p);
}

LS_EXPORT void *calloc(size_t n, size_t size)
{
	size_t total;

	if (unlikely(ls_sample_now())) {
		if (__builtin_mul_overflow(n, size, &total)) {
			errno = ENOMEM;
			return NULL;
		}
		return ls_sample_alloc(total, 0, LS_API_CALLOC);
	}
	return ls_real.calloc(n, size);
}

static inline void *do_realloc(void *p, size_t size, unsigned api)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_realloc(p, size, ls_sample_now(), api);
	if (unlikely(ls_sample_now()))
		return ls_sample_realloc(p, size, true, api);
	return ls_real.realloc(p, size);
}

LS_EXPORT void *realloc(void *p, size_t size)
{
	return do_realloc(p, size, LS_API_REALLOC);
}

LS_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return do_realloc(p, total, LS_API_REALLOCARRAY);
}

LS_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	if (unlikely(ls_sample_now()) && pow2(align) && align % sizeof(void *) == 0) {
		void *p = ls_sample_alloc(size, align, LS_API_POSIX_MEMALIGN);
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	return ls_real.posix_memalign(out, align, size);
}

LS_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (unlikely(ls_sample_now()) && pow2(align))
		return ls_sample_alloc(size, align, LS_API_ALIGNED_ALLOC);
	return ls_real.aligned_alloc(align, size);
}

LS_EXPORT void *memalign(size_t align, size_t size)
{
	/* glibc rounds a non-power-of-two alignment up; so do we. */
	if (unlikely(ls_sample_now()) && align <= LS_CHUNK) {
		size_t a = 1;
		while (a < align)
			a <<= 1;
		return ls_sample_alloc(size, a, LS_API_MEMALIGN);
	}
	return ls_real.memalign(align, size);
}

LS_EXPORT void *valloc(size_t size)
{
	if (unlikely(ls_sample_now()))
		return ls_sample_alloc(size, LS_PAGE, LS_API_VALLOC);
	return ls_real.valloc(size);
}

LS_EXPORT void *pvalloc(size_t size)
{
	size_t rounded;

	if (unlikely(ls_sample_now()) &&
	    !__builtin_add_overflow(size, LS_PAGE - 1, &rounded)) {
		rounded &= ~(size_t)(LS_PAGE - 1);
		return ls_sample_alloc(rounded ? rounded : LS_PAGE, LS_PAGE, LS_API_PVALLOC);
	}
	return ls_real.pvalloc(size);
}

LS_EXPORT size_t malloc_usable_size(void *p)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_usable(p);
	return ls_real.malloc_usable_size(p);
}
