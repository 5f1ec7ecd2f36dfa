/* SPDX-License-Identifier: MIT */
/* preload/tcmalloc.c: gperftools tcmalloc's own entry points: the tc_*
 * family, malloc_size, MallocExtension_GetAllocatedSize and
 * GetOwnership, and the TCMallocImplementation methods behind
 * MallocExtension::instance() (its vtable is filled by symbol, so they
 * interpose too). Each allocating call is sampled like its standard
 * counterpart; each call that takes a block handles a sampled one here,
 * so tcmalloc never sees our pointers.
 *
 * Sampling is sound only when this tcmalloc is the process's malloc (a
 * sampled block is then freed by free() as well as by tc_free()); when it
 * is not, its allocations go on untouched. With no tcmalloc at all, each
 * name is served over the standard family (ls_real, ls_cxx). */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

static bool pow2(size_t v)
{
	return v && !(v & (v - 1));
}

/* ---- over the standard family, when there is no tcmalloc ----------- */

static void *std_malloc(size_t n) { return ls_real.malloc(n); }
static void *std_calloc(size_t n, size_t m) { return ls_real.calloc(n, m); }
static void *std_realloc(void *p, size_t n) { return ls_real.realloc(p, n); }
static void *std_memalign(size_t al, size_t n) { return ls_real.memalign(al, n); }
static int std_posix_memalign(void **out, size_t al, size_t n) { return ls_real.posix_memalign(out, al, n); }
static void *std_valloc(size_t n) { return ls_real.valloc(n); }
static void *std_pvalloc(size_t n) { return ls_real.pvalloc(n); }
static void std_free(void *p) { ls_real.free(p); }
static void std_free_1(void *p, size_t a) { (void)a; ls_real.free(p); }
static void std_free_2(void *p, size_t a, size_t b) { (void)a, (void)b; ls_real.free(p); }
static void std_free_nt(void *p, const void *nt) { (void)nt; ls_real.free(p); }
static void std_free_al_nt(void *p, size_t al, const void *nt) { (void)al, (void)nt; ls_real.free(p); }
static size_t std_size(void *p) { return ls_real.malloc_usable_size(p); }
static size_t std_method_size(void *self, const void *p) { (void)self; return ls_real.malloc_usable_size((void *)p); }
static int std_ownership(const void *p) { (void)p; return 0; /* kUnknownOwnership */ }
static int std_method_ownership(void *self, const void *p) { (void)self, (void)p; return 0; }
static void *std_new(size_t n) { return ls_cxx.nw(n); }
static void *std_newarray(size_t n) { return ls_cxx.na(n); }
static void *std_new_nt(size_t n, const void *nt) { return ls_cxx.nw_nt(n, nt); }
static void *std_newarray_nt(size_t n, const void *nt) { return ls_cxx.na_nt(n, nt); }
static void *std_new_al(size_t n, size_t al) { return ls_cxx.nw_al(n, al); }
static void *std_newarray_al(size_t n, size_t al) { return ls_cxx.na_al(n, al); }
static void *std_new_al_nt(size_t n, size_t al, const void *nt) { return ls_cxx.nw_al_nt(n, al, nt); }
static void *std_newarray_al_nt(size_t n, size_t al, const void *nt) { return ls_cxx.na_al_nt(n, al, nt); }

/* ---- the next definitions ------------------------------------------- */

static struct {
	void *(*malloc)(size_t);
	void *(*malloc_skip_new_handler)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*memalign)(size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	void *(*new_)(size_t);
	void *(*newarray)(size_t);
	void *(*new_nothrow)(size_t, const void *);
	void *(*newarray_nothrow)(size_t, const void *);
	void *(*new_aligned)(size_t, size_t);
	void *(*newarray_aligned)(size_t, size_t);
	void *(*new_aligned_nothrow)(size_t, size_t, const void *);
	void *(*newarray_aligned_nothrow)(size_t, size_t, const void *);
	void (*free)(void *);
	void (*cfree)(void *);
	void (*free_sized)(void *, size_t);
	void (*delete_)(void *);
	void (*deletearray)(void *);
	void (*delete_sized)(void *, size_t);
	void (*deletearray_sized)(void *, size_t);
	void (*delete_aligned)(void *, size_t);
	void (*deletearray_aligned)(void *, size_t);
	void (*delete_sized_aligned)(void *, size_t, size_t);
	void (*deletearray_sized_aligned)(void *, size_t, size_t);
	void (*delete_nothrow)(void *, const void *);
	void (*deletearray_nothrow)(void *, const void *);
	void (*delete_aligned_nothrow)(void *, size_t, const void *);
	void (*deletearray_aligned_nothrow)(void *, size_t, const void *);
	size_t (*malloc_size)(void *);
	size_t (*bsd_malloc_size)(void *);
	size_t (*ext_allocated_size)(const void *);
	int (*ext_ownership)(const void *);
	size_t (*method_allocated_size)(void *, const void *);
	int (*method_ownership)(void *, const void *);
} tc = {
	std_malloc, std_malloc, std_calloc, std_realloc, std_memalign, std_posix_memalign,
	std_valloc, std_pvalloc,
	std_new, std_newarray, std_new_nt, std_newarray_nt, std_new_al, std_newarray_al,
	std_new_al_nt, std_newarray_al_nt,
	std_free, std_free, std_free_1,
	std_free, std_free, std_free_1, std_free_1, std_free_1, std_free_1, std_free_2, std_free_2,
	std_free_nt, std_free_nt, std_free_al_nt, std_free_al_nt,
	std_size, std_size, (size_t (*)(const void *))(void (*)(void))std_size, std_ownership,
	std_method_size, std_method_ownership,
};

/* In the field order above. */
static const char *const tc_names[] = {
	"tc_malloc", "tc_malloc_skip_new_handler", "tc_calloc", "tc_realloc", "tc_memalign",
	"tc_posix_memalign", "tc_valloc", "tc_pvalloc",
	"tc_new", "tc_newarray", "tc_new_nothrow", "tc_newarray_nothrow", "tc_new_aligned",
	"tc_newarray_aligned", "tc_new_aligned_nothrow", "tc_newarray_aligned_nothrow",
	"tc_free", "tc_cfree", "tc_free_sized",
	"tc_delete", "tc_deletearray", "tc_delete_sized", "tc_deletearray_sized",
	"tc_delete_aligned", "tc_deletearray_aligned", "tc_delete_sized_aligned",
	"tc_deletearray_sized_aligned", "tc_delete_nothrow", "tc_deletearray_nothrow",
	"tc_delete_aligned_nothrow", "tc_deletearray_aligned_nothrow",
	"tc_malloc_size", "malloc_size", "MallocExtension_GetAllocatedSize",
	"MallocExtension_GetOwnership",
	"_ZN22TCMallocImplementation16GetAllocatedSizeEPKv",
	"_ZN22TCMallocImplementation12GetOwnershipEPKv",
};
_Static_assert(sizeof(tc) == sizeof(tc_names) / sizeof(tc_names[0]) * sizeof(void *),
	       "one name per entry point");

/* tcmalloc is the process's malloc: its allocations may be sampled. */
static bool tc_sampled = true;

void ls_tcmalloc_resolve(void)
{
	void **slot = (void **)&tc;
	/* A failed lookup searches every library (a few thousand
	 * instructions); gperftools defines the tc_ family whole, so one
	 * probe spares a process without it 30 of them at start. */
	bool tc_family = dlsym(RTLD_NEXT, "tc_malloc") != NULL;

	for (unsigned i = 0; i < sizeof(tc_names) / sizeof(tc_names[0]); i++) {
		if (!tc_family && !strncmp(tc_names[i], "tc_", 3))
			continue;
		void *f = dlsym(RTLD_NEXT, tc_names[i]);
		if (f)
			slot[i] = f;
	}
	if (tc.malloc != std_malloc)
		tc_sampled = ls_real_same_object((const void *)tc.malloc);
}

/* A call before the first malloc resolves everything first; after it,
 * one load and one branch. */
static inline void ready(void)
{
	ls_real_init();
}

/* ---- slow paths ------------------------------------------------------- */

static bool due(size_t size)
{
	return tc_sampled && ls_sample_due(&ls_tls, size);
}

/* Samples size bytes at align (zeroed if asked), or makes the fallback
 * allocation with fb(a, b): the next tc_* call itself. */
#define SAMPLE_OR(api, size, align, zero, fallback)                          \
	do {                                                                 \
		bool dropped_ = false;                                       \
		if (due(size)) {                                             \
			void *p_ = ls_sample_take((size), (size) ? (size) : 1,   \
						  (align), (api), &dropped_);    \
			if (p_) {                                            \
				if (zero)                                    \
					memset(p_, 0, (size));               \
				return p_;                                   \
			}                                                    \
		}                                                            \
		void *q_ = (fallback);                                       \
		if (q_ && dropped_)                                          \
			ls_window_count_dropped(ls_tls.drop_why);                           \
		return q_;                                                   \
	} while (0)

static LS_COLD void *slow_malloc(unsigned api, size_t n)
{
	SAMPLE_OR(api, n, 0, false,
		  api == LS_API_TC_MALLOC ? tc.malloc(n) : tc.malloc_skip_new_handler(n));
}

static LS_COLD void *slow_calloc(size_t n, size_t m)
{
	size_t total;

	if (__builtin_mul_overflow(n, m, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	SAMPLE_OR(LS_API_TC_CALLOC, total, 0, true, tc.calloc(n, m));
}

static LS_COLD void *slow_memalign(unsigned api, size_t al, size_t n)
{
	switch (api) {
	case LS_API_TC_VALLOC:
		SAMPLE_OR(api, n, LS_PAGE, false, tc.valloc(n));
	case LS_API_TC_PVALLOC: {
		size_t r = (n + LS_PAGE - 1) & ~(size_t)(LS_PAGE - 1);
		if (r < n)
			return tc.pvalloc(n);
		if (r == 0)
			r = LS_PAGE;
		SAMPLE_OR(api, r, LS_PAGE, false, tc.pvalloc(n));
	}
	default:
		if (!pow2(al) || al > LS_CHUNK)
			return tc.memalign(al, n);
		SAMPLE_OR(api, n, al, false, tc.memalign(al, n));
	}
}

static LS_COLD int slow_posix_memalign(void **out, size_t al, size_t n)
{
	if (pow2(al) && al % sizeof(void *) == 0 && due(n)) {
		bool dropped;
		void *p = ls_sample_take(n, n ? n : 1, al, LS_API_TC_POSIX_MEMALIGN, &dropped);
		if (p) {
			*out = p;
			return 0;
		}
		int rc = tc.posix_memalign(out, al, n);
		if (rc == 0 && dropped)
			ls_window_count_dropped(ls_tls.drop_why);
		return rc;
	}
	return tc.posix_memalign(out, al, n);
}

static void *call_new(unsigned api, size_t n, size_t al, const void *nt)
{
	switch (api) {
	case LS_API_TC_NEW: return tc.new_(n);
	case LS_API_TC_NEWARRAY: return tc.newarray(n);
	case LS_API_TC_NEW_NOTHROW: return tc.new_nothrow(n, nt);
	case LS_API_TC_NEWARRAY_NOTHROW: return tc.newarray_nothrow(n, nt);
	case LS_API_TC_NEW_ALIGNED: return tc.new_aligned(n, al);
	case LS_API_TC_NEWARRAY_ALIGNED: return tc.newarray_aligned(n, al);
	case LS_API_TC_NEW_ALIGNED_NOTHROW: return tc.new_aligned_nothrow(n, al, nt);
	default: return tc.newarray_aligned_nothrow(n, al, nt);
	}
}

/* new's semantics come from the fallback: tcmalloc's own tc_new runs the
 * new_handler and throws when it fails. */
static LS_COLD void *slow_new(unsigned api, size_t n, size_t al, const void *nt)
{
	if (al && !pow2(al))
		return call_new(api, n, al, nt);
	SAMPLE_OR(api, n, al, false, call_new(api, n, al, nt));
}

/* realloc as an allocation event; a sampled old block is moved out. */
static LS_COLD void *slow_realloc(void *p, size_t n, bool owned)
{
	if (tc_sampled)
		return ls_slow_realloc(p, 1, n, LS_API_TC_REALLOC, !owned);
	if (!owned)
		return tc.realloc(p, n);
	if (n == 0) {
		ls_sample_free(p);
		return NULL;
	}
	void *q = tc.malloc(n);
	if (!q)
		return NULL;
	size_t old = ls_sample_usable(p);
	memcpy(q, p, old < n ? old : n);
	ls_sample_free(p);
	return q;
}

/* ---- the hooks ---------------------------------------------------------- */

#define TICKED(size, call, slow) \
	do { ready(); if (unlikely(ls_sample_tick(size))) return slow; return call; } while (0)

LS_EXPORT void *tc_malloc(size_t n)
{
	TICKED(n, tc.malloc(n), slow_malloc(LS_API_TC_MALLOC, n));
}

LS_EXPORT void *tc_malloc_skip_new_handler(size_t n)
{
	TICKED(n, tc.malloc_skip_new_handler(n), slow_malloc(LS_API_TC_MALLOC_SKIP_NEW_HANDLER, n));
}

LS_EXPORT void *tc_calloc(size_t n, size_t m)
{
	TICKED(n * m, tc.calloc(n, m), slow_calloc(n, m));
}

LS_EXPORT void *tc_realloc(void *p, size_t n)
{
	ready();
	bool owned = ls_arena_owns(p);
	if (unlikely(owned || ls_sample_tick(n)))
		return slow_realloc(p, n, owned);
	return tc.realloc(p, n);
}

LS_EXPORT void *tc_memalign(size_t al, size_t n)
{
	TICKED(n, tc.memalign(al, n), slow_memalign(LS_API_TC_MEMALIGN, al, n));
}

LS_EXPORT int tc_posix_memalign(void **out, size_t al, size_t n)
{
	TICKED(n, tc.posix_memalign(out, al, n), slow_posix_memalign(out, al, n));
}

LS_EXPORT void *tc_valloc(size_t n)
{
	TICKED(n, tc.valloc(n), slow_memalign(LS_API_TC_VALLOC, LS_PAGE, n));
}

LS_EXPORT void *tc_pvalloc(size_t n)
{
	TICKED(n, tc.pvalloc(n), slow_memalign(LS_API_TC_PVALLOC, LS_PAGE, n));
}

LS_EXPORT void *tc_new(size_t n)
{
	TICKED(n, tc.new_(n), slow_new(LS_API_TC_NEW, n, 0, NULL));
}

LS_EXPORT void *tc_newarray(size_t n)
{
	TICKED(n, tc.newarray(n), slow_new(LS_API_TC_NEWARRAY, n, 0, NULL));
}

LS_EXPORT void *tc_new_nothrow(size_t n, const void *nt)
{
	TICKED(n, tc.new_nothrow(n, nt), slow_new(LS_API_TC_NEW_NOTHROW, n, 0, nt));
}

LS_EXPORT void *tc_newarray_nothrow(size_t n, const void *nt)
{
	TICKED(n, tc.newarray_nothrow(n, nt), slow_new(LS_API_TC_NEWARRAY_NOTHROW, n, 0, nt));
}

LS_EXPORT void *tc_new_aligned(size_t n, size_t al)
{
	TICKED(n, tc.new_aligned(n, al), slow_new(LS_API_TC_NEW_ALIGNED, n, al, NULL));
}

LS_EXPORT void *tc_newarray_aligned(size_t n, size_t al)
{
	TICKED(n, tc.newarray_aligned(n, al), slow_new(LS_API_TC_NEWARRAY_ALIGNED, n, al, NULL));
}

LS_EXPORT void *tc_new_aligned_nothrow(size_t n, size_t al, const void *nt)
{
	TICKED(n, tc.new_aligned_nothrow(n, al, nt), slow_new(LS_API_TC_NEW_ALIGNED_NOTHROW, n, al, nt));
}

LS_EXPORT void *tc_newarray_aligned_nothrow(size_t n, size_t al, const void *nt)
{
	TICKED(n, tc.newarray_aligned_nothrow(n, al, nt),
	       slow_new(LS_API_TC_NEWARRAY_ALIGNED_NOTHROW, n, al, nt));
}

/* Every call that frees: a sampled block goes back to the arena. */
#define FREES(call) \
	do { ready(); if (unlikely(ls_arena_owns(p))) return ls_sample_free(p); call; } while (0)

LS_EXPORT void tc_free(void *p) { FREES(tc.free(p)); }
LS_EXPORT void tc_cfree(void *p) { FREES(tc.cfree(p)); }
LS_EXPORT void tc_free_sized(void *p, size_t n) { FREES(tc.free_sized(p, n)); }
LS_EXPORT void tc_delete(void *p) { FREES(tc.delete_(p)); }
LS_EXPORT void tc_deletearray(void *p) { FREES(tc.deletearray(p)); }
LS_EXPORT void tc_delete_sized(void *p, size_t n) { FREES(tc.delete_sized(p, n)); }
LS_EXPORT void tc_deletearray_sized(void *p, size_t n) { FREES(tc.deletearray_sized(p, n)); }
LS_EXPORT void tc_delete_aligned(void *p, size_t al) { FREES(tc.delete_aligned(p, al)); }
LS_EXPORT void tc_deletearray_aligned(void *p, size_t al) { FREES(tc.deletearray_aligned(p, al)); }
LS_EXPORT void tc_delete_sized_aligned(void *p, size_t n, size_t al)
{
	FREES(tc.delete_sized_aligned(p, n, al));
}
LS_EXPORT void tc_deletearray_sized_aligned(void *p, size_t n, size_t al)
{
	FREES(tc.deletearray_sized_aligned(p, n, al));
}
LS_EXPORT void tc_delete_nothrow(void *p, const void *nt) { FREES(tc.delete_nothrow(p, nt)); }
LS_EXPORT void tc_deletearray_nothrow(void *p, const void *nt) { FREES(tc.deletearray_nothrow(p, nt)); }
LS_EXPORT void tc_delete_aligned_nothrow(void *p, size_t al, const void *nt)
{
	FREES(tc.delete_aligned_nothrow(p, al, nt));
}
LS_EXPORT void tc_deletearray_aligned_nothrow(void *p, size_t al, const void *nt)
{
	FREES(tc.deletearray_aligned_nothrow(p, al, nt));
}

/* The sizes and ownership of a block: ours for a sampled one. */
LS_EXPORT size_t tc_malloc_size(void *p)
{
	ready();
	return ls_arena_owns(p) ? ls_sample_usable(p) : tc.malloc_size(p);
}

LS_EXPORT size_t malloc_size(void *p)
{
	ready();
	return ls_arena_owns(p) ? ls_sample_usable(p) : tc.bsd_malloc_size(p);
}

LS_EXPORT size_t MallocExtension_GetAllocatedSize(const void *p)
{
	ready();
	return ls_arena_owns(p) ? ls_sample_usable((void *)p) : tc.ext_allocated_size(p);
}

/* A sampled block belongs to the malloc the program uses: free() takes it. */
LS_EXPORT int MallocExtension_GetOwnership(const void *p)
{
	ready();
	return ls_arena_owns(p) ? 1 /* kOwned */ : tc.ext_ownership(p);
}

size_t ls_tc_method_size(void *self, const void *p)
	__asm__("_ZN22TCMallocImplementation16GetAllocatedSizeEPKv") LS_EXPORT;
int ls_tc_method_ownership(void *self, const void *p)
	__asm__("_ZN22TCMallocImplementation12GetOwnershipEPKv") LS_EXPORT;

size_t ls_tc_method_size(void *self, const void *p)
{
	ready();
	return ls_arena_owns(p) ? ls_sample_usable((void *)p) : tc.method_allocated_size(self, p);
}

int ls_tc_method_ownership(void *self, const void *p)
{
	ready();
	return ls_arena_owns(p) ? 1 : tc.method_ownership(self, p);
}
