/* SPDX-License-Identifier: MIT */
/* preload/cxx.c: C++ operator new and delete, every form, interposed
 * whichever library defines them (libstdc++ over glibc, jemalloc,
 * tcmalloc), and our own implementation of libstdc++'s over ls_real. The
 * hot paths, shaped like hooks.c's: one tick or one range compare, then
 * a jump through ls_cxx (cxx_next.c says what it holds); built like
 * hooks.c, without a frame of their own. */
#include "internal.h"

static bool pow2(size_t v)
{
	return v && !(v & (v - 1));
}

/* ---- our implementations over ls_real (libstdc++'s semantics) ------ */

static void *std_new(size_t n)
{
	void *p = ls_real.malloc(n ? n : 1);

	if (likely(p))
		return p;
	return ls_cxx_failed(LS_API_NEW, n, 0, NULL);
}

static void *std_new_array(size_t n)
{
	void *p = ls_real.malloc(n ? n : 1);

	if (likely(p))
		return p;
	return ls_cxx_failed(LS_API_NEW_ARRAY, n, 0, NULL);
}

static void *std_new_nt(size_t n, const void *nt)
{
	void *p = ls_real.malloc(n ? n : 1);

	if (likely(p))
		return p;
	return ls_cxx_failed(LS_API_NEW_NOTHROW, n, 0, nt);
}

static void *std_new_array_nt(size_t n, const void *nt)
{
	void *p = ls_real.malloc(n ? n : 1);

	if (likely(p))
		return p;
	return ls_cxx_failed(LS_API_NEW_ARRAY_NOTHROW, n, 0, nt);
}

/* aligned_alloc wants a multiple of the alignment, as libstdc++ rounds. */
static inline void *std_aligned(unsigned api, size_t n, size_t al, const void *nt)
{
	size_t r;

	if (likely(pow2(al)) && !__builtin_add_overflow(n ? n : 1, al - 1, &r)) {
		void *p = ls_real.aligned_alloc(al, r & ~(al - 1));
		if (likely(p))
			return p;
	}
	return ls_cxx_failed(api, n, al, nt);
}

static void *std_new_al(size_t n, size_t al)
{
	return std_aligned(LS_API_NEW_ALIGNED, n, al, NULL);
}

static void *std_new_array_al(size_t n, size_t al)
{
	return std_aligned(LS_API_NEW_ARRAY_ALIGNED, n, al, NULL);
}

static void *std_new_al_nt(size_t n, size_t al, const void *nt)
{
	return std_aligned(LS_API_NEW_ALIGNED_NOTHROW, n, al, nt);
}

static void *std_new_array_al_nt(size_t n, size_t al, const void *nt)
{
	return std_aligned(LS_API_NEW_ARRAY_ALIGNED_NOTHROW, n, al, nt);
}

/* Every delete of libstdc++ is free(). Until resolution these wrappers
 * stand in; after it, ls_cxx points at ls_real.free itself, called with
 * the form's extra arguments, which free ignores (the x86_64 and aarch64
 * calling conventions pass them in registers the callee never reads). */
static void std_delete(void *p)
{
	ls_real.free(p);
}

static void std_delete_1(void *p, size_t a)
{
	(void)a;
	ls_real.free(p);
}

static void std_delete_2(void *p, size_t a, size_t b)
{
	(void)a, (void)b;
	ls_real.free(p);
}

static void std_delete_nt(void *p, const void *nt)
{
	(void)nt;
	ls_real.free(p);
}

static void std_delete_al_nt(void *p, size_t al, const void *nt)
{
	(void)al, (void)nt;
	ls_real.free(p);
}

struct ls_cxx_fns ls_cxx = {
	.nw = std_new, .na = std_new_array, .nw_nt = std_new_nt, .na_nt = std_new_array_nt,
	.nw_al = std_new_al, .na_al = std_new_array_al,
	.nw_al_nt = std_new_al_nt, .na_al_nt = std_new_array_al_nt,
	.dl = std_delete, .da = std_delete,
	.dl_sz = std_delete_1, .da_sz = std_delete_1,
	.dl_al = std_delete_1, .da_al = std_delete_1,
	.dl_sz_al = std_delete_2, .da_sz_al = std_delete_2,
	.dl_nt = std_delete_nt, .da_nt = std_delete_nt,
	.dl_al_nt = std_delete_al_nt, .da_al_nt = std_delete_al_nt,
};

/* Exported under their mangled names; the C names follow our prefix. */
#define LS_OP(name) __asm__(name) LS_EXPORT

void *ls_op_new(size_t n) LS_OP("_Znwm");
void *ls_op_new_array(size_t n) LS_OP("_Znam");
void *ls_op_new_nt(size_t n, const void *nt) LS_OP("_ZnwmRKSt9nothrow_t");
void *ls_op_new_array_nt(size_t n, const void *nt) LS_OP("_ZnamRKSt9nothrow_t");
void *ls_op_new_al(size_t n, size_t al) LS_OP("_ZnwmSt11align_val_t");
void *ls_op_new_array_al(size_t n, size_t al) LS_OP("_ZnamSt11align_val_t");
void *ls_op_new_al_nt(size_t n, size_t al, const void *nt) LS_OP("_ZnwmSt11align_val_tRKSt9nothrow_t");
void *ls_op_new_array_al_nt(size_t n, size_t al, const void *nt)
	LS_OP("_ZnamSt11align_val_tRKSt9nothrow_t");
void ls_op_delete(void *p) LS_OP("_ZdlPv");
void ls_op_delete_array(void *p) LS_OP("_ZdaPv");
void ls_op_delete_sz(void *p, size_t n) LS_OP("_ZdlPvm");
void ls_op_delete_array_sz(void *p, size_t n) LS_OP("_ZdaPvm");
void ls_op_delete_al(void *p, size_t al) LS_OP("_ZdlPvSt11align_val_t");
void ls_op_delete_array_al(void *p, size_t al) LS_OP("_ZdaPvSt11align_val_t");
void ls_op_delete_sz_al(void *p, size_t n, size_t al) LS_OP("_ZdlPvmSt11align_val_t");
void ls_op_delete_array_sz_al(void *p, size_t n, size_t al) LS_OP("_ZdaPvmSt11align_val_t");
void ls_op_delete_nt(void *p, const void *nt) LS_OP("_ZdlPvRKSt9nothrow_t");
void ls_op_delete_array_nt(void *p, const void *nt) LS_OP("_ZdaPvRKSt9nothrow_t");
void ls_op_delete_al_nt(void *p, size_t al, const void *nt) LS_OP("_ZdlPvSt11align_val_tRKSt9nothrow_t");
void ls_op_delete_array_al_nt(void *p, size_t al, const void *nt)
	LS_OP("_ZdaPvSt11align_val_tRKSt9nothrow_t");

void *ls_op_new(size_t n)
{
	if (unlikely(ls_sample_tick(n)))
		return ls_cxx_slow(LS_API_NEW, n, 0, NULL);
	return ls_cxx.nw(n);
}

void *ls_op_new_array(size_t n)
{
	if (unlikely(ls_sample_tick(n)))
		return ls_cxx_slow(LS_API_NEW_ARRAY, n, 0, NULL);
	return ls_cxx.na(n);
}

void *ls_op_new_nt(size_t n, const void *nt)
{
	if (unlikely(ls_sample_tick(n)))
		return ls_cxx_slow(LS_API_NEW_NOTHROW, n, 0, nt);
	return ls_cxx.nw_nt(n, nt);
}

void *ls_op_new_array_nt(size_t n, const void *nt)
{
	if (unlikely(ls_sample_tick(n)))
		return ls_cxx_slow(LS_API_NEW_ARRAY_NOTHROW, n, 0, nt);
	return ls_cxx.na_nt(n, nt);
}

void *ls_op_new_al(size_t n, size_t al)
{
	if (unlikely(ls_sample_tick(n)))
		return ls_cxx_slow(LS_API_NEW_ALIGNED, n, al, NULL);
	return ls_cxx.nw_al(n, al);
}

void *ls_op_new_array_al(size_t n, size_t al)
{
	if (unlikely(ls_sample_tick(n)))
		return ls_cxx_slow(LS_API_NEW_ARRAY_ALIGNED, n, al, NULL);
	return ls_cxx.na_al(n, al);
}

void *ls_op_new_al_nt(size_t n, size_t al, const void *nt)
{
	if (unlikely(ls_sample_tick(n)))
		return ls_cxx_slow(LS_API_NEW_ALIGNED_NOTHROW, n, al, nt);
	return ls_cxx.nw_al_nt(n, al, nt);
}

void *ls_op_new_array_al_nt(size_t n, size_t al, const void *nt)
{
	if (unlikely(ls_sample_tick(n)))
		return ls_cxx_slow(LS_API_NEW_ARRAY_ALIGNED_NOTHROW, n, al, nt);
	return ls_cxx.na_al_nt(n, al, nt);
}

/* A sampled block goes back to the arena whatever the form's size or
 * alignment says: the slot knows its own. */
void ls_op_delete(void *p)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_cxx.dl(p);
}

void ls_op_delete_array(void *p)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_cxx.da(p);
}

void ls_op_delete_sz(void *p, size_t n)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_cxx.dl_sz(p, n);
}

void ls_op_delete_array_sz(void *p, size_t n)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_cxx.da_sz(p, n);
}

void ls_op_delete_al(void *p, size_t al)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_cxx.dl_al(p, al);
}

void ls_op_delete_array_al(void *p, size_t al)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_cxx.da_al(p, al);
}

void ls_op_delete_sz_al(void *p, size_t n, size_t al)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_cxx.dl_sz_al(p, n, al);
}

void ls_op_delete_array_sz_al(void *p, size_t n, size_t al)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_cxx.da_sz_al(p, n, al);
}

void ls_op_delete_nt(void *p, const void *nt)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_cxx.dl_nt(p, nt);
}

void ls_op_delete_array_nt(void *p, const void *nt)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_cxx.da_nt(p, nt);
}

void ls_op_delete_al_nt(void *p, size_t al, const void *nt)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_cxx.dl_al_nt(p, al, nt);
}

void ls_op_delete_array_al_nt(void *p, size_t al, const void *nt)
{
	if (unlikely(ls_arena_owns(p)))
		return ls_sample_free(p);
	ls_cxx.da_al_nt(p, al, nt);
}
