/* SPDX-License-Identifier: MIT */
/* preload/cxx_next.c: the next definitions of C++ operator new and
 * delete, what ls_cxx holds, and operator new's slow paths (sampling, and
 * failure: new_handler and std::bad_alloc).
 *
 * An allocation must be ticked once. libstdc++'s operators call malloc,
 * aligned_alloc and free by name, which would land in our hooks and tick
 * again, so over libstdc++ (any next operator outside the malloc's own
 * object) ls_cxx holds our own implementations of the same operators over
 * ls_real; jemalloc's and tcmalloc's operators never call our malloc, so
 * over them ls_cxx holds the next operator itself. Failure semantics are
 * the next operator's: when our allocation fails it is called, and it
 * runs the new_handler loop and throws std::bad_alloc (or returns NULL
 * for nothrow); our frames have unwind tables (-fexceptions). */
#include "internal.h"

#include <dlfcn.h>
#include <stdlib.h>

static bool pow2(size_t v)
{
	return v && !(v & (v - 1));
}

/* ---- the next definitions, for failures ---------------------------- */

/* In the field order of struct ls_cxx_fns. */
static const char *const op_names[] = {
	"_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
	"_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
	"_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
	"_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm",
	"_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t",
	"_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
	"_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
	"_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
};
#define NOPS (sizeof(op_names) / sizeof(op_names[0]))
#define FIRST_DELETE 8
_Static_assert(sizeof(struct ls_cxx_fns) == NOPS * sizeof(void *), "one name per operator");

/* The next definition of each operator; NULL when there is none (a C
 * program that has not loaded a C++ runtime). */
static struct ls_cxx_fns next;

static void *next_op(unsigned i)
{
	void **slots = (void **)&next;

	if (!slots[i])
		slots[i] = dlsym(RTLD_NEXT, op_names[i]); /* a runtime loaded later */
	return slots[i];
}

static bool is_nothrow(unsigned api)
{
	return api == LS_API_NEW_NOTHROW || api == LS_API_NEW_ARRAY_NOTHROW ||
	       api == LS_API_NEW_ALIGNED_NOTHROW || api == LS_API_NEW_ARRAY_ALIGNED_NOTHROW;
}

/* Our own allocation failed (or was invalid): the next operator new of
 * the same form decides, with the new_handler loop and bad_alloc. With no
 * C++ runtime at all there is nobody to throw for: nothrow gives NULL,
 * the others terminate as new does without exceptions. */
LS_COLD void *ls_cxx_failed(unsigned api, size_t n, size_t al, const void *nt)
{
	void *f = next_op(api - LS_API_NEW);

	if (!f) {
		if (is_nothrow(api))
			return NULL;
		ls_log("operator new(%zu) failed and no C++ runtime is loaded: aborting", n);
		abort();
	}
	switch (api) {
	case LS_API_NEW:
	case LS_API_NEW_ARRAY:
		return ((void *(*)(size_t))f)(n);
	case LS_API_NEW_NOTHROW:
	case LS_API_NEW_ARRAY_NOTHROW:
		return ((void *(*)(size_t, const void *))f)(n, nt);
	case LS_API_NEW_ALIGNED:
	case LS_API_NEW_ARRAY_ALIGNED:
		return ((void *(*)(size_t, size_t))f)(n, al);
	default:
		return ((void *(*)(size_t, size_t, const void *))f)(n, al, nt);
	}
}

/* ---- which next operators may be called directly -------------------- */

/* A next operator in the malloc's own object is jumped to only if it
 * never calls back into our malloc-family hooks (jemalloc 5.3's aligned
 * new calls aligned_alloc by name, its plain new does not): else an
 * allocation would tick twice. Found by calling it once, with ls_real
 * swapped for counting wrappers. A call another thread makes meanwhile
 * can only make an operator look calling-back, which picks our own
 * implementation: correct, one jump slower. */
static struct ls_real_fns saved;
static _Atomic unsigned calls;

static void *c_malloc(size_t n) { calls++; return saved.malloc(n); }
static void c_free(void *p) { calls++; saved.free(p); }
static void *c_calloc(size_t n, size_t m) { calls++; return saved.calloc(n, m); }
static void *c_realloc(void *p, size_t n) { calls++; return saved.realloc(p, n); }
static int c_posix_memalign(void **o, size_t a, size_t n) { calls++; return saved.posix_memalign(o, a, n); }
static void *c_aligned_alloc(size_t a, size_t n) { calls++; return saved.aligned_alloc(a, n); }
static void *c_memalign(size_t a, size_t n) { calls++; return saved.memalign(a, n); }
static void *c_valloc(size_t n) { calls++; return saved.valloc(n); }
static void *c_pvalloc(size_t n) { calls++; return saved.pvalloc(n); }
static size_t c_usable(void *p) { return saved.malloc_usable_size(p); }

static const struct ls_real_fns counting = {
	c_malloc, c_free, c_calloc, c_realloc, c_posix_memalign, c_aligned_alloc, c_memalign,
	c_valloc, c_pvalloc, c_usable,
};

#define PROBE_SIZE 64
static const char probe_nt; /* a nothrow_t is empty: any address does */

static void *call_next_new(unsigned i)
{
	void *f = ((void **)&next)[i];

	switch (i) {
	case 0: case 1: return ((void *(*)(size_t))f)(PROBE_SIZE);
	case 2: case 3: return ((void *(*)(size_t, const void *))f)(PROBE_SIZE, &probe_nt);
	case 4: case 5: return ((void *(*)(size_t, size_t))f)(PROBE_SIZE, PROBE_SIZE);
	default: return ((void *(*)(size_t, size_t, const void *))f)(PROBE_SIZE, PROBE_SIZE, &probe_nt);
	}
}

/* The new form whose block each delete form (from FIRST_DELETE) takes. */
static const unsigned char delete_takes[NOPS - FIRST_DELETE] = { 0, 1, 0, 1, 4, 5, 4, 5, 0, 1, 4, 5 };

static void call_next_delete(unsigned i, void *p)
{
	void *f = ((void **)&next)[i];

	switch ((i - FIRST_DELETE) / 2) {
	case 0: ((void (*)(void *))f)(p); break;
	case 1: case 2: ((void (*)(void *, size_t))f)(p, PROBE_SIZE); break;
	case 3: ((void (*)(void *, size_t, size_t))f)(p, PROBE_SIZE, PROBE_SIZE); break;
	case 4: ((void (*)(void *, const void *))f)(p, &probe_nt); break;
	default: ((void (*)(void *, size_t, const void *))f)(p, PROBE_SIZE, &probe_nt); break;
	}
}

/* The delete form that frees a block of each new form. */
static const unsigned char new_freed_by[FIRST_DELETE] = { 8, 9, 16, 17, 12, 13, 18, 19 };

/* Frees a probe block of new form nw with its own delete (a sanitizer's
 * runtime tells new from malloc). */
static void free_probe(unsigned nw, void *p)
{
	unsigned d = new_freed_by[nw];

	if (((void **)&next)[d])
		call_next_delete(d, p);
	else
		saved.free(p);
}

/* True when operator i reaches our hooks. Its new is called twice, the
 * first time uncounted (an allocator may allocate while it initializes). */
static bool calls_back(unsigned i)
{
	unsigned nw = i < FIRST_DELETE ? i : delete_takes[i - FIRST_DELETE];
	void *p = call_next_new(nw);

	if (!p || !((void **)&next)[nw])
		return true;
	if (i < FIRST_DELETE) {
		free_probe(i, p);
		calls = 0;
		p = call_next_new(i);
		bool back = calls != 0;
		free_probe(i, p);
		return back;
	}
	calls = 0;
	call_next_delete(i, p);
	return calls != 0;
}

void ls_cxx_resolve(void)
{
	void **fast = (void **)&ls_cxx, **nx = (void **)&next;
	bool same[NOPS];
	/* Every C++ runtime or allocator that defines one operator new or
	 * delete defines these two; a C program (most exec'd children) then
	 * skips 18 lookups that would each search every library. */
	bool any = dlsym(RTLD_NEXT, "_Znwm") || dlsym(RTLD_NEXT, "_ZdlPv");

	for (unsigned i = 0; i < NOPS; i++) {
		nx[i] = any ? dlsym(RTLD_NEXT, op_names[i]) : NULL;
		same[i] = nx[i] && ls_real_same_object(nx[i]);
	}
	saved = ls_real;
	ls_real = counting;
	for (unsigned i = 0; i < NOPS; i++) {
		bool nw_ok = i < FIRST_DELETE || same[delete_takes[i - FIRST_DELETE]];
		if (same[i] && nw_ok && !calls_back(i))
			fast[i] = nx[i];
		else if (i >= FIRST_DELETE)
			fast[i] = (void *)saved.free;
	}
	ls_real = saved;
}

/* ---- the slow path -------------------------------------------------- */

void *ls_cxx_call(unsigned api, size_t n, size_t al, const void *nt)
{
	switch (api) {
	case LS_API_NEW: return ls_cxx.nw(n);
	case LS_API_NEW_ARRAY: return ls_cxx.na(n);
	case LS_API_NEW_NOTHROW: return ls_cxx.nw_nt(n, nt);
	case LS_API_NEW_ARRAY_NOTHROW: return ls_cxx.na_nt(n, nt);
	case LS_API_NEW_ALIGNED: return ls_cxx.nw_al(n, al);
	case LS_API_NEW_ARRAY_ALIGNED: return ls_cxx.na_al(n, al);
	case LS_API_NEW_ALIGNED_NOTHROW: return ls_cxx.nw_al_nt(n, al, nt);
	default: return ls_cxx.na_al_nt(n, al, nt);
	}
}

void *ls_cxx_slow(unsigned api, size_t n, size_t al, const void *nt)
{
	bool dropped = false;

	if (ls_sample_due(&ls_tls, n) && (al == 0 || pow2(al))) {
		void *p = ls_sample_take(n, n ? n : 1, al, api, &dropped);
		if (p)
			return p;
	}
	void *q = ls_cxx_call(api, n, al, nt);
	if (q && dropped)
		ls_window_count_dropped(ls_tls.drop_why);
	return q;
}

