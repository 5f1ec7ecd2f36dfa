/* SPDX-License-Identifier: MIT */
/* tree.c: reads an operand, a report or a tree report (docs/process-trees.md, "Tree reports"), into the processes of a view. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

/* The header keys of a tree report; "error" may repeat and is read apart. */
static const struct ls_hdr_key tree_keys[] = {
	{ "format", LS_HDR_STRING },   { "version", LS_HDR_STRING },	 { "root", LS_HDR_INT },
	{ "processes", LS_HDR_INT },   { "live", LS_HDR_INT },		 { "exited", LS_HDR_INT },
	{ "exit_reports_dropped", LS_HDR_INT }, { "unreachable", LS_HDR_INT },
};

/* Reads the next line of a tree report, of which done reports of want
 * have been read (want: UINT64_MAX while in its header); the end of the
 * input there means the tree report was cut. Returns 1, or a negative
 * errno (reported). */
static int tree_line(struct ls_lines *rd, uint64_t done, uint64_t want)
{
	int err = ls_lines_next(rd);

	if (err != 0)
		return err;
	rd->lineno++;
	if (want == UINT64_MAX)
		return ls_lines_bad(rd, "tree report ends early (truncated in its header)");
	return ls_lines_bad(rd, "tree report ends early (truncated after %llu of %llu reports: no 'end: %llu reports' line)",
			    (unsigned long long)done, (unsigned long long)want, (unsigned long long)want);
}

/* Reads a tree report from its first line (the format line, current in rd)
 * to its end line. Returns 0 or a negative errno (reported). */
static int read_tree(struct ls_view *v, struct ls_lines *rd)
{
	struct ls_tree *t = ls_util_push((void **)&v->tree, &v->ntree, sizeof(*t));
	const struct ls_hdr *h;
	uint64_t n, end_n;
	int err;

	if (t == NULL)
		return -ENOMEM;
	if ((err = ls_lines_header(rd, &t->hdr, &t->nhdr, tree_keys, sizeof(tree_keys) / sizeof(tree_keys[0]))) != 0)
		return err;
	/* Header lines run until the first report or the end line. */
	for (;;) {
		if ((err = tree_line(rd, 0, UINT64_MAX)) < 0)
			return err;
		if (ls_lines_starts(rd, "format: ") || ls_lines_starts(rd, "end: "))
			break;
		if (ls_lines_starts(rd, "error: ")) {
			char **e = ls_util_push((void **)&t->error, &t->nerror, sizeof(*e));

			if (e == NULL || (*e = strdup(rd->buf + 7)) == NULL)
				return -ENOMEM;
			continue;
		}
		if ((err = ls_lines_header(rd, &t->hdr, &t->nhdr, tree_keys,
					   sizeof(tree_keys) / sizeof(tree_keys[0]))) != 0)
			return err;
	}
	if ((h = ls_hdr_find(t->hdr, t->nhdr, "processes")) == NULL)
		return ls_lines_bad(rd, "tree header lacks 'processes:'");
	n = h->a;
	for (uint64_t i = 0; i < n; i++) {
		struct ls_report *r;

		if (i > 0 && (err = tree_line(rd, i, n)) < 0)
			return err;
		if (!ls_lines_starts(rd, "format: "))
			return ls_lines_bad(rd, "expected report %llu of %llu ('" LS_REPORT_FORMAT "N')",
					    (unsigned long long)i + 1, (unsigned long long)n);
		if ((r = ls_view_add(v)) == NULL)
			return -ENOMEM;
		if ((err = ls_report_parse(r, rd)) != 0)
			return err;
	}
	if (n > 0 && (err = tree_line(rd, n, n)) < 0)
		return err;
	if (ls_lines_starts(rd, "format: "))
		return ls_lines_bad(rd, "more reports than the header's 'processes: %llu'", (unsigned long long)n);
	if (!ls_lines_end(rd, "reports", &end_n))
		return ls_lines_bad(rd, "expected 'end: %llu reports'", (unsigned long long)n);
	if (end_n != n)
		return ls_lines_bad(rd, "end line says %llu reports, header says %llu", (unsigned long long)end_n,
				    (unsigned long long)n);
	return 0;
}

int ls_tree_read(struct ls_view *v, FILE *in, const char *name, bool tree_ok)
{
	struct ls_lines rd = { .in = in, .name = name };
	struct ls_report *r;
	int err;

	err = ls_lines_next(&rd);
	if (err == 0) {
		rd.lineno = 1;
		err = ls_lines_bad(&rd, "empty report");
	}
	if (err < 0)
		goto out;
	if (tree_ok && strcmp(rd.buf, LS_TREE_FORMAT) == 0) {
		err = read_tree(v, &rd);
	} else if (tree_ok && !ls_report_is_format(rd.buf)) {
		err = ls_lines_bad(&rd, "not a leakscope report (want '" LS_REPORT_FORMAT "N' or '" LS_TREE_FORMAT "')");
	} else if ((r = ls_view_add(v)) == NULL) {
		err = -ENOMEM;
	} else {
		err = ls_report_parse(r, &rd);
	}
	if (err == 0 && (err = ls_lines_next(&rd)) > 0)
		err = ls_lines_bad(&rd, "data after the end line");
out:
	if (err == -ENOMEM)
		ls_util_msg("%s: out of memory", name);
	ls_lines_free(&rd);
	return err;
}
