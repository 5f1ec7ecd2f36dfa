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

void ls_cxx_resolve(void)
{
	void **fast = (void **)&ls_cxx, **nx = (void **)&next;

	for (unsigned i = 0; i < NOPS; i++) {
		void *f = dlsym(RTLD_NEXT, op_names[i]);
		nx[i] = f;
		if (f && ls_real_same_object(f))
			fast[i] = f;
		else if (i >= FIRST_DELETE)
			fast[i] = (void *)ls_real.free;
	}
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

	if (ls_sample_due(&ls_tls) && (al == 0 || pow2(al))) {
		void *p = ls_sample_take(n, n ? n : 1, al, api, &dropped);
		if (p)
			return p;
	}
	void *q = ls_cxx_call(api, n, al, nt);
	if (q && dropped)
		ls_window_count_dropped();
	return q;
}

