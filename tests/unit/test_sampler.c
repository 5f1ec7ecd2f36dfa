/* SPDX-License-Identifier: MIT */
/* tests/unit/test_sampler.c: the sampling gap is geometric with mean N,
 * and the hooks' decision (ls_sample_now) samples one allocation in N;
 * in a byte-sampled window an allocation of s bytes is sampled with
 * probability 1 - exp(-s/B), and the weights of docs/weights.md. */
#include "../../preload/internal.h"
#include "check.h"

#include <math.h>
#include <string.h>

/* Draws n gaps with mean N; checks mean, spread and shape. */
static void gap_stats(uint64_t N, unsigned n)
{
	struct ls_tls t = { .rng = 0 };
	double log1m = N > 1 ? log1p(-1.0 / (double)N) : 0.0;
	double sum = 0, sumsq = 0;
	unsigned ones = 0, over_mean = 0, bad = 0;

	for (unsigned i = 0; i < n; i++) {
		int64_t g = ls_sample_gap(&t, N, log1m);
		if (g < 1)
			bad++;
		sum += (double)g;
		sumsq += (double)g * (double)g;
		ones += g == 1;
		over_mean += (double)g > (double)N;
	}
	double mean = sum / n, var = sumsq / n - mean * mean;
	double p = 1.0 / (double)N;
	double want_sd = sqrt(1.0 - p) / p;     /* geometric on {1,2,...} */
	double se = want_sd / sqrt((double)n);  /* standard error of the mean */
	CHECK(bad == 0, "N=%llu: every gap is >= 1", (unsigned long long)N);
	if (N == 1) {
		CHECK(mean == 1.0 && var == 0.0, "N=1: every allocation is sampled");
		return;
	}
	CHECK(fabs(mean - (double)N) <= 5 * se + 1e-9,
	      "N=%llu: mean gap %.3f within 5 standard errors (%.3f) of N",
	      (unsigned long long)N, mean, se);
	CHECK(fabs(sqrt(var) - want_sd) <= 0.05 * want_sd,
	      "N=%llu: gap spread %.2f within 5%% of the geometric %.2f",
	      (unsigned long long)N, sqrt(var), want_sd);
	/* P(gap = 1) = p and P(gap > N) = (1-p)^N: the shape, not just the mean. */
	double f1 = (double)ones / n, fo = (double)over_mean / n;
	double want_fo = pow(1.0 - p, (double)N);
	CHECK(fabs(f1 - p) <= 5 * sqrt(p * (1 - p) / n) + 1e-9,
	      "N=%llu: P(gap=1) = %.5f, expected %.5f", (unsigned long long)N, f1, p);
	CHECK(fabs(fo - want_fo) <= 5 * sqrt(want_fo * (1 - want_fo) / n),
	      "N=%llu: P(gap>N) = %.4f, expected %.4f", (unsigned long long)N, fo, want_fo);
}

/* Runs the hooks' decision over many allocations and counts samples. */
static void decision_rate(uint64_t N, unsigned allocs)
{
	unsigned sampled = 0;

	CHECK(ls_window_on(N) == 0, "window opens at N=%llu", (unsigned long long)N);
	for (unsigned i = 0; i < allocs; i++)
		sampled += ls_sample_now(16);
	struct ls_window_info info;
	ls_report_ref();
	ls_window_off(&info);
	ls_report_unref();
	double want = (double)allocs / (double)N;
	double sd = sqrt(want * (1.0 - 1.0 / (double)N));
	CHECK(fabs(sampled - want) <= 5 * sd + 1e-9,
	      "N=%llu: %u of %u allocations sampled, expected %.1f +- %.1f",
	      (unsigned long long)N, sampled, allocs, want, 5 * sd);
	CHECK(!ls_sample_now(16), "no sampling once the window is closed");
}

/* A periodic allocation pattern must not alias with the sampler: with a
 * period equal to N, every phase of the period is sampled about equally. */
static void no_aliasing(void)
{
	enum { N = 8, ROUNDS = 200000 };
	unsigned hits[N] = { 0 };

	ls_window_on(N);
	for (unsigned r = 0; r < ROUNDS; r++)
		for (unsigned ph = 0; ph < N; ph++)
			hits[ph] += ls_sample_now(16);
	struct ls_window_info info;
	ls_report_ref();
	ls_window_off(&info);
	ls_report_unref();
	double want = ROUNDS / (double)N, sd = sqrt(want * (1 - 1.0 / N));
	unsigned worst = 0;
	for (unsigned ph = 0; ph < N; ph++)
		if (fabs(hits[ph] - want) > fabs(hits[worst] - want))
			worst = ph;
	CHECK(fabs(hits[worst] - want) <= 5 * sd,
	      "period-%d pattern: every phase sampled ~%.0f times (worst phase %u: %u)",
	      N, want, worst, hits[worst]);
}

/* The guard (leakscope's own code running) never samples. */
static void guard_blocks(void)
{
	unsigned sampled = 0;

	ls_window_on(1);
	ls_guard_enter();
	for (int i = 0; i < 1000; i++)
		sampled += ls_sample_now(16);
	ls_guard_leave();
	struct ls_window_info info;
	ls_report_ref();
	ls_window_off(&info);
	ls_report_unref();
	CHECK(sampled == 0, "nothing is sampled while the recursion guard is set");
}

/* A byte-sampled window of B bytes: allocations of one size s at a time,
 * then a mix, each sampled with probability 1 - exp(-s/B), whatever came
 * before (the countdown is memoryless). */
static void byte_rate(uint64_t B, const size_t *sizes, unsigned nsizes, unsigned allocs)
{
	unsigned hits[8] = { 0 }, tries[8] = { 0 };

	CHECK(ls_window_open(true, B) == 0, "byte window opens at B=%llu", (unsigned long long)B);
	for (unsigned i = 0; i < allocs; i++) {
		/* cycle through the sizes so each follows every other */
		unsigned k = (i * 7 + i / nsizes) % nsizes;
		tries[k]++;
		hits[k] += ls_sample_now(sizes[k]);
	}
	struct ls_window_info info;
	ls_report_ref();
	ls_window_off(&info);
	ls_report_unref();
	CHECK(info.sampling_bytes == B && info.sampling == 0, "the window says bytes mode, B=%llu",
	      (unsigned long long)B);
	for (unsigned k = 0; k < nsizes; k++) {
		double p = -expm1(-(double)sizes[k] / (double)B), n = tries[k];
		double f = hits[k] / n, sd = sqrt(p * (1 - p) / n);
		CHECK(fabs(f - p) <= 5 * sd + 1e-12,
		      "B=%llu: an allocation of %zu bytes is sampled with p=%.5f (1 - exp(-s/B) = %.5f)",
		      (unsigned long long)B, sizes[k], f, p);
	}
}

/* The weights: 1/p and s/p per sampled allocation, summed before any
 * averaging, with the variance estimates (1-p)/p^2 and (1-p)s^2/p^2. */
static void weights(void)
{
	struct ls_window_info info = { .sampling_bytes = 1000 };
	struct ls_weights w = { 0 };
	ls_weights_add(&w, &info, 1000);
	ls_weights_add(&w, &info, 10);
	double p1 = -expm1(-1.0), p2 = -expm1(-0.01);
	CHECK(fabs((double)w.est_count - (1 / p1 + 1 / p2)) < 1e-9 &&
	      fabs((double)w.est_bytes - (1000 / p1 + 10 / p2)) < 1e-6,
	      "bytes mode: est_count = sum 1/p, est_bytes = sum s/p");
	CHECK(fabs((double)w.var_bytes - ((1 - p1) * 1e6 / (p1 * p1) + (1 - p2) * 100 / (p2 * p2))) <
	      1e-3, "bytes mode: var_bytes = sum (1-p) s^2 / p^2");
	struct ls_window_info cnt = { .sampling = 100 };
	struct ls_weights c = { 0 };
	ls_weights_add(&c, &cnt, 40);
	ls_weights_add(&c, &cnt, 60);
	CHECK(ls_weights_count(&c, &cnt, 2) == 200 && ls_weights_bytes(&c, &cnt, 100) == 10000,
	      "count mode: est = count x N and bytes x N exactly");
	CHECK(fabs((double)c.var_bytes - 9900.0 * (1600 + 3600)) < 1e-3,
	      "count mode: var_bytes = N(N-1) sum s^2, %.0f", (double)c.var_bytes);
	struct ls_window_info big = { .sampling_bytes = 512 * 1024 };
	struct ls_weights g = { 0 };
	ls_weights_add(&g, &big, 64u << 20);
	CHECK(ls_weights_bytes(&g, &big, 64u << 20) == 64u << 20 && g.var_bytes < 1,
	      "bytes mode: a 64 MiB block at B=512K weighs 1, with no variance");
}

int main(void)
{
	ls_real_init();
	ls_config_load();
	ls_stacks_init();
	ls_arena_init();
	gap_stats(1, 1000);
	gap_stats(2, 1000000);
	gap_stats(10, 1000000);
	gap_stats(500, 1000000);
	gap_stats(100000, 400000);
	decision_rate(1, 100000);
	decision_rate(100, 2000000);
	decision_rate(1000, 4000000);
	no_aliasing();
	guard_blocks();
	static const size_t sizes[] = { 16, 1000, 4096, 20000, 100000, 1 << 20 };
	byte_rate(4096, sizes, 6, 3000000);
	byte_rate(512 * 1024, sizes, 6, 3000000);
	weights();
	return check_status();
}
