/* SPDX-License-Identifier: MIT */
/* verdict.c: growing, plateau or undecided, from a leak's series of
 * sampled births and deaths (docs/translate.md, "Verdicts").
 *
 * The series. Bucket j holds B_j and D_j, the sums of the weights 1/p_i
 * of the sampled blocks born and dying in it, and VB_j, VD_j the sums of
 * their variance terms q_i = (1 - p_i)/p_i^2 (docs/report-format.md,
 * "Series"). L(t) = sum over buckets ending by t of B_j - D_j estimates
 * the live count at t of the blocks born in the window, without bias
 * (Horvitz-Thompson, each block sampled independently), and
 * V(t) = sum of VB_j - VD_j estimates its variance: the sum of q_i over
 * the sampled blocks alive at t.
 *
 * Two statistics, on m, the end of the first half of the buckets, and T,
 * the window's end:
 *
 * 1. Growth in the second half, D2 = L(T) - L(m). A block contributes to
 *    it only when it was born after m and is alive at T, or alive at m
 *    and dead at T, so Var(D2) = sum of q_i over those. Two bounds of it
 *    we can compute: V(m) + V(T) (each of those blocks is alive at m or
 *    at T), and W2, the sum of VB_j + VD_j over the second half (each of
 *    them was born or died in it). S2 = min of the two; z_g = D2/sqrt(S2).
 *
 * 2. Shortfall against a steady rate. A live count that rises at a
 *    steady rate from the window's start (when it is 0) has
 *    L(m)/m = L(T)/T, so X = a L(m) - L(T), a = T/m, is 0; a plateau
 *    (rose, then held) or a fall makes it positive. X = (a - 1) L(m) - D2,
 *    so by Cauchy-Schwarz Var(X) <= ((a - 1) sqrt(V(m)) + sqrt(S2))^2;
 *    and since L(m) and L(T) share only positively correlated terms,
 *    Var(X) <= a^2 V(m) + V(T). SX = min of the two; z_p = X/sqrt(SX).
 *    The same at every bucket end t_k from the first quarter to m, in
 *    place of m (S2 then over the buckets after t_k); z_p is the largest:
 *    a burst freed just before m still shows its peak. That is up to
 *    n/4 + 1 tests (at most 9), so a steady rate passes Z in one of
 *    them with at most 9 times the one-test chance; and a steady leak
 *    is growing before plateau is looked at.
 *
 * Both are bounds, so the z scores are conservative: under the null
 * (no growth for z_g, a steady rate for z_p) they are approximately
 * normal with a standard deviation of at most 1. With Z = 5:
 *   growing   z_g >= Z: the second half grew, beyond 5 standard errors;
 *   plateau   otherwise, when z_p >= Z: well short of a steady rate;
 *   undecided otherwise: the evidence is too weak either way ("too few
 *             samples"), or before that, a window of fewer than 8
 *             buckets ("window too short") or a stack of fewer than 10
 *             sampled allocations ("too few samples").
 * Z = 5 makes a false "growing" among 1000 stacks that hold still about
 * as likely as 3 in 10000 (normal tails; fewer samples make the tails
 * heavier). A stack that started leaking late grows in the second half
 * and is growing: it leaks now. A cache still filling is growing too,
 * for the window that saw it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

#define Z            5.0
#define MIN_BUCKETS  8
#define MIN_SAMPLES  10

static const char *const names[] = { NULL, "growing", "plateau", "undecided" };

const char *ls_verdict_name(enum ls_verdict_kind k)
{
	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : NULL;
}

bool ls_verdict_parse(const char *s, enum ls_verdict_kind *k)
{
	for (int i = LS_VERDICT_GROWING; i <= LS_VERDICT_UNDECIDED; i++)
		if (strcmp(s, names[i]) == 0) {
			*k = (enum ls_verdict_kind)i;
			return true;
		}
	return false;
}

double ls_verdict_live(const struct ls_leak *l, size_t k)
{
	double s = 0;

	for (size_t j = 0; j <= k && j < l->nseries; j++)
		s += l->series[4 * j] - l->series[4 * j + 1];
	return s;
}

/* The live count and its variance at the end of bucket k - 1 (k buckets). */
static void live_at(const struct ls_leak *l, size_t k, double *e, double *v)
{
	*e = *v = 0;
	for (size_t j = 0; j < k; j++) {
		*e += l->series[4 * j] - l->series[4 * j + 1];
		*v += l->series[4 * j + 2] - l->series[4 * j + 3];
	}
	if (*v < 0)
		*v = 0;
}

static double zscore(double x, double var)
{
	if (var > 0)
		return x / sqrt(var);
	return x > 0 ? INFINITY : x < 0 ? -INFINITY : 0;
}

void ls_verdict_compute(struct ls_leak *l)
{
	struct ls_verdict *vd = &l->verdict;
	size_t n = l->nseries, h = n / 2;
	double lm, vm, lt, vt, w2 = 0;

	memset(vd, 0, sizeof(*vd));
	if (!l->has_series)
		return;
	vd->kind = LS_VERDICT_UNDECIDED;
	if (n < MIN_BUCKETS || !(l->bucket > 0)) {
		vd->reason = "window too short";
		return;
	}
	double m = (double)h * l->bucket;
	double t = l->window > m ? l->window : (double)n * l->bucket;
	live_at(l, h, &lm, &vm);
	live_at(l, n, &lt, &vt);
	for (size_t j = h; j < n; j++)
		w2 += l->series[4 * j + 2] + l->series[4 * j + 3];
	double d2 = lt - lm, s2 = fmin(vm + vt, w2);

	vd->growth = t > m ? d2 / (t - m) : 0;
	vd->z_growing = zscore(d2, s2);
	/* the shortfall at the first half's end, and at each earlier bucket
	 * end back to the first quarter: a burst freed just before m shows
	 * at the bucket ends before its free */
	vd->z_plateau = -INFINITY;
	for (size_t k = h, lo = n / 4 > 0 ? n / 4 : 1; k >= lo; k--) {
		double lk, vk, wk = 0, tk = (double)k * l->bucket;

		live_at(l, k, &lk, &vk);
		for (size_t j = k; j < n; j++)
			wk += l->series[4 * j + 2] + l->series[4 * j + 3];
		double sk = fmin(vk + vt, wk), a = t / tk, x = a * lk - lt;
		double sx = fmin(a * a * vk + vt, pow((a - 1) * sqrt(vk) + sqrt(sk), 2));
		vd->z_plateau = fmax(vd->z_plateau, zscore(x, sx));
	}
	if (l->allocs < MIN_SAMPLES)
		vd->reason = "too few samples";
	else if (vd->z_growing >= Z)
		vd->kind = LS_VERDICT_GROWING;
	else if (vd->z_plateau >= Z)
		vd->kind = LS_VERDICT_PLATEAU;
	else
		vd->reason = "too few samples";
}

/* Merged leaks: one process growing makes the stack growing; all of them
 * plateau, plateau; otherwise undecided. The series of processes whose
 * windows need not align are not summed: a merged leak of several
 * processes has none. */
void ls_verdict_merge(struct ls_leak *d, const struct ls_leak *l, bool first)
{
	if (first) {
		double *s = NULL;

		if (l->nseries > 0 && (s = malloc(4 * l->nseries * sizeof(*s))) != NULL)
			memcpy(s, l->series, 4 * l->nseries * sizeof(*s));
		d->series = s;
		d->nseries = s != NULL ? l->nseries : 0;
		return;
	}
	free(d->series);
	d->series = NULL;
	d->nseries = 0;
	d->has_series = false;
	ls_util_add_sat(&d->allocs, l->allocs);
	ls_util_add_sat(&d->frees, l->frees);
	d->verdict.growth += l->verdict.growth;
	if (d->verdict.kind == LS_VERDICT_GROWING || l->verdict.kind == LS_VERDICT_NONE)
		return;
	if (d->verdict.kind == LS_VERDICT_NONE || l->verdict.kind == LS_VERDICT_GROWING) {
		d->verdict.kind = l->verdict.kind;
		d->verdict.reason = l->verdict.reason;
	} else if (l->verdict.kind == LS_VERDICT_UNDECIDED && d->verdict.kind == LS_VERDICT_PLATEAU) {
		d->verdict.kind = LS_VERDICT_UNDECIDED;
		d->verdict.reason = l->verdict.reason;
	}
}

void ls_verdict_filter(struct ls_report *r, enum ls_verdict_kind k)
{
	size_t out = 0;

	for (size_t i = 0; i < r->nleak; i++) {
		if (r->leak[i].verdict.kind == k)
			r->leak[out++] = r->leak[i];
		else
			ls_report_free_leak(&r->leak[i]);
	}
	r->nleak = out;
}

void ls_verdict_count(const struct ls_report *r, size_t *n)
{
	memset(n, 0, (LS_VERDICT_UNDECIDED + 1) * sizeof(*n));
	for (size_t i = 0; i < r->nleak; i++)
		n[r->leak[i].verdict.kind]++;
}

static void json_number(FILE *out, double x)
{
	if (isfinite(x))
		fprintf(out, "%.6g", x);
	else
		fputs(x > 0 ? "1e308" : x < 0 ? "-1e308" : "0", out);
}

void ls_verdict_json_leak(FILE *out, const struct ls_leak *l)
{
	const struct ls_verdict *vd = &l->verdict;

	if (vd->kind == LS_VERDICT_NONE)
		return;
	fprintf(out, ", \"verdict\": \"%s\", \"verdict_reason\": ", ls_verdict_name(vd->kind));
	if (vd->reason != NULL)
		fprintf(out, "\"%s\"", vd->reason);
	else
		fputs("null", out);
	fputs(", \"growth\": ", out);
	json_number(out, vd->growth);
	fputs(", \"z_growing\": ", out);
	json_number(out, vd->z_growing);
	fputs(", \"z_plateau\": ", out);
	json_number(out, vd->z_plateau);
	fprintf(out, ", \"allocs\": %llu, \"frees\": %llu, \"series\": ", (unsigned long long)l->allocs,
		(unsigned long long)l->frees);
	if (l->nseries == 0) {
		fputs("null", out);
		return;
	}
	fputc('[', out);
	for (size_t k = 0; k < l->nseries; k++) {
		double t = (double)(k + 1) * l->bucket;

		if (l->window > 0 && t > l->window)
			t = l->window;
		fprintf(out, "%s[%.3f, %.0f]", k ? ", " : "", t, ls_verdict_live(l, k));
	}
	fputc(']', out);
}

void ls_verdict_json_totals(FILE *out, const struct ls_report *r, const char *indent)
{
	size_t n[LS_VERDICT_UNDECIDED + 1];
	uint64_t allocs = 0, frees = 0;

	ls_verdict_count(r, n);
	for (size_t i = 0; i < r->nleak; i++) {
		ls_util_add_sat(&allocs, r->leak[i].allocs);
		ls_util_add_sat(&frees, r->leak[i].frees);
	}
	fprintf(out, ",\n%s\"verdicts\": {\"growing\": %zu, \"plateau\": %zu, \"undecided\": %zu}", indent,
		n[LS_VERDICT_GROWING], n[LS_VERDICT_PLATEAU], n[LS_VERDICT_UNDECIDED]);
	fprintf(out, ",\n%s\"allocs\": %llu,\n%s\"frees\": %llu", indent, (unsigned long long)allocs, indent,
		(unsigned long long)frees);
}

void ls_verdict_text(FILE *out, const struct ls_leak *l)
{
	const struct ls_verdict *vd = &l->verdict;

	if (vd->kind == LS_VERDICT_NONE)
		return;
	fprintf(out, ", %s", ls_verdict_name(vd->kind));
	if (vd->reason != NULL)
		fprintf(out, " (%s)", vd->reason);
	else
		fprintf(out, " (%+.1f/s)", vd->growth);
	if (l->allocs > 0)
		fprintf(out, ", %.0f%% of %llu sampled allocations freed", 100.0 * (double)l->frees / (double)l->allocs,
			(unsigned long long)l->allocs);
}

void ls_verdict_summary(FILE *out, const struct ls_report *r)
{
	size_t n[LS_VERDICT_UNDECIDED + 1];

	ls_verdict_count(r, n);
	fprintf(out, "%zu stack%s growing, %zu plateau, %zu undecided", n[LS_VERDICT_GROWING],
		n[LS_VERDICT_GROWING] == 1 ? "" : "s", n[LS_VERDICT_PLATEAU], n[LS_VERDICT_UNDECIDED]);
	if (n[LS_VERDICT_NONE] > 0)
		fprintf(out, ", %zu without a series", n[LS_VERDICT_NONE]);
}
