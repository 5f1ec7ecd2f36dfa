/* SPDX-License-Identifier: MIT */
/* preload/series.c: each stack's births and deaths over the window, in
 * time buckets, weighted by Horvitz-Thompson weights (docs/report-format.md,
 * "Series"), so the translator can rebuild the stack's estimated live
 * count at every bucket's end and test its trend.
 *
 * The buckets are shared by all stacks: bucket i of level l covers
 * [i, i + 1) x 2^(LS_SERIES_SHIFT0 + l) ns from the window's start. A
 * stack has LS_SERIES_N of them; when an event falls past the last, the
 * stack doubles its width by merging neighbours (level + 1), so a window
 * of any length keeps between N/2 and N buckets. Merging is lazy and per
 * stack: a stack is touched only by its own sampled events, and a report
 * merges its copy up to the report's level.
 *
 * Concurrency. Births and deaths of one stack happen on many threads:
 * each takes the stack's series lock for a few dozen instructions (no
 * unwinding, no call under it). The stack itself must still exist: a
 * free of a block of a window that has just closed must not touch a
 * stack that ls_stacks_collect frees. So an event first marks its thread
 * busy (a sharded counter), then checks that the block's generation is
 * still the open window; ls_series_quiesce, called by the collector after
 * the window closed, waits until every shard has been seen idle. An event
 * that marked itself busy after that sees the closed state and touches
 * nothing (the increment and the state load are sequentially consistent;
 * the collector fences before it reads the counters: Dekker's pattern). */
#include "internal.h"

#include <math.h>
#include <sched.h>
#include <string.h>

#define SHARDS 32
static struct {
	_Atomic uint32_t n;
} __attribute__((aligned(64))) busy[SHARDS];

static _Atomic uint64_t t0; /* the open window's start, CLOCK_MONOTONIC_COARSE */

void ls_series_open(uint64_t start_mono_ns)
{
	atomic_store_explicit(&t0, start_mono_ns, memory_order_relaxed);
}

static _Atomic uint32_t *my_shard(void)
{
	return &busy[((uintptr_t)&ls_tls >> 6) % SHARDS].n;
}

void ls_series_quiesce(void)
{
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned i = 0; i < SHARDS; i++)
		while (atomic_load(&busy[i].n) != 0)
			sched_yield();
}

void ls_series_postfork_child(void)
{
	/* The threads that were busy did not come along. */
	for (unsigned i = 0; i < SHARDS; i++)
		atomic_store(&busy[i].n, 0);
}

/* Halves the resolution: bucket i gets buckets 2i and 2i + 1. */
static void merge(struct ls_series_data *s)
{
	for (unsigned i = 0; i < LS_SERIES_N / 2; i++) {
		s->b[i] = s->b[2 * i] + s->b[2 * i + 1];
		s->d[i] = s->d[2 * i] + s->d[2 * i + 1];
		s->vb[i] = s->vb[2 * i] + s->vb[2 * i + 1];
		s->vd[i] = s->vd[2 * i] + s->vd[2 * i + 1];
	}
	for (unsigned i = LS_SERIES_N / 2; i < LS_SERIES_N; i++)
		s->b[i] = s->d[i] = s->vb[i] = s->vd[i] = 0;
	s->level++;
}

static uint64_t bucket_of(uint64_t dt, unsigned level)
{
	unsigned sh = LS_SERIES_SHIFT0 + level;
	return sh >= 64 ? 0 : dt >> sh;
}

/* The weight 1/p and the variance term (1 - p)/p^2 of a sampled block of
 * size requested bytes in the open window (docs/weights.md). */
static void weight(uint64_t size, float *w, float *q)
{
	uint64_t n;
	double log1m, p;
	bool bytes;

	ls_window_params(&n, &log1m, &bytes);
	if (bytes)
		p = -expm1(-(double)(size ? size : 1) / (double)(n ? n : 1));
	else
		p = 1.0 / (double)(n ? n : 1);
	*w = (float)(1.0 / p);
	*q = (float)((1.0 - p) / (p * p));
}

void ls_series_event(struct ls_series *se, uint32_t gen, uint64_t size, uint64_t t_ns, bool death)
{
	_Atomic uint32_t *b = my_shard();
	float w, q;

	atomic_fetch_add(b, 1);
	if (atomic_load(&ls_state) != gen)
		goto out;
	weight(size, &w, &q);
	uint64_t start = atomic_load_explicit(&t0, memory_order_relaxed);
	uint64_t dt = t_ns > start ? t_ns - start : 0;
	struct ls_series_data *s = &se->data;

	ls_lock(&se->lock);
	uint64_t i = bucket_of(dt, s->level);
	while (i >= LS_SERIES_N) {
		merge(s);
		i >>= 1;
	}
	if (death) {
		s->d[i] += w;
		s->vd[i] += q;
		s->frees++;
	} else {
		s->b[i] += w;
		s->vb[i] += q;
		s->allocs++;
	}
	ls_unlock(&se->lock);
out:
	atomic_fetch_sub_explicit(b, 1, memory_order_release);
}

void ls_series_copy(struct ls_series *se, struct ls_series_data *out)
{
	ls_lock(&se->lock);
	*out = se->data;
	ls_unlock(&se->lock);
}

void ls_series_coarsen(struct ls_series_data *d, unsigned level)
{
	while (d->level < level)
		merge(d);
}

unsigned ls_series_level(uint64_t start_ns, uint64_t end_ns)
{
	uint64_t dt = end_ns > start_ns ? end_ns - start_ns : 0;
	unsigned level = 0;

	while (bucket_of(dt, level) >= LS_SERIES_N)
		level++;
	return level;
}

unsigned ls_series_buckets(uint64_t start_ns, uint64_t end_ns, unsigned level)
{
	uint64_t dt = end_ns > start_ns ? end_ns - start_ns : 0;
	uint64_t i = bucket_of(dt, level);

	return i >= LS_SERIES_N ? LS_SERIES_N : (unsigned)i + 1;
}
