/* SPDX-License-Identifier: MIT */
/* preload/real.c: finds the next allocator in link order (glibc, or the
 * jemalloc/tcmalloc the program links) and serves the allocations dlsym
 * itself makes meanwhile from a bounded bootstrap pool. */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <string.h>

/* glibc's own entry points: the fallback when RTLD_NEXT finds nothing. */
extern void *__libc_malloc(size_t);
extern void  __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

/* ---- bootstrap pool ----------------------------------------------- */

/* Each block is preceded by its size, so realloc and malloc_usable_size
 * work on it; blocks are never reused. */
struct boot_hdr {
	uint64_t size;
	uint64_t pad;
};

static char *boot_base;
static size_t boot_cap;
static _Atomic size_t boot_off;

static void *boot_alloc(size_t size, size_t align)
{
	if (!boot_base)
		boot_base = ls_region_boot_area(&boot_cap);
	if (align < 16)
		align = 16;
	size_t cur = atomic_load(&boot_off), start, end;
	do {
		start = (cur + sizeof(struct boot_hdr) + align - 1) & ~(align - 1);
		end = start + ((size + 15) & ~(size_t)15);
		if (size > boot_cap || end > boot_cap) {
			errno = ENOMEM;
			return NULL;
		}
	} while (!atomic_compare_exchange_weak(&boot_off, &cur, end));
	struct boot_hdr *h = (struct boot_hdr *)(boot_base + start) - 1;
	h->size = size;
	return boot_base + start; /* fresh memory: already zero */
}

bool ls_boot_owns(const void *p)
{
	return boot_base && (const char *)p >= boot_base &&
	       (const char *)p < boot_base + boot_cap;
}

size_t ls_boot_usable(const void *p)
{
	return ((const struct boot_hdr *)p - 1)->size;
}

/* ---- resolution --------------------------------------------------- */

static _Atomic int resolve_state; /* 0 idle, 1 resolving, 2 done */

static void *next_fn(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* Fallbacks for allocators that lack some of the family. */
static void *fb_aligned_alloc(size_t align, size_t size)
{
	return ls_real.memalign(align, size);
}

static void *fb_valloc(size_t size)
{
	return ls_real.memalign(LS_PAGE, size);
}

static void *fb_pvalloc(size_t size)
{
	return ls_real.memalign(LS_PAGE, (size + LS_PAGE - 1) & ~(size_t)(LS_PAGE - 1));
}

static int fb_posix_memalign(void **out, size_t align, size_t size)
{
	void *p = ls_real.memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

static size_t fb_usable(void *p)
{
	(void)p;
	return 0;
}

static void resolve(void)
{
	struct ls_real_fns f;

	ls_tls.in_boot = 1;
	f.malloc = next_fn("malloc");
	f.free = next_fn("free");
	f.calloc = next_fn("calloc");
	f.realloc = next_fn("realloc");
	f.memalign = next_fn("memalign");
	f.posix_memalign = next_fn("posix_memalign");
	f.aligned_alloc = next_fn("aligned_alloc");
	f.valloc = next_fn("valloc");
	f.pvalloc = next_fn("pvalloc");
	f.malloc_usable_size = next_fn("malloc_usable_size");
	ls_tls.in_boot = 0;

	if (!f.malloc || !f.free || !f.calloc || !f.realloc) {
		f.malloc = __libc_malloc;
		f.free = __libc_free;
		f.calloc = __libc_calloc;
		f.realloc = __libc_realloc;
		f.memalign = __libc_memalign;
		f.posix_memalign = NULL;
		f.aligned_alloc = NULL;
		f.valloc = NULL;
		f.pvalloc = NULL;
	}
	if (!f.memalign)
		f.memalign = __libc_memalign;
	ls_real.memalign = f.memalign;
	ls_real.posix_memalign = f.posix_memalign ? f.posix_memalign : fb_posix_memalign;
	ls_real.aligned_alloc = f.aligned_alloc ? f.aligned_alloc : fb_aligned_alloc;
	ls_real.valloc = f.valloc ? f.valloc : fb_valloc;
	ls_real.pvalloc = f.pvalloc ? f.pvalloc : fb_pvalloc;
	ls_real.malloc_usable_size = f.malloc_usable_size ? f.malloc_usable_size : fb_usable;
	ls_real.realloc = f.realloc;
	ls_real.calloc = f.calloc;
	ls_real.free = f.free;
	ls_real.malloc = f.malloc;

	/* The extended entry points, now that the malloc underneath is
	 * known; dlsym's own allocations still come from the pool. */
	ls_tls.in_boot = 1;
	ls_cxx_resolve();
	ls_jemalloc_resolve();
	ls_tcmalloc_resolve();
	ls_tls.in_boot = 0;
}

const void *ls_real_object(const void *fn)
{
	Dl_info di;

	return fn && dladdr(fn, &di) ? di.dli_fbase : NULL;
}

bool ls_real_same_object(const void *fn)
{
	static const void *malloc_base;

	if (!malloc_base)
		malloc_base = ls_real_object((const void *)ls_real.malloc);
	return malloc_base && ls_real_object(fn) == malloc_base;
}

void ls_real_init(void)
{
	int expect = 0;

	if (atomic_load_explicit(&resolve_state, memory_order_acquire) == 2)
		return;
	if (atomic_compare_exchange_strong(&resolve_state, &expect, 1)) {
		ls_region_reserve();
		resolve();
		atomic_store_explicit(&resolve_state, 2, memory_order_release);
		return;
	}
	if (ls_tls.in_boot)
		return; /* dlsym re-entered us: the caller uses the pool */
	while (atomic_load_explicit(&resolve_state, memory_order_acquire) != 2)
		sched_yield();
}

/* ---- bootstrap stubs: ls_real's initial values --------------------- */

static void *boot_malloc(size_t size)
{
	if (!ls_tls.in_boot)
		ls_real_init();
	if (ls_tls.in_boot)
		return boot_alloc(size, 16);
	return ls_real.malloc(size);
}

static void boot_free(void *p)
{
	if (!ls_tls.in_boot)
		ls_real_init();
	if (!p || ls_boot_owns(p) || ls_tls.in_boot)
		return;
	ls_real.free(p);
}

static void *boot_calloc(size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (!ls_tls.in_boot)
		ls_real_init();
	if (ls_tls.in_boot)
		return boot_alloc(total, 16);
	return ls_real.calloc(n, size);
}

static void *boot_realloc(void *p, size_t size)
{
	if (!ls_tls.in_boot)
		ls_real_init();
	if (ls_tls.in_boot || ls_boot_owns(p)) {
		void *q = ls_tls.in_boot ? boot_alloc(size, 16) : ls_real.malloc(size);
		if (q && p) {
			size_t old = ls_boot_owns(p) ? ls_boot_usable(p) : 0;
			memcpy(q, p, old < size ? old : size);
		}
		return q;
	}
	return ls_real.realloc(p, size);
}

static void *boot_memalign(size_t align, size_t size)
{
	if (!ls_tls.in_boot)
		ls_real_init();
	if (ls_tls.in_boot)
		return boot_alloc(size, align);
	return ls_real.memalign(align, size);
}

static int boot_posix_memalign(void **out, size_t align, size_t size)
{
	void *p = boot_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

static void *boot_aligned_alloc(size_t align, size_t size)
{
	return boot_memalign(align, size);
}

static void *boot_valloc(size_t size)
{
	return boot_memalign(LS_PAGE, size);
}

static void *boot_pvalloc(size_t size)
{
	return boot_memalign(LS_PAGE, (size + LS_PAGE - 1) & ~(size_t)(LS_PAGE - 1));
}

static size_t boot_usable(void *p)
{
	if (ls_boot_owns(p))
		return ls_boot_usable(p);
	if (!ls_tls.in_boot)
		ls_real_init();
	return ls_real.malloc_usable_size(p);
}

struct ls_real_fns ls_real = {
	.malloc = boot_malloc,
	.free = boot_free,
	.calloc = boot_calloc,
	.realloc = boot_realloc,
	.posix_memalign = boot_posix_memalign,
	.aligned_alloc = boot_aligned_alloc,
	.memalign = boot_memalign,
	.valloc = boot_valloc,
	.pvalloc = boot_pvalloc,
	.malloc_usable_size = boot_usable,
};
