/* SPDX-License-Identifier: MIT */
/* preload/sampler.c: the slow path. Decides when a thread samples (a
 * geometric gap with mean N), captures the stack before taking any lock,
 * and places sampled blocks in the arena with their record. */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

__thread struct ls_tls ls_tls LS_TLS;
_Atomic uint32_t ls_state;

static _Atomic uint64_t invalid_frees;

/* ---- the sampling decision ----------------------------------------- */

static uint64_t rng_next(struct ls_tls *t)
{
	uint64_t x = t->rng;

	if (unlikely(x == 0)) {
		/* splitmix64 of the clock and this thread's TLS address */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
		    (uint64_t)(uintptr_t)t ^ ((uint64_t)getpid() << 16);
		x += 0x9e3779b97f4a7c15ull;
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
		x ^= x >> 31;
		if (!x)
			x = 1;
	}
	/* xorshift64* */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Each allocation is sampled with probability p = 1/N, independently, so
 * the gap between samples is geometric: P(gap = k) = (1-p)^(k-1) p, with
 * mean N. Inverting its distribution, gap = 1 + floor(ln U / ln(1-p)) for
 * U uniform in (0, 1]. A fixed period would alias with allocation
 * patterns of the same period; this draw cannot, and it keeps
 * est_count = count * N unbiased. log1m is ln(1-p), computed once per
 * window. */
int64_t ls_sample_gap(struct ls_tls *t, uint64_t n, double log1m)
{
	if (n <= 1)
		return 1;
	double u = (double)((rng_next(t) >> 11) + 1) * 0x1.0p-53;
	double g = floor(log(u) / log1m);
	if (!(g < 4e18))
		g = 4e18;
	return 1 + (int64_t)g;
}

static uint64_t coarse_ns(void);

/* ---- a task deferred to the allocation path --------------------------- */

/* An exec'd child starts its control thread only once it has lived
 * PENDING's delay: a thread costs about 0.1 ms at start and exit, too
 * much for /bin/true or a CGI script. With ls_state at LS_STATE_PENDING
 * every thread counts down PENDING_TICK allocations on the hooks' fast
 * path (as in a window), then looks at the clock here. */
#define PENDING_TICK 256
static uint64_t pending_at;
static void (*pending_fn)(void);

void ls_sample_pending(uint64_t delay_ns, void (*fn)(void))
{
	pending_at = coarse_ns() + delay_ns;
	pending_fn = fn;
	atomic_store_explicit(&ls_state, LS_STATE_PENDING, memory_order_release);
}

bool ls_sample_pending_take(void)
{
	uint32_t p = LS_STATE_PENDING;
	return atomic_compare_exchange_strong(&ls_state, &p, 0);
}

void ls_sample_pending_fire(void)
{
	if (ls_sample_pending_take() && pending_fn) {
		ls_guard_enter();
		pending_fn();
		ls_guard_leave();
	}
}

static void pending_tick(struct ls_tls *t)
{
	t->epoch = LS_STATE_PENDING;
	t->countdown = PENDING_TICK;
	t->unit_mask = 0;
	t->unit_one = 1;
	if (coarse_ns() >= pending_at)
		ls_sample_pending_fire();
}

/* A byte-sampled window samples bytes as the points of a Poisson process
 * of rate 1/B: the distance to the next point is exponential, mean B,
 * so the countdown is -B ln U for U uniform in (0, 1]. An allocation of
 * s bytes holds a point, and is sampled, with probability 1 - exp(-s/B)
 * (docs/weights.md). The process is memoryless, so after a sample the
 * next distance is drawn afresh from the end of that allocation, and
 * the overshoot is dropped. */
static int64_t byte_gap(struct ls_tls *t, uint64_t b)
{
	double u = (double)((rng_next(t) >> 11) + 1) * 0x1.0p-53;
	double g = ceil(-log(u) * (double)b);
	if (!(g < 4e18))
		g = 4e18;
	return g < 1 ? 1 : (int64_t)g;
}

bool ls_sample_due(struct ls_tls *t, size_t size)
{
	uint64_t n;
	double log1m;
	bool bytes;

	if (t->guard)
		return false;
	uint32_t s = atomic_load_explicit(&ls_state, memory_order_acquire);
	if (s == 0)
		return false;
	if (unlikely(s == LS_STATE_PENDING)) {
		pending_tick(t);
		return false;
	}
	ls_window_params(&n, &log1m, &bytes);
	if (bytes) {
		if (t->epoch != s) {
			/* First allocation of this thread in the window: a
			 * fresh distance, which this one may already cross
			 * (the fast path did not subtract it). */
			t->epoch = s;
			t->unit_mask = ~(uint64_t)0;
			t->unit_one = 0;
			t->countdown = byte_gap(t, n) - (int64_t)size;
			if (t->countdown > 0)
				return false;
		}
		t->countdown = byte_gap(t, n);
		return size > 0;
	}
	if (t->epoch != s) {
		/* First allocation of this thread in the window: it starts a
		 * fresh gap, and is sampled only if that gap is 1. */
		t->epoch = s;
		t->unit_mask = 0;
		t->unit_one = 1;
		int64_t g = ls_sample_gap(t, n, log1m);
		if (g > 1) {
			t->countdown = g - 1;
			return false;
		}
	}
	t->countdown = ls_sample_gap(t, n, log1m);
	return true;
}

/* ---- sampled allocation -------------------------------------------- */

/* Frees that arrive while this thread runs leakscope's own code: a signal
 * handler that frees a sampled block while its thread holds one of our
 * locks. Taking the lock again would deadlock, so the block goes on a
 * lock-free list, linked through its own first bytes, and a later free or
 * sample on any thread releases it. */
static _Atomic(void *) deferred;

static void defer_free(void *p)
{
	void *head = atomic_load_explicit(&deferred, memory_order_relaxed);
	do
		*(void **)p = head;
	while (!atomic_compare_exchange_weak_explicit(&deferred, &head, p, memory_order_release,
						      memory_order_relaxed));
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The record's writer is the block's owner, so its seqlock needs ordered
 * stores, not locked instructions. The sequence starts even: a double
 * free racing on the same record can leave it odd. */
static uint32_t rec_write_begin(struct ls_rec *r)
{
	uint32_t s = (atomic_load_explicit(&r->seq, memory_order_relaxed) + 1) | 1;
	atomic_store_explicit(&r->seq, s, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	return s;
}

static void rec_write_end(struct ls_rec *r, uint32_t s)
{
	atomic_store_explicit(&r->seq, s + 1, memory_order_release);
}

static void rec_publish(struct ls_rec *r, uint32_t gen, uint64_t size, struct ls_stack *st,
			uint64_t t_ns)
{
	uint32_t s = rec_write_begin(r);
	ls_wr(r->size, size);
	ls_wr(r->t_ns, t_ns);
	ls_wr(r->stack, st);
	atomic_store_explicit(&r->gen, gen, memory_order_relaxed);
	rec_write_end(r, s);
}

/* Tracks a new sampled block. NULL when it cannot; *dropped says whether
 * that is a loss to report (false when the window closed meanwhile).
 * Inlined into ls_sample_alloc: each frame of ours costs an unwind step. */
static inline __attribute__((always_inline)) void *
track(size_t size, size_t room, size_t align, unsigned api, uint32_t gen, bool *dropped)
{
	void *buf[LS_MAX_FRAMES_CAP + LS_UNWIND_SLACK];
	struct ls_slot slot;
	struct ls_stack_key key;
	struct ls_stack *st;
	bool is_new;
	unsigned n;

	*dropped = true;
	if (room >= ((uint64_t)1 << 40) || align > LS_CHUNK) {
		ls_tls.drop_why = align > LS_CHUNK ? LS_DROP_ALIGNMENT : LS_DROP_TOO_LARGE;
		return NULL;
	}
	/* Unwind first: no lock of ours may be held inside libunwind. */
	void **frames = ls_unwind(buf, ls_cfg.max_frames, &n);
	void *p = ls_arena_alloc(room, align, &slot);
	if (!p)
		return NULL;
	ls_stack_hash(frames, n, api, &key);
	int rc = ls_stack_intern(frames, n, api, &key, gen, &st, &is_new);
	if (rc < 0) {
		ls_tls.drop_why = LS_DROP_MEMORY_CAP;
		*dropped = rc != -ESTALE;
		ls_arena_free_slot(&slot);
		return NULL;
	}
	if (unlikely(is_new))
		ls_modules_cover(frames, n);
	uint64_t t_ns = coarse_ns();
	rec_publish(slot.rec, gen, size, st, t_ns);
	ls_series_event(ls_stack_series(st), gen, size, t_ns, false);
	return p;
}

static void *real_alloc(size_t size, size_t align, bool zero)
{
	if (align > 16)
		return ls_real.memalign(align, size);
	return zero ? ls_real.calloc(1, size) : ls_real.malloc(size);
}

void *ls_sample_take(size_t size, size_t room, size_t align, unsigned api, bool *dropped)
{
	uint32_t gen = atomic_load_explicit(&ls_state, memory_order_acquire);
	void *p = NULL;

	*dropped = false;
	if (unlikely(atomic_load_explicit(&deferred, memory_order_relaxed)) && !ls_tls.guard)
		ls_sample_drain();
	if (gen) {
		ls_tls.drop_why = LS_DROP_ARENA_FULL;
		ls_guard_enter();
		p = track(size, room < size ? size : room, align, api, gen, dropped);
		ls_guard_leave();
	}
	return p;
}

void *ls_sample_alloc(size_t size, size_t align, unsigned api)
{
	bool zero = api == LS_API_CALLOC || api == LS_API_TC_CALLOC;
	bool dropped;
	void *p = ls_sample_take(size, size, align, api, &dropped);

	if (p) {
		if (zero)
			memset(p, 0, size);
		return p;
	}
	void *q = real_alloc(size, align, zero);
	if (q && dropped)
		ls_window_count_dropped(ls_tls.drop_why);
	return q;
}

/* ---- free, realloc, usable size ------------------------------------ */

static LS_COLD void invalid_free(void *p)
{
	if (atomic_fetch_add(&invalid_frees, 1) == 0)
		ls_log("ignoring free of %p: not a live sampled block (double free?); "
		       "further ones are only counted", p);
}

uint64_t ls_sample_invalid_frees(void)
{
	return atomic_load(&invalid_frees);
}

/* Untracks and releases the live block p in slot sl. The caller has the
 * guard set and holds none of our locks. */
static void release_block(void *p, const struct ls_slot *sl)
{
	struct ls_rec *r = sl->rec;

	/* The exchange decides between two frees of the same block. */
	uint32_t s = rec_write_begin(r);
	uint32_t gen = atomic_exchange_explicit(&r->gen, 0, memory_order_relaxed);
	rec_write_end(r, s);
	if (!gen) {
		invalid_free(p); /* lost a race with another free of p */
		return;
	}
	/* The winner owns the record: its stack and size are this block's.
	 * A block of a closed window counts nowhere (ls_series_event). */
	struct ls_stack *st = ls_rd(r->stack);
	if (gen == atomic_load_explicit(&ls_state, memory_order_relaxed) && st)
		ls_series_event(ls_stack_series(st), gen, ls_rd(r->size), coarse_ns(), true);
	ls_arena_free_slot(sl);
}

void ls_sample_drain(void)
{
	void *p = atomic_exchange_explicit(&deferred, NULL, memory_order_acquire);

	ls_guard_enter();
	while (p) {
		void *next = *(void **)p;
		struct ls_slot sl;
		if (ls_arena_find(p, &sl))
			release_block(p, &sl);
		else
			invalid_free(p);
		p = next;
	}
	ls_guard_leave();
}

void ls_sample_free(void *p)
{
	struct ls_slot sl;

	if (unlikely(!ls_arena_find(p, &sl))) {
		if (!ls_boot_owns(p))
			invalid_free(p);
		return;
	}
	if (unlikely(ls_tls.guard)) {
		defer_free(p);
		return;
	}
	if (unlikely(atomic_load_explicit(&deferred, memory_order_relaxed)))
		ls_sample_drain();
	ls_guard_enter();
	release_block(p, &sl);
	ls_guard_leave();
}

size_t ls_sample_usable(void *p)
{
	struct ls_slot sl;

	if (ls_arena_find(p, &sl))
		return ls_arena_slot_size(&sl);
	return ls_boot_owns(p) ? ls_boot_usable(p) : 0;
}

/* realloc as a fresh allocation event: the new block is sampled or not on
 * its own, the old one (sampled or not) is copied and freed. */
static void *realloc_due(void *p, size_t size, bool due, unsigned api)
{
	if (!p)
		return due ? ls_sample_alloc(size, 0, api) : ls_real.malloc(size);
	bool owned = ls_arena_owns(p);
	if (!owned && !due)
		return ls_real.realloc(p, size);
	if (size == 0) {
		if (!owned)
			return ls_real.realloc(p, 0);
		ls_sample_free(p);
		return NULL;
	}
	size_t old = owned ? ls_sample_usable(p) : ls_real.malloc_usable_size(p);
	if (old == 0) {
		if (!owned) /* allocator cannot tell the old size */
			return ls_real.realloc(p, size);
		invalid_free(p);
		errno = EINVAL;
		return NULL;
	}
	void *q = due ? ls_sample_alloc(size, 0, api) : ls_real.malloc(size);
	if (!q)
		return NULL;
	memcpy(q, p, old < size ? old : size);
	if (owned)
		ls_sample_free(p);
	else
		ls_real.free(p);
	return q;
}

/* ---- the hooks' slow paths ------------------------------------------ */

void *ls_slow_malloc(size_t size)
{
	if (!ls_sample_due(&ls_tls, size))
		return ls_real.malloc(size);
	return ls_sample_alloc(size, 0, LS_API_MALLOC);
}

void *ls_slow_calloc(size_t n, size_t size)
{
	size_t total;

	if (!ls_sample_due(&ls_tls, n * size))
		return ls_real.calloc(n, size);
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return ls_sample_alloc(total, 0, LS_API_CALLOC);
}

void *ls_slow_realloc(void *p, size_t n, size_t elem, unsigned api, bool ticked)
{
	size_t size;
	bool due = ticked ? ls_sample_due(&ls_tls, n * elem) : ls_sample_now(n * elem);

	if (__builtin_mul_overflow(n, elem, &size)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc_due(p, size, due, api);
}

static bool pow2(size_t v)
{
	return v && !(v & (v - 1));
}

void *ls_slow_aligned(size_t align, size_t size, unsigned api)
{
	bool due = ls_sample_due(&ls_tls, size);

	switch (api) {
	case LS_API_ALIGNED_ALLOC:
		if (due && pow2(align))
			return ls_sample_alloc(size, align, api);
		return ls_real.aligned_alloc(align, size);
	case LS_API_VALLOC:
		return due ? ls_sample_alloc(size, LS_PAGE, api) : ls_real.valloc(size);
	case LS_API_PVALLOC: {
		size_t r;
		if (!due || __builtin_add_overflow(size, LS_PAGE - 1, &r))
			return ls_real.pvalloc(size);
		r &= ~(size_t)(LS_PAGE - 1);
		return ls_sample_alloc(r ? r : LS_PAGE, LS_PAGE, api);
	}
	default: /* memalign: glibc rounds a non-power-of-two alignment up */
		if (due && align <= LS_CHUNK) {
			size_t a = 1;
			while (a < align)
				a <<= 1;
			return ls_sample_alloc(size, a, api);
		}
		return ls_real.memalign(align, size);
	}
}

int ls_slow_posix_memalign(void **out, size_t align, size_t size)
{
	if (ls_sample_due(&ls_tls, size) && pow2(align) && align % sizeof(void *) == 0) {
		void *p = ls_sample_alloc(size, align, LS_API_POSIX_MEMALIGN);
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	return ls_real.posix_memalign(out, align, size);
}
