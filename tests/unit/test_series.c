/* SPDX-License-Identifier: MIT */
/* tests/unit/test_series.c: a stack's series of births and deaths:
 * weights, lazy merging past the last bucket, the report's common level,
 * and events of a closed window. */
#include "../../preload/internal.h"
#include "check.h"

#include <math.h>
#include <string.h>

#define W (1ull << LS_SERIES_SHIFT0) /* the first bucket width, ns */

static double sum(const float *v, unsigned n)
{
	double s = 0;
	for (unsigned i = 0; i < n; i++)
		s += v[i];
	return s;
}

static void count_mode(void)
{
	static struct ls_series se; /* zeroed: unlocked, level 0 */
	struct ls_series_data d;

	CHECK(ls_window_on(10) == 0, "window opens at N=10");
	uint32_t gen = atomic_load(&ls_state);
	struct ls_window_info info;
	ls_window_get(&info);
	uint64_t t0 = info.start_mono_ns;

	ls_series_event(&se, gen, 64, t0 + W / 2, false);
	ls_series_event(&se, gen, 64, t0 + 3 * W + 1, false);
	ls_series_event(&se, gen, 64, t0 + 3 * W + 2, true);
	ls_series_copy(&se, &d);
	CHECK(d.level == 0 && d.b[0] == 10 && d.b[3] == 10 && d.d[3] == 10,
	      "births and deaths weigh N in their buckets");
	CHECK(d.vb[0] == 90 && d.vd[3] == 90, "variance terms N(N-1)");
	CHECK(d.allocs == 2 && d.frees == 1, "sampled allocs and frees counted");

	/* past the 32nd bucket: merged to width 2W, then 4W */
	ls_series_event(&se, gen, 64, t0 + 40 * W, false);
	ls_series_copy(&se, &d);
	CHECK(d.level == 1 && d.b[0] == 10 && d.b[1] == 10 && d.d[1] == 10 && d.b[20] == 10,
	      "an event past the last bucket doubles the width, merging neighbours");
	ls_series_event(&se, gen, 64, t0 + 1000 * W, false);
	ls_series_copy(&se, &d);
	CHECK(d.level == 5 && sum(d.b, LS_SERIES_N) == 40 && sum(d.d, LS_SERIES_N) == 10 &&
	      d.b[1000 >> 5] == 10, "a long window keeps every weight (level %u)", d.level);
	unsigned lvl = ls_series_level(t0, t0 + 1000 * W + 1);
	unsigned n = ls_series_buckets(t0, t0 + 1000 * W + 1, lvl);
	CHECK(lvl == 5 && n >= LS_SERIES_N / 2 && n <= LS_SERIES_N,
	      "the report's level holds the window in %u buckets, >= 16", n);
	for (uint64_t len = W; len < (1ull << 50); len = len * 3 + 7) {
		lvl = ls_series_level(t0, t0 + len);
		n = ls_series_buckets(t0, t0 + len, lvl);
		if (len >= 16 * W && n < 16) {
			CHECK(0, "a window of %llu ns has %u buckets", (unsigned long long)len, n);
			break;
		}
	}
	CHECK(1, "every window of 16 first widths or more has >= 16 buckets");
	ls_series_coarsen(&d, 7);
	CHECK(d.level == 7 && sum(d.b, LS_SERIES_N) == 40 && d.b[1000 >> 7] == 10,
	      "a report coarsens a copy to its common level");

	struct ls_window_info off;
	ls_report_ref();
	ls_window_off(&off);
	ls_series_event(&se, gen, 64, t0 + 2 * W, false);
	ls_series_copy(&se, &d);
	CHECK(d.allocs == 4 && sum(d.b, LS_SERIES_N) == 40,
	      "an event of a closed window touches nothing");
	ls_report_unref();
}

static void bytes_mode(void)
{
	static struct ls_series se;
	struct ls_series_data d;
	const double B = 4096;

	CHECK(ls_window_open(true, 4096) == 0, "byte window opens at B=4096");
	uint32_t gen = atomic_load(&ls_state);
	struct ls_window_info info;
	ls_window_get(&info);
	ls_series_event(&se, gen, 100, info.start_mono_ns, false);
	ls_series_event(&se, gen, 1 << 20, info.start_mono_ns, false);
	ls_series_copy(&se, &d);
	double p = -expm1(-100 / B);
	CHECK(fabs(d.b[0] - (1 / p + 1)) < 1e-3 * (1 / p) && fabs(d.vb[0] - (1 - p) / (p * p)) < 1e-2 * (1 - p) / (p * p),
	      "bytes mode: weights 1/p and (1-p)/p^2 with p = 1 - exp(-s/B) (%g, %g)", d.b[0], d.vb[0]);
	struct ls_window_info off;
	ls_report_ref();
	ls_window_off(&off);
	ls_report_unref();
}

/* A stack's series is part of the stack: counted in memory_bytes
 * (ls_mem_used) with it, bounded with it, and freed with it. A stripe's
 * first stack also pays for its uthash table, about 600 bytes. */
static void memory(void)
{
	uint64_t before = ls_mem_used();
	unsigned n = 0;

	ls_stacks_open(77);
	for (uintptr_t i = 1; i <= 100; i++) {
		void *f[9];
		struct ls_stack_key k;
		struct ls_stack *st;
		bool is_new;

		for (int j = 0; j < 8; j++)
			f[j] = (void *)(i * 64 + (uintptr_t)j);
		ls_stack_hash(f, 8, LS_API_MALLOC, &k);
		n += ls_stack_intern(f, 8, LS_API_MALLOC, &k, 77, &st, &is_new) == 0;
	}
	uint64_t per = (ls_mem_used() - before) / (n ? n : 1);
	CHECK(n == 100 && per >= sizeof(struct ls_series) && per < sizeof(struct ls_series) + 1024,
	      "a stack with its series costs %llu bytes of detector memory (series %zu)",
	      (unsigned long long)per, sizeof(struct ls_series));
	ls_report_ref();
	ls_stacks_close();
	ls_report_unref();
	CHECK(ls_mem_used() <= before + 64, "closing the window frees the stacks with their series");
}

int main(void)
{
	ls_real_init();
	ls_config_load();
	ls_stacks_init();
	ls_arena_init();
	count_mode();
	bytes_mode();
	memory();
	return check_status();
}
