/* SPDX-License-Identifier: MIT */
/* preload/jemalloc.c: jemalloc's non-standard API (mallocx, rallocx,
 * xallocx, sallocx, dallocx, sdallocx, nallocx). A sampled block never
 * reaches jemalloc: it is sized, resized and freed here. mallocx and
 * rallocx are allocation events, sampled like malloc, with their flags
 * honoured; unsampled calls keep every flag (arena, tcache) as they go on.
 *
 * These names are exported whether or not the host has jemalloc. With
 * none, each call is served over the standard family (ls_real) with the
 * same contract, so a program that probes for them by symbol still works.
 * The flag layout is jemalloc's documented one (jemalloc(3)). */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#define LG_ALIGN_MASK 0x3f        /* MALLOCX_LG_ALIGN(la): la */
#define ZERO          0x40        /* MALLOCX_ZERO */
#define TCACHE_MASK   0x000fff00  /* MALLOCX_TCACHE(tc), MALLOCX_TCACHE_NONE */

static size_t flag_align(int flags)
{
	unsigned la = (unsigned)flags & LG_ALIGN_MASK;
	return la ? (size_t)1 << la : 0;
}

/* ---- over the standard family, when there is no jemalloc ------------ */

static void *std_alloc(size_t size, int flags)
{
	size_t al = flag_align(flags);
	void *p = al > 16 ? ls_real.memalign(al, size) : ls_real.malloc(size);

	if (p && (flags & ZERO))
		memset(p, 0, size);
	return p;
}

static size_t std_usable(void *p)
{
	size_t u = ls_real.malloc_usable_size(p);
	return u;
}

static void *std_mallocx(size_t size, int flags)
{
	return std_alloc(size ? size : 1, flags);
}

static void *std_rallocx(void *p, size_t size, int flags)
{
	size_t old = std_usable(p);
	size_t al = flag_align(flags);
	void *q;

	if (al > 16 && ((uintptr_t)p & (al - 1))) {
		q = std_alloc(size, flags & ~ZERO);
		if (!q)
			return NULL;
		memcpy(q, p, old < size ? old : size);
		ls_real.free(p);
	} else {
		q = ls_real.realloc(p, size ? size : 1);
		if (!q)
			return NULL;
	}
	size_t now = std_usable(q);
	if ((flags & ZERO) && now > old)
		memset((char *)q + old, 0, now - old);
	return q;
}

/* No resize in place: the real size stays what it is. */
static size_t std_xallocx(void *p, size_t size, size_t extra, int flags)
{
	(void)size, (void)extra, (void)flags;
	return std_usable(p);
}

static size_t std_sallocx(const void *p, int flags)
{
	(void)flags;
	return std_usable((void *)p);
}

static void std_dallocx(void *p, int flags)
{
	(void)flags;
	ls_real.free(p);
}

static void std_sdallocx(void *p, size_t size, int flags)
{
	(void)size, (void)flags;
	ls_real.free(p);
}

/* The real size an allocation would get, found by making one. 0 when
 * it cannot be made, as jemalloc says. */
static size_t std_nallocx(size_t size, int flags)
{
	void *p = std_alloc(size ? size : 1, flags & ~ZERO);
	if (!p)
		return 0;
	size_t u = std_usable(p);
	ls_real.free(p);
	return u;
}

/* ---- the next definitions ------------------------------------------ */

static struct {
	void *(*mallocx)(size_t, int);
	void *(*rallocx)(void *, size_t, int);
	size_t (*xallocx)(void *, size_t, size_t, int);
	size_t (*sallocx)(const void *, int);
	void (*dallocx)(void *, int);
	void (*sdallocx)(void *, size_t, int);
	size_t (*nallocx)(size_t, int);
} je = {
	std_mallocx, std_rallocx, std_xallocx, std_sallocx, std_dallocx, std_sdallocx, std_nallocx,
};
/* mallocx belongs to the malloc underneath: sampling it is sound (its
 * blocks and the arena's are freed by the same free). */
static bool je_sampled = true;

#define NEXT(field) do {                                             \
		void *f_ = dlsym(RTLD_NEXT, #field);                 \
		if (f_)                                              \
			memcpy(&je.field, &f_, sizeof(f_));          \
	} while (0)

void ls_jemalloc_resolve(void)
{
	/* jemalloc's non-standard API comes whole: without mallocx, the
	 * other six lookups would only search every library in vain. */
	if (!dlsym(RTLD_NEXT, "mallocx"))
		return;
	NEXT(mallocx);
	NEXT(rallocx);
	NEXT(xallocx);
	NEXT(sallocx);
	NEXT(dallocx);
	NEXT(sdallocx);
	NEXT(nallocx);
	if (je.mallocx != std_mallocx)
		je_sampled = ls_real_same_object((const void *)je.mallocx);
}

/* A call before the first malloc resolves everything first; after it,
 * one load and one branch. */
static inline void ready(void)
{
	ls_real_init();
}

/* ---- slow paths ------------------------------------------------------ */

/* A sampled block of size bytes, in a slot of at least the size jemalloc
 * would give (nallocx's promise holds for it), zeroed when asked. NULL
 * when it cannot be tracked; *dropped as ls_sample_take. */
static void *take(size_t size, int flags, unsigned api, bool *dropped)
{
	size_t want = size ? size : 1;
	size_t room = je.nallocx(want, flags & ~ZERO);
	void *p = ls_sample_take(size, room > want ? room : want, flag_align(flags), api, dropped);

	if (p && (flags & ZERO))
		memset(p, 0, ls_sample_usable(p));
	return p;
}

static LS_COLD void *slow_mallocx(size_t size, int flags)
{
	bool dropped = false;

	if (je_sampled && ls_sample_due(&ls_tls, size)) {
		void *p = take(size, flags, LS_API_MALLOCX, &dropped);
		if (p)
			return p;
	}
	void *q = je.mallocx(size, flags);
	if (q && dropped)
		ls_window_count_dropped(ls_tls.drop_why);
	return q;
}

/* rallocx as an allocation event, like realloc: the new block is sampled
 * or not on its own; a sampled old block is copied and freed here. On
 * failure NULL, and p is left as it was. */
static LS_COLD void *slow_rallocx(void *p, size_t size, int flags, bool owned)
{
	bool due = je_sampled && (owned ? ls_sample_now(size) : ls_sample_due(&ls_tls, size));
	bool dropped = false;
	void *q = NULL;

	if (!owned && !due)
		return je.rallocx(p, size, flags);
	if (due)
		q = take(size, flags & ~ZERO, LS_API_RALLOCX, &dropped);
	if (!q) {
		q = je.mallocx(size ? size : 1, flags & ~ZERO);
		if (!q)
			return NULL;
		if (dropped)
			ls_window_count_dropped(ls_tls.drop_why);
	}
	size_t old = owned ? ls_sample_usable(p) : je.sallocx(p, 0);
	size_t now = ls_arena_owns(q) ? ls_sample_usable(q) : je.sallocx(q, 0);
	memcpy(q, p, old < size ? old : size);
	if ((flags & ZERO) && now > old)
		memset((char *)q + old, 0, now - old);
	if (owned)
		ls_sample_free(p);
	else
		je.dallocx(p, flags & TCACHE_MASK);
	return q;
}

/* ---- the hooks -------------------------------------------------------- */

LS_EXPORT void *mallocx(size_t size, int flags)
{
	ready();
	if (unlikely(ls_sample_tick(size)))
		return slow_mallocx(size, flags);
	return je.mallocx(size, flags);
}

LS_EXPORT void *rallocx(void *p, size_t size, int flags)
{
	ready();
	bool owned = ls_arena_owns(p);
	if (unlikely(owned || ls_sample_tick(size)))
		return slow_rallocx(p, size, flags, owned);
	return je.rallocx(p, size, flags);
}

/* A sampled block cannot grow or shrink in place: its real size stays,
 * which is what xallocx returns when it could not resize. */
LS_EXPORT size_t xallocx(void *p, size_t size, size_t extra, int flags)
{
	ready();
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_usable(p);
	return je.xallocx(p, size, extra, flags);
}

LS_EXPORT size_t sallocx(const void *p, int flags)
{
	ready();
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_usable((void *)p);
	return je.sallocx(p, flags);
}

LS_EXPORT void dallocx(void *p, int flags)
{
	ready();
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	je.dallocx(p, flags);
}

LS_EXPORT void sdallocx(void *p, size_t size, int flags)
{
	ready();
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	je.sdallocx(p, size, flags);
}

/* No block to lie about; exported so a host that probes for mallocx
 * finds the rest of the family too. */
LS_EXPORT size_t nallocx(size_t size, int flags)
{
	ready();
	return je.nallocx(size, flags);
}
