/* SPDX-License-Identifier: MIT */
/* preload/window.c: opening and closing the leak-detection window, and the
 * figures it keeps. Generations number the windows; a block records the
 * generation it was sampled in, so closing a window untracks every block
 * of it at once, without touching them. */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <time.h>

static struct {
	pthread_mutex_t lock;
	uint32_t last_gen;
	bool on;
	/* Read by sampling threads without the lock, after ls_state. */
	_Atomic uint64_t sampling;       /* N, or 0 in a byte-sampled window */
	_Atomic uint64_t sampling_bytes; /* B, or 0 in a count-sampled window */
	_Atomic double log1m;
	uint64_t start_mono, start_real;
	_Atomic uint64_t dropped;
	_Atomic uint64_t dropped_why[LS_DROP_COUNT];
} W = { .lock = PTHREAD_MUTEX_INITIALIZER };

uint64_t ls_now_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ls_now_real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int ls_window_open(bool bytes, uint64_t n)
{
	if (n < 1 || n > (bytes ? LS_SAMPLING_BYTES_MAX : LS_SAMPLING_MAX))
		return -EINVAL;
	ls_unwind_init(); /* no lock of ours held across dlopen */
	pthread_mutex_lock(&W.lock);
	if (W.on) {
		pthread_mutex_unlock(&W.lock);
		return -EALREADY;
	}
	if (++W.last_gen == 0 || W.last_gen == LS_STATE_PENDING)
		W.last_gen = 1;
	ls_wr(W.sampling, bytes ? 0 : n);
	ls_wr(W.sampling_bytes, bytes ? n : 0);
	ls_wr(W.log1m, !bytes && n > 1 ? log1p(-1.0 / (double)n) : 0.0);
	W.start_mono = ls_now_mono_ns();
	W.start_real = ls_now_real_ns();
	atomic_store(&W.dropped, 0);
	for (unsigned i = 0; i < LS_DROP_COUNT; i++)
		atomic_store(&W.dropped_why[i], 0);
	ls_modules_reset();
	ls_stacks_open(W.last_gen);
	ls_series_open(W.start_mono);
	W.on = true;
	/* Publish last: a thread that sees the new generation also sees the
	 * sampling parameters above. */
	atomic_store_explicit(&ls_state, W.last_gen, memory_order_release);
	pthread_mutex_unlock(&W.lock);
	return 0;
}

int ls_window_on(uint64_t n)
{
	return ls_window_open(false, n);
}

/* Fills info from W; caller holds W.lock. */
static void fill_info(struct ls_window_info *info)
{
	struct ls_stack_totals t;

	info->on = W.on;
	info->gen = W.on ? W.last_gen : 0;
	info->sampling = ls_rd(W.sampling);
	info->sampling_bytes = ls_rd(W.sampling_bytes);
	info->start_mono_ns = W.start_mono;
	info->start_real_ns = W.start_real;
	info->end_mono_ns = ls_now_mono_ns();
	info->dropped = atomic_load(&W.dropped);
	ls_stacks_totals(&t);
	info->sampled = t.sampled;
	info->stacks = t.stacks;
}

int ls_window_off(struct ls_window_info *info)
{
	pthread_mutex_lock(&W.lock);
	if (!W.on) {
		pthread_mutex_unlock(&W.lock);
		return -ENOENT;
	}
	atomic_store_explicit(&ls_state, 0, memory_order_release);
	fill_info(info);
	info->on = false;
	W.on = false;
	ls_stacks_close();
	pthread_mutex_unlock(&W.lock);
	return 0;
}

void ls_window_get(struct ls_window_info *info)
{
	pthread_mutex_lock(&W.lock);
	fill_info(info);
	pthread_mutex_unlock(&W.lock);
}

void ls_window_params(uint64_t *n, double *log1m, bool *bytes)
{
	uint64_t b = ls_rd(W.sampling_bytes);
	*bytes = b != 0;
	*n = b ? b : ls_rd(W.sampling);
	*log1m = ls_rd(W.log1m);
}

void ls_window_count_dropped(unsigned why)
{
	atomic_fetch_add_explicit(&W.dropped, 1, memory_order_relaxed);
	if (why < LS_DROP_COUNT)
		atomic_fetch_add_explicit(&W.dropped_why[why], 1, memory_order_relaxed);
}

uint64_t ls_window_dropped_why(unsigned why)
{
	return why < LS_DROP_COUNT ? atomic_load(&W.dropped_why[why]) : 0;
}

const char *ls_drop_name(unsigned why)
{
	static const char *const names[LS_DROP_COUNT] = {
		[LS_DROP_MEMORY_CAP] = "memory_cap",
		[LS_DROP_ARENA_FULL] = "arena_full",
		[LS_DROP_NO_ARENA] = "no_arena",
		[LS_DROP_ALIGNMENT] = "alignment",
		[LS_DROP_TOO_LARGE] = "too_large",
	};
	return why < LS_DROP_COUNT ? names[why] : "other";
}

void ls_window_lock(void)
{
	pthread_mutex_lock(&W.lock);
}

void ls_window_unlock(void)
{
	pthread_mutex_unlock(&W.lock);
}

void ls_window_reinit_locks(void)
{
	pthread_mutex_init(&W.lock, NULL);
}

uint64_t ls_window_forget(bool *bytes)
{
	if (!W.on)
		return 0;
	*bytes = ls_rd(W.sampling_bytes) != 0;
	uint64_t n = *bytes ? ls_rd(W.sampling_bytes) : ls_rd(W.sampling);
	atomic_store_explicit(&ls_state, 0, memory_order_release);
	W.on = false;
	ls_stacks_close();
	ls_stacks_collect();
	return n;
}
