/* SPDX-License-Identifier: MIT */
/* summary.c: the summary lines of a report or of merged processes (text output, svg and html titles, pprof comments). */
#include <string.h>

#include "translate.h"

/* Writes ", LABEL A UNIT" from the numeric header key of v's processes, or
 * ", LABEL A to B UNIT" when they differ; nothing when none has it. */
static void proc_range(FILE *out, const struct ls_view *v, const char *key, const char *label, const char *unit)
{
	const char *lo = NULL, *hi = NULL;

	for (size_t p = 0; p < v->nproc; p++) {
		const struct ls_hdr *h = ls_report_header(&v->proc[p].r, key);

		if (h == NULL || (h->kind != LS_HDR_INT && h->kind != LS_HDR_DECIMAL))
			continue;
		if (lo == NULL || ls_util_decimal_cmp(h->value, lo) < 0)
			lo = h->value;
		if (hi == NULL || ls_util_decimal_cmp(h->value, hi) > 0)
			hi = h->value;
	}
	if (lo == NULL)
		return;
	fprintf(out, ", %s %s", label, lo);
	if (ls_util_decimal_cmp(lo, hi) != 0)
		fprintf(out, " to %s", hi);
	fputs(unit, out);
}

/* Writes B bytes as the byte sampling says it: "512 KiB", "1 MiB", "1000 bytes". */
static void size_text(FILE *out, uint64_t b)
{
	static const char *const units[] = { "GiB", "MiB", "KiB" };

	for (int i = 0; i < 3; i++) {
		uint64_t unit = 1ull << (10 * (3 - i));

		if (b >= unit && b % unit == 0) {
			fprintf(out, "%llu %s", (unsigned long long)(b / unit), units[i]);
			return;
		}
	}
	fprintf(out, "%llu bytes", (unsigned long long)b);
}

/* Writes ", sampling one per B" from v's processes sampled by bytes, "B1
 * to B2" when they differ; nothing when none is. */
static void bytes_range(FILE *out, const struct ls_view *v)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	for (size_t p = 0; p < v->nproc; p++) {
		uint64_t b = v->proc[p].r.sampling_bytes;

		if (b > 0) {
			lo = b < lo ? b : lo;
			hi = b > hi ? b : hi;
		}
	}
	if (hi == 0)
		return;
	fputs(", sampling one per ", out);
	size_text(out, lo);
	if (lo != hi) {
		fputs(" to ", out);
		size_text(out, hi);
	}
}

/* Writes ", N stacks, ... bytes estimated" for leaks n and totals t of
 * total_bytes estimated bytes, with the totals' intervals when shown. */
static void totals(FILE *out, size_t n, const struct ls_weights *t, uint64_t total_bytes, bool intervals)
{
	fprintf(out, ", %zu stacks", n);
	if (intervals) {
		fprintf(out, ", %.0f allocations (95%%: ", t->est_count);
		ls_estimate_text(out, ls_estimate_count(t), false);
		fputc(')', out);
	}
	fprintf(out, ", %llu bytes estimated", (unsigned long long)total_bytes);
	if (intervals) {
		fputs(" (95%: ", out);
		ls_estimate_text(out, ls_estimate_bytes(t), true);
		fputc(')', out);
	}
}

/* Writes the summary of report r after its first word(s): ": pid ...";
 * intervals: with the totals' intervals. */
static void report_summary(FILE *out, const struct ls_report *r, bool intervals)
{
	const struct ls_hdr *h;

	if ((h = ls_report_header(r, "pid")) != NULL)
		fprintf(out, ": pid %s", h->value);
	if ((h = ls_report_header(r, "exe")) != NULL)
		fprintf(out, " (%s)", h->value);
	if ((h = ls_report_header(r, "sampling")) != NULL)
		fprintf(out, ", sampling 1 in %s", h->value);
	if (r->sampling_bytes > 0) {
		fputs(", sampling one per ", out);
		size_text(out, r->sampling_bytes);
	}
	if ((h = ls_report_header(r, "window_seconds")) != NULL)
		fprintf(out, ", window %s s", h->value);
	if ((h = ls_report_header(r, "window_open")) != NULL && strcmp(h->value, "yes") == 0)
		fputs(" (still open)", out);
	if ((h = ls_report_header(r, "min_age")) != NULL)
		fprintf(out, ", min age %s s", h->value);
	totals(out, r->nleak, &r->total, r->total_est_bytes, intervals);
	if ((h = ls_report_header(r, "dropped")) != NULL && h->a > 0)
		fprintf(out, ", %s samples dropped", h->value);
}

void ls_output_summary(FILE *out, const struct ls_view *v)
{
	static const char *const tree_ints[][2] = {
		{ "exited", "exited" },
		{ "exit_reports_dropped", "exit reports dropped" },
		{ "unreachable", "unreachable" },
	};
	const struct ls_hdr *root = ls_view_root(v);
	uint64_t n, unused;
	bool paren = false;

	fputs("leakscope report", out);
	if (!v->merged) {
		report_summary(out, v->r, v->intervals);
		return;
	}
	fprintf(out, ": %zu process%s", v->nproc, v->nproc == 1 ? "" : "es");
	if (root != NULL) {
		fprintf(out, " (root %s", root->value);
		paren = true;
	}
	for (size_t i = 0; i < sizeof(tree_ints) / sizeof(tree_ints[0]); i++) {
		/* dropped exit reports and unreachable processes only matter when there are some */
		if (!ls_view_tree_sum(v, tree_ints[i][0], &n) || (i > 0 && n == 0))
			continue;
		fprintf(out, "%s%llu %s", paren ? ", " : " (", (unsigned long long)n, tree_ints[i][1]);
		paren = true;
	}
	if (paren)
		fputc(')', out);
	proc_range(out, v, "sampling", "sampling 1 in", "");
	bytes_range(out, v);
	proc_range(out, v, "window_seconds", "window", " s");
	proc_range(out, v, "min_age", "min age", " s");
	totals(out, v->r->nleak, &v->r->total, v->r->total_est_bytes, v->intervals);
	ls_view_proc_sum(v, "dropped", &n, &unused);
	if (n > 0)
		fprintf(out, ", %llu samples dropped", (unsigned long long)n);
}

void ls_output_processes(FILE *out, const struct ls_view *v)
{
	if (!v->merged)
		return;
	for (size_t p = 0; p < v->nproc; p++) {
		const struct ls_hdr *h = ls_report_header(&v->proc[p].r, "exited");

		fprintf(out, "report %zu", p + 1);
		report_summary(out, &v->proc[p].r, v->intervals);
		fputs(h != NULL && strcmp(h->value, "yes") == 0 ? ", exited" : "", out);
		fputs(v->proc[p].base ? ", the base\n" : "\n", out);
	}
	for (size_t t = 0; t < v->ntree; t++)
		for (size_t i = 0; i < v->tree[t].nerror; i++)
			fprintf(out, "error: %s\n", v->tree[t].error[i]);
}
