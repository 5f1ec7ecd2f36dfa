/* SPDX-License-Identifier: MIT */
/* html.c: --format html, one self-contained page: a sortable table of the leaks and the flame graph. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

static const char page_css[] =
	"body{font-family:sans-serif;margin:16px;color:#222;background:#fff}"
	"h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 6px}"
	".sum{font-family:monospace;margin:0 0 8px}.hint{color:#666;font-size:13px;margin:0 0 6px}"
	"#ls-flame{max-width:100%;height:auto;border:1px solid #ddd}"
	"table{border-collapse:collapse;font-size:13px}"
	"th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}"
	"th{background:#eee;cursor:pointer;user-select:none;white-space:nowrap}"
	"th[data-s=a]::after{content:' \\25B2'}th[data-s=d]::after{content:' \\25BC'}"
	"td.n{text-align:right;font-family:monospace;white-space:nowrap}"
	"tbody tr:nth-child(even){background:#f7f7f7}"
	"summary{cursor:pointer;font-family:monospace}pre{margin:4px 0;font-size:12px}"
	".spark{color:#c03;letter-spacing:-1px;white-space:nowrap}";

/* Header cells: label, and whether the column sorts as numbers. Each row
 * gives every cell a data-v to sort on. */
static const struct {
	const char *label;
	bool num;
} columns[] = {
	{ "#", true },
	{ "est. bytes", true },
	{ "est. count", true },
	{ "sampled", true },
	{ "share", true },
	{ "min age (s)", true },
	{ "max age (s)", true },
	{ "top frame", false },
	{ "via", false },
};

/* With 95% intervals (a report of version 2), after every other column,
 * so that #sort=K names the same column either way. */
static const char *const interval_columns[] = { "est. bytes 95% lo", "est. bytes 95% hi", "est. count 95% lo",
						"est. count 95% hi" };

/* With verdicts (a report with series), after those: the verdict, the
 * second half's growth (estimated count a second: the sort by growth),
 * and a sparkline of the live count over the window, which sorts by
 * growth too. */
static const char *const verdict_columns[] = { "verdict", "growth (/s)", "live over the window" };

/* A sparkline of leak l's estimated live count: one block character
 * (U+2581 to U+2588) per bucket, scaled to its own maximum; text, so the
 * page keeps one svg element, the flame graph. */
static void sparkline(FILE *out, const struct ls_leak *l)
{
	double max = 0;

	if (l->nseries == 0)
		return;
	for (size_t k = 0; k < l->nseries; k++)
		max = fmax(max, ls_verdict_live(l, k));
	fputs("<span class=\"spark\">", out);
	for (size_t k = 0; k < l->nseries; k++) {
		double y = max > 0 ? fmax(0, ls_verdict_live(l, k)) / max : 0;
		int level = (int)lround(y * 7);

		/* U+2581 + level, in UTF-8: E2 96 81..88 */
		fprintf(out, "\xe2\x96%c", (char)(0x81 + level));
	}
	fputs("</span>", out);
}

/* Sorts on a header click: first descending for numbers, ascending for
 * text, then the other way; ties keep the report's order. "#sort=K" or
 * "#sort=-K" (descending) in the URL sorts at load. The cells' data-v
 * values are read with getAttribute, never evaluated. */
static const char sort_js[] =
	"(function () {\n"
	"  var t = document.getElementById('ls-leaks'), b = t.tBodies[0], th = t.tHead.rows[0].cells;\n"
	"  function v(r, k) { return r.cells[k].getAttribute('data-v'); }\n"
	"  function sort(k, desc) {\n"
	"    var num = th[k].getAttribute('data-t') === 'n', rows = Array.prototype.slice.call(b.rows);\n"
	"    rows.sort(function (p, q) {\n"
	"      var x = v(p, k), y = v(q, k), o = num ? x - y : x < y ? -1 : x > y ? 1 : 0;\n"
	"      return (desc ? -o : o) || v(p, 0) - v(q, 0);\n"
	"    });\n"
	"    rows.forEach(function (r) { b.appendChild(r); });\n"
	"    for (var i = 0; i < th.length; i++) th[i].removeAttribute('data-s');\n"
	"    th[k].setAttribute('data-s', desc ? 'd' : 'a');\n"
	"  }\n"
	"  Array.prototype.forEach.call(th, function (h, k) {\n"
	"    h.addEventListener('click', function () {\n"
	"      var s = h.getAttribute('data-s');\n"
	"      sort(k, s ? s === 'a' : h.getAttribute('data-t') === 'n');\n"
	"    });\n"
	"  });\n"
	"  var m = /[#&]sort=(-?)(\\d+)/.exec(location.hash);\n"
	"  if (m && +m[2] < th.length) sort(+m[2], m[1] === '-');\n"
	"})();\n";

/* Writes text escaped, keeping its newlines (for a <pre>). */
static void markup_lines(FILE *out, char *text)
{
	for (char *p = text, *nl;; p = nl + 1) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl = '\0';
		ls_output_markup(out, p);
		if (nl == NULL)
			break;
		*nl = '\n';
		if (nl[1] != '\0')
			fputc('\n', out);
	}
}

/* Writes one table row for leak i; frames is its text-output frame lines. */
static void row(FILE *out, const struct ls_view *v, size_t i, const struct ls_leak *l, char *frames,
		const char *via)
{
	const struct ls_report *r = v->r;
	double share = r->total_est_bytes ? 100.0 * (double)l->est_bytes / (double)r->total_est_bytes : 0.0;
	char *top = frames, *nl = strchr(frames, '\n');

	fprintf(out,
		"<tr><td class=\"n\" data-v=\"%zu\">%zu</td><td class=\"n\" data-v=\"%llu\">%llu</td>"
		"<td class=\"n\" data-v=\"%llu\">%llu</td><td class=\"n\" data-v=\"%llu\">%llu</td>"
		"<td class=\"n\" data-v=\"%.6f\">%.1f%%</td>",
		i + 1, i + 1, (unsigned long long)l->est_bytes, (unsigned long long)l->est_bytes,
		(unsigned long long)l->est_count, (unsigned long long)l->est_count, (unsigned long long)l->count,
		(unsigned long long)l->count, share, share);
	/* the ages are validated decimals; escaped all the same */
	fputs("<td class=\"n\" data-v=\"", out);
	ls_output_markup(out, l->min_age);
	fputs("\">", out);
	ls_output_markup(out, l->min_age);
	fputs("</td><td class=\"n\" data-v=\"", out);
	ls_output_markup(out, l->max_age);
	fputs("\">", out);
	ls_output_markup(out, l->max_age);
	fputs("</td>", out);

	/* The top frame is the first frame line without its "#0 ". */
	if (nl != NULL)
		*nl = '\0';
	if (strncmp(top, "#0 ", 3) == 0)
		top += 3;
	fputs("<td data-v=\"", out);
	ls_output_markup(out, top);
	fputs("\"><details><summary>", out);
	ls_output_markup(out, top);
	fputs("</summary><pre>", out);
	if (nl != NULL)
		*nl = '\n';
	markup_lines(out, frames);
	fputs("</pre></details></td><td data-v=\"", out);
	ls_output_markup(out, via != NULL ? via : "");
	fputs("\">", out);
	ls_output_markup(out, via != NULL ? via : "");
	fputs("</td>", out);
	if (v->nproc > 1)
		fprintf(out, "<td class=\"n\" data-v=\"%zu\">%zu</td>", ls_view_nprocs(l), ls_view_nprocs(l));
	if (v->intervals) {
		struct ls_weights w = ls_estimate_leak(l);
		struct ls_ci b = ls_estimate_bytes(&w), c = ls_estimate_count(&w);
		double ends[] = { b.lo, b.hi, c.lo, c.hi };

		for (size_t k = 0; k < sizeof(ends) / sizeof(ends[0]); k++)
			fprintf(out, "<td class=\"n\" data-v=\"%.0f\">%.0f</td>", ends[k], ends[k]);
	}
	if (v->series) {
		const char *name = ls_verdict_name(l->verdict.kind);
		double g = isfinite(l->verdict.growth) ? l->verdict.growth : 0;

		fprintf(out, "<td data-v=\"%s\" title=\"%s\">%s</td>", name ? name : "",
			l->verdict.reason ? l->verdict.reason : "", name ? name : "-");
		fprintf(out, "<td class=\"n\" data-v=\"%.6g\">%.1f</td><td data-v=\"%.6g\">", g, g, g);
		sparkline(out, l);
		fputs("</td>", out);
	}
	fputs("</tr>\n", out);
}

int ls_html_write(FILE *out, const struct ls_view *v, size_t top)
{
	const struct ls_report *r = v->r;
	size_t n = top > 0 && top < r->nleak ? top : r->nleak;
	struct ls_stack st = { 0 };
	struct ls_buf scratch = { 0 };
	struct ls_flame fl;
	char *text = NULL;
	size_t len = 0;
	FILE *mem = NULL;
	bool nomem = false;
	int err;

	if ((err = ls_flame_build(&fl, v, top)) != 0)
		goto out;
	err = -ENOMEM;
	if ((mem = open_memstream(&text, &len)) == NULL)
		goto out;
	ls_output_summary(mem, v);
	if (fclose(mem) != 0)
		goto out;
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"generator\" content=\"leakscope-translate\">\n<title>",
	      out);
	ls_output_markup(out, text);
	fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>leakscope report</h1>\n<p class=\"sum\">",
		page_css);
	ls_output_markup(out, text);
	fputs("</p>\n", out);
	if (v->merged) {
		free(text);
		text = NULL;
		if ((mem = open_memstream(&text, &len)) == NULL)
			goto out;
		ls_output_processes(mem, v);
		if (fclose(mem) != 0)
			goto out;
		fputs("<pre class=\"sum\">", out);
		markup_lines(out, text);
		fputs("</pre>\n", out);
	}
	fputs("<h2>Leaked bytes by stack</h2>\n"
	      "<p class=\"hint\">Hover a frame for its file, line and bytes; click it to zoom in.</p>\n",
	      out);
	if ((err = ls_flame_svg(out, &fl, v, false)) != 0)
		goto out;
	fprintf(out, "<h2>Leaks (%zu of %zu)</h2>\n<p class=\"hint\">Click a column header to sort; "
		     "click a top frame for the whole stack.</p>\n<table id=\"ls-leaks\">\n<thead><tr>",
		n, r->nleak);
	for (size_t k = 0; k < sizeof(columns) / sizeof(columns[0]); k++)
		fprintf(out, "<th data-t=\"%s\"%s>%s</th>", columns[k].num ? "n" : "s", k == 0 ? " data-s=\"a\"" : "",
			columns[k].label);
	/* after the others, so that #sort=K names the same column either way */
	if (v->nproc > 1)
		fputs("<th data-t=\"n\">processes</th>", out);
	for (size_t k = 0; v->intervals && k < sizeof(interval_columns) / sizeof(interval_columns[0]); k++)
		fprintf(out, "<th data-t=\"n\">%s</th>", interval_columns[k]);
	for (size_t k = 0; v->series && k < sizeof(verdict_columns) / sizeof(verdict_columns[0]); k++)
		fprintf(out, "<th data-t=\"%s\">%s</th>", k == 0 ? "s" : "n", verdict_columns[k]);
	fputs("</tr></thead>\n<tbody>\n", out);
	for (size_t i = 0; i < n; i++) {
		const struct ls_leak *l = &r->leak[i];
		const char *via;

		free(text);
		text = NULL;
		if ((err = ls_output_expand(&st, ls_view_sym(v, l), l)) != 0)
			goto out;
		err = -ENOMEM;
		if ((mem = open_memstream(&text, &len)) == NULL)
			goto out;
		ls_output_frames(mem, &st);
		if (fclose(mem) != 0)
			goto out;
		via = ls_output_via(&st, l, &scratch, &nomem);
		if (nomem)
			goto out;
		row(out, v, i, l, text, via);
	}
	fputs("</tbody>\n</table>\n<script>\n", out);
	ls_flame_script(out);
	fputs(sort_js, out);
	fputs("</script>\n</body>\n</html>\n", out);
	err = 0;
out:
	free(text);
	free(st.v);
	ls_buf_free(&scratch);
	ls_flame_free(&fl);
	if (err == 0 && (fflush(out) != 0 || ferror(out)))
		err = -EIO;
	return err;
}
