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

/* Writes the summary of report r after its first word(s): ": pid ...". */
static void report_summary(FILE *out, const struct ls_report *r)
{
	const struct ls_hdr *h;

	if ((h = ls_report_header(r, "pid")) != NULL)
		fprintf(out, ": pid %s", h->value);
	if ((h = ls_report_header(r, "exe")) != NULL)
		fprintf(out, " (%s)", h->value);
	if ((h = ls_report_header(r, "sampling")) != NULL)
		fprintf(out, ", sampling 1 in %s", h->value);
	if ((h = ls_report_header(r, "window_seconds")) != NULL)
		fprintf(out, ", window %s s", h->value);
	if ((h = ls_report_header(r, "window_open")) != NULL && strcmp(h->value, "yes") == 0)
		fputs(" (still open)", out);
	if ((h = ls_report_header(r, "min_age")) != NULL)
		fprintf(out, ", min age %s s", h->value);
	fprintf(out, ", %zu stacks, %llu bytes estimated", r->nleak, (unsigned long long)r->total_est_bytes);
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
		report_summary(out, v->r);
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
	proc_range(out, v, "window_seconds", "window", " s");
	proc_range(out, v, "min_age", "min age", " s");
	fprintf(out, ", %zu stacks, %llu bytes estimated", v->r->nleak, (unsigned long long)v->r->total_est_bytes);
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
		report_summary(out, &v->proc[p].r);
		fputs(h != NULL && strcmp(h->value, "yes") == 0 ? ", exited\n" : "\n", out);
	}
	for (size_t t = 0; t < v->ntree; t++)
		for (size_t i = 0; i < v->tree[t].nerror; i++)
			fprintf(out, "error: %s\n", v->tree[t].error[i]);
}
