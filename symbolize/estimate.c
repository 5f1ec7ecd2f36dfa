/* SPDX-License-Identifier: MIT */
/* estimate.c: the weights of leaks and totals, which 95% interval each estimate takes (docs/weights.md), and how text and json write them. */
#include <string.h>

#include "translate.h"

struct ls_weights ls_estimate_leak(const struct ls_leak *l)
{
	return (struct ls_weights){
		.count = l->count,
		.est_count = (double)l->est_count,
		.est_bytes = (double)l->est_bytes,
		.var_count = l->var_count,
		.var_bytes = l->var_bytes,
		.sampling = l->sampling,
	};
}

struct ls_ci ls_estimate_count(const struct ls_weights *w)
{
	/* One in N for every allocation (also of every process merged): the
	 * count's own exact interval. N = 1 tracked every allocation: the
	 * count is exact, as its variance N(N - 1)C = 0 says. */
	if (w->sampling == 1)
		return (struct ls_ci){ .lo = w->est_count, .hi = w->est_count };
	if (w->sampling > 1)
		return ls_interval_garwood(w->count, (double)w->sampling);
	return ls_interval_scaled(w->est_count, w->var_count);
}

struct ls_ci ls_estimate_bytes(const struct ls_weights *w)
{
	return ls_interval_scaled(w->est_bytes, w->var_bytes);
}

void ls_estimate_add(struct ls_weights *sum, const struct ls_weights *w, bool first)
{
	if (first) {
		*sum = *w;
		return;
	}
	ls_util_add_sat(&sum->count, w->count);
	sum->est_count += w->est_count;
	sum->est_bytes += w->est_bytes;
	sum->var_count += w->var_count;
	sum->var_bytes += w->var_bytes;
	/* Garwood's interval needs a single N: a count sampled one in 10
	 * plus one sampled one in 500 is no Poisson count times N */
	if (sum->sampling != w->sampling)
		sum->sampling = 0;
}

void ls_estimate_merge(struct ls_leak *d, const struct ls_leak *l)
{
	struct ls_weights sum = ls_estimate_leak(d), w = ls_estimate_leak(l);

	ls_estimate_add(&sum, &w, false);
	d->var_count = sum.var_count;
	d->var_bytes = sum.var_bytes;
	d->sampling = sum.sampling;
}

void ls_estimate_text(FILE *out, struct ls_ci ci, bool unit)
{
	static const struct {
		const char *name;
		double size;
	} units[] = { { "kB", 1e3 }, { "MB", 1e6 }, { "GB", 1e9 }, { "TB", 1e12 }, { "PB", 1e15 }, { "EB", 1e18 } };
	const char *name = "B";
	double size = 1;

	if (!unit) {
		fprintf(out, "%.0f-%.0f", ci.lo, ci.hi);
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ci.hi >= units[i].size) {
			name = units[i].name;
			size = units[i].size;
		}
	}
	/* three significant digits on the upper end: 9.8-11.1 MB, 0.52-1.37 kB */
	double hi = ci.hi / size;
	int prec = size == 1 || hi >= 100 ? 0 : hi >= 10 ? 1 : 2;

	fprintf(out, "%.*f-%.*f %s", prec, ci.lo / size, prec, ci.hi / size, name);
}

void ls_estimate_json_leak(FILE *out, const struct ls_leak *l)
{
	struct ls_weights w = ls_estimate_leak(l);
	struct ls_ci c = ls_estimate_count(&w), b = ls_estimate_bytes(&w);

	fprintf(out,
		",\n     \"est_count_lo\": %.0f, \"est_count_hi\": %.0f, \"est_bytes_lo\": %.0f, \"est_bytes_hi\": %.0f, "
		"\"var_count\": %.0f, \"var_bytes\": %.0f",
		c.lo, c.hi, b.lo, b.hi, l->var_count, l->var_bytes);
}

/* Writes ",\n" indent "key": and then n as a number, or null when it is 0. */
static void json_param(FILE *out, const char *indent, const char *key, uint64_t n)
{
	fprintf(out, ",\n%s\"%s\": ", indent, key);
	if (n > 0)
		fprintf(out, "%llu", (unsigned long long)n);
	else
		fputs("null", out);
}

void ls_estimate_json_totals(FILE *out, const struct ls_view *v, const char *indent)
{
	const struct ls_weights *t = &v->r->total;
	struct ls_ci c = ls_estimate_count(t), b = ls_estimate_bytes(t);
	uint64_t n, bytes;
	const char *mode = ls_view_mode(v, &n, &bytes);

	/* one report's header already gave its mode and its one parameter */
	if (v->merged || ls_report_header(v->r, "mode") == NULL)
		fprintf(out, ",\n%s\"mode\": \"%s\"", indent, mode);
	if (v->merged || ls_report_header(v->r, "sampling") == NULL)
		json_param(out, indent, "sampling", strcmp(mode, "count") == 0 ? n : 0);
	if (v->merged || ls_report_header(v->r, "sampling_bytes") == NULL)
		json_param(out, indent, "sampling_bytes", strcmp(mode, "bytes") == 0 ? bytes : 0);
	if (v->merged)
		fprintf(out, ",\n%s\"variance\": {\"count\": %.0f, \"bytes\": %.0f}", indent, t->var_count, t->var_bytes);
	fprintf(out, ",\n%s\"est_count\": %.0f, \"est_bytes\": %.0f", indent, t->est_count, t->est_bytes);
	fprintf(out, ",\n%s\"est_count_lo\": %.0f, \"est_count_hi\": %.0f, \"est_bytes_lo\": %.0f, \"est_bytes_hi\": %.0f",
		indent, c.lo, c.hi, b.lo, b.hi);
}
