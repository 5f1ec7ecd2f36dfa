/* SPDX-License-Identifier: MIT */
/* output.c: the text, json and folded writers, a stack's frames and headline, and markup escaping. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

/* ----------------------------------------------------------------- helpers */

/* Writes a frame's short name for folded output (function, else
 * MODULE+0xOFF, else ??), with each ';' as ':' (';' separates frames). */
static void short_name(FILE *out, const struct ls_vframe *v)
{
	const char *s = v->f->function != NULL ? v->f->function : v->loc->module;

	if (s == NULL) {
		fputs("??", out);
		return;
	}
	for (const char *semi; (semi = strchr(s, ';')) != NULL; s = semi + 1)
		fprintf(out, "%.*s:", (int)(semi - s), s);
	fputs(s, out);
	if (v->f->function == NULL)
		fprintf(out, "+0x%llx", (unsigned long long)v->loc->offset);
}

const char *ls_output_name(const struct ls_vframe *v, struct ls_buf *scratch)
{
	if (v->f->function != NULL)
		return v->f->function;
	if (v->loc->module == NULL)
		return "??";
	scratch->len = 0;
	if (ls_buf_printf(scratch, "%s+0x%llx", v->loc->module, (unsigned long long)v->loc->offset) != 0)
		return NULL;
	return scratch->s;
}

/* C++ operator new's via= tokens, shown by the name a demangler gives. */
static const char *const cxx_names[][2] = {
	{ "new", "operator new(unsigned long)" },
	{ "new_array", "operator new[](unsigned long)" },
	{ "new_nothrow", "operator new(unsigned long, std::nothrow_t const&)" },
	{ "new_array_nothrow", "operator new[](unsigned long, std::nothrow_t const&)" },
	{ "new_aligned", "operator new(unsigned long, std::align_val_t)" },
	{ "new_array_aligned", "operator new[](unsigned long, std::align_val_t)" },
	{ "new_aligned_nothrow", "operator new(unsigned long, std::align_val_t, std::nothrow_t const&)" },
	{ "new_array_aligned_nothrow", "operator new[](unsigned long, std::align_val_t, std::nothrow_t const&)" },
};

const char *ls_output_api(const char *via)
{
	for (size_t i = 0; via != NULL && i < sizeof(cxx_names) / sizeof(cxx_names[0]); i++)
		if (strcmp(via, cxx_names[i][0]) == 0)
			return cxx_names[i][1];
	return via;
}

const char *ls_output_via(const struct ls_stack *st, const struct ls_leak *l, struct ls_buf *scratch, bool *nomem)
{
	const char *s;

	if (st->via != NULL)
		return st->via;
	if (st->skip == 0)
		return l != NULL ? ls_output_api(l->via) : NULL;
	s = ls_output_name(&st->v[st->skip - 1], scratch);
	if (s == NULL)
		*nomem = true;
	return s;
}

int ls_output_expand(struct ls_stack *st, struct ls_sym *y, const struct ls_leak *l)
{
	st->n = 0;
	for (size_t i = 0; i < l->naddr; i++) {
		const struct ls_loc *loc = ls_sym_lookup(y, l->addr[i], i > 0);

		if (loc == NULL)
			return -ENOMEM;
		for (size_t j = 0; j < loc->nframe; j++) {
			if (st->n == st->cap) {
				size_t cap = st->cap ? st->cap * 2 : 256;
				struct ls_vframe *v = realloc(st->v, cap * sizeof(*v));

				if (v == NULL)
					return -ENOMEM;
				st->v = v;
				st->cap = cap;
			}
			st->v[st->n++] = (struct ls_vframe){ loc, &loc->frame[j] };
		}
	}
	ls_fold_stack(st);
	return 0;
}

/* -------------------------------------------------------------------- json */

/* Writes the inside of a JSON string for s: escapes quotes, backslashes
 * and control bytes, passes valid UTF-8 through and turns invalid bytes
 * into U+FFFD. */
static void json_str_body(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		const unsigned char *run = p;

		/* Plain ASCII goes out in one piece. */
		while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
			p++;
		if (p > run)
			fwrite(run, 1, (size_t)(p - run), out);
		if (*p == '\0')
			break;
		unsigned c = *p;
		size_t len = ls_util_utf8_len(p);

		if (len == 0) {
			fputs("\\ufffd", out);
			p++;
			continue;
		}
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fwrite(p, 1, len, out);
		p += len;
	}
}

/* Writes s as a JSON string, or null. */
static void json_str(FILE *out, const char *s)
{
	if (s == NULL) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	json_str_body(out, s);
	fputc('"', out);
}

/* Writes a validated decimal as a JSON number (no superfluous leading zeros). */
static void json_decimal(FILE *out, const char *s)
{
	while (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
		s++;
	fputs(s, out);
}

static const char *loc_error(const struct ls_loc *loc)
{
	switch (loc->status) {
	case LS_LOC_MISMATCH:
		return "build-id mismatch";
	case LS_LOC_MISSING:
		return "module missing";
	case LS_LOC_UNMAPPED:
		return "not in any map";
	default:
		return NULL;
	}
}

/* Writes "via", "folded" and "frames": via is ls_output_via's, folded
 * the number of leading frames the other formats fold into it. */
static void json_frames(FILE *out, const struct ls_stack *st, const char *indent, const char *via)
{
	fputs("\"via\": ", out);
	json_str(out, via);
	fprintf(out, ", \"folded\": %zu", st->skip);
	fputs(", \"frames\": [", out);
	for (size_t i = 0; i < st->n; i++) {
		const struct ls_vframe *v = &st->v[i];
		char buf[32];

		fprintf(out, "%s\n%s{\"addr\": \"0x%llx\", \"module\": ", i ? "," : "", indent,
			(unsigned long long)v->loc->addr);
		json_str(out, v->loc->module);
		fputs(", \"offset\": ", out);
		if (v->loc->has_offset) {
			snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v->loc->offset);
			json_str(out, buf);
		} else {
			fputs("null", out);
		}
		fputs(", \"function\": ", out);
		json_str(out, v->f->function);
		fputs(", \"file\": ", out);
		json_str(out, v->f->file);
		if (v->f->line > 0)
			fprintf(out, ", \"line\": %u", v->f->line);
		else
			fputs(", \"line\": null", out);
		fprintf(out, ", \"inlined\": %s, \"error\": ", v->f->inlined ? "true" : "false");
		json_str(out, loc_error(v->loc));
		fputc('}', out);
	}
	fputs("]", out);
}

/* Writes r's header keys and its "maps" array as members of a JSON object,
 * each line after indent; the caller ends the last line. */
static void json_header(FILE *out, const struct ls_report *r, const char *indent)
{
	for (size_t i = 0; i < r->nhdr; i++) {
		const struct ls_hdr *h = &r->hdr[i];

		/* "maps" becomes the array below; "leaks" is ours too. */
		if (strcmp(h->key, "maps") == 0 || strcmp(h->key, "leaks") == 0)
			continue;
		fputs(indent, out);
		json_str(out, h->key);
		fputs(": ", out);
		switch (h->kind) {
		case LS_HDR_INT:
			fprintf(out, "%llu", (unsigned long long)h->a);
			break;
		case LS_HDR_DECIMAL:
			json_decimal(out, h->value);
			break;
		case LS_HDR_PAIR:
			fprintf(out, "{\"count\": %llu, \"bytes\": %llu}", (unsigned long long)h->a,
				(unsigned long long)h->b);
			break;
		case LS_HDR_BIG_PAIR: { /* two integers of any size, as written */
			const char *x = h->value, *sp = strchr(x, ' ');

			while (x[0] == '0' && x + 1 < sp)
				x++;
			fprintf(out, "{\"count\": %.*s, \"bytes\": ", (int)(sp - x), x);
			json_decimal(out, sp + 1);
			fputc('}', out);
			break;
		}
		case LS_HDR_STRING:
			json_str(out, h->value);
			break;
		}
		fputs(",\n", out);
	}
	fprintf(out, "%s\"maps\": [", indent);
	for (size_t i = 0; i < r->nmap; i++) {
		const struct ls_map *m = &r->map[i];
		char id[2 * LS_BUILD_ID_MAX + 1];

		for (size_t j = 0; j < m->build_id_len; j++)
			snprintf(id + 2 * j, 3, "%02x", m->build_id[j]);
		fprintf(out, "%s\n%s  {\"start\": \"0x%llx\", \"end\": \"0x%llx\", \"perms\": ", i ? "," : "", indent,
			(unsigned long long)m->start, (unsigned long long)m->end);
		json_str(out, m->perms);
		fprintf(out, ", \"offset\": \"0x%llx\", \"build_id\": ", (unsigned long long)m->offset);
		json_str(out, m->build_id_len ? id : NULL);
		fputs(", \"path\": ", out);
		json_str(out, m->path);
		fputc('}', out);
	}
	if (r->nmap)
		fprintf(out, "\n%s", indent);
	fputc(']', out);
}

/* ------------------------------------------------------------------ merged */

/* The merged counterpart of the report header, for json. */
static void json_merged_header(FILE *out, const struct ls_view *v)
{
	static const char *const tree_ints[] = { "exited", "exit_reports_dropped", "unreachable" };
	static const char *const sums[] = { "sampled", "dropped" };
	static const char *const pairs[] = { "live", "estimated" };
	const struct ls_hdr *root = ls_view_root(v);
	uint64_t a, b;
	size_t nerror = 0;

	fprintf(out, "  \"processes\": %zu,\n", v->nproc);
	if (root != NULL)
		fprintf(out, "  \"root\": %llu,\n", (unsigned long long)root->a);
	for (size_t i = 0; i < sizeof(tree_ints) / sizeof(tree_ints[0]); i++)
		if (ls_view_tree_sum(v, tree_ints[i], &a))
			fprintf(out, "  \"%s\": %llu,\n", tree_ints[i], (unsigned long long)a);
	for (size_t t = 0; t < v->ntree; t++) {
		for (size_t i = 0; i < v->tree[t].nerror; i++) {
			fputs(nerror++ ? ", " : "  \"error\": [", out);
			json_str(out, v->tree[t].error[i]);
		}
	}
	if (nerror)
		fputs("],\n", out);
	for (size_t i = 0; i < sizeof(sums) / sizeof(sums[0]); i++) {
		ls_view_proc_sum(v, sums[i], &a, &b);
		fprintf(out, "  \"%s\": %llu,\n", sums[i], (unsigned long long)a);
	}
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		ls_view_proc_sum(v, pairs[i], &a, &b);
		fprintf(out, "  \"%s\": {\"count\": %llu, \"bytes\": %llu},\n", pairs[i], (unsigned long long)a,
			(unsigned long long)b);
	}
	fprintf(out, "  \"stacks\": %zu,\n  \"reports\": [", v->r->nleak);
	for (size_t p = 0; p < v->nproc; p++) {
		fputs(p ? ",\n    {\n" : "\n    {\n", out);
		json_header(out, &v->proc[p].r, "      ");
		fputs("\n    }", out);
	}
	fputs(v->nproc ? "\n  ]" : "]", out);
}

/* Writes the "processes" and "pids" members of merged leak l. */
static void json_procs(FILE *out, const struct ls_view *v, const struct ls_leak *l)
{
	fprintf(out, ", \"processes\": %zu, \"pids\": [", ls_view_nprocs(l));
	for (size_t i = 0; i < ls_view_nprocs(l); i++) {
		const struct ls_hdr *h = ls_report_header(&v->proc[l->procs ? l->procs[i] : l->proc].r, "pid");

		if (i)
			fputs(", ", out);
		if (h != NULL && h->kind == LS_HDR_INT)
			fprintf(out, "%llu", (unsigned long long)h->a);
		else
			fputs("null", out);
	}
	fputc(']', out);
}

/* ------------------------------------------------------------------ markup */

void ls_output_markup(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		const unsigned char *run = p;

		while (*p >= 0x20 && *p < 0x7f && *p != '&' && *p != '<' && *p != '>' && *p != '"' && *p != '\'')
			p++;
		if (p > run)
			fwrite(run, 1, (size_t)(p - run), out);
		if (*p == '\0')
			break;
		size_t len = ls_util_utf8_len(p);

		switch (*p) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			/* XML 1.0 allows neither C0 controls (but tab and newlines,
			 * which attribute values would not keep) nor U+FFFE/U+FFFF;
			 * C1 controls (U+0080..U+009F) are allowed but not wanted. */
			if (len <= 1 || (p[0] == 0xc2 && p[1] < 0xa0) ||
			    (len == 3 && p[0] == 0xef && p[1] == 0xbf && p[2] >= 0xbe))
				fputs("\xef\xbf\xbd", out);
			else
				fwrite(p, 1, len, out);
		}
		p += len > 0 ? len : 1;
	}
}

/* -------------------------------------------------------------------- text */

static void text_frame(FILE *out, size_t i, const struct ls_vframe *v)
{
	const struct ls_loc *loc = v->loc;

	fprintf(out, "#%zu ", i);
	if (loc->module == NULL)
		fprintf(out, "?? (0x%llx)", (unsigned long long)loc->addr);
	else if (v->f->function != NULL || v->f->file != NULL)
		fputs(v->f->function != NULL ? v->f->function : "??", out);
	else
		fprintf(out, "%s+0x%llx", loc->module, (unsigned long long)loc->offset);
	if (v->f->file != NULL) {
		fprintf(out, " at %s", v->f->file);
		if (v->f->line > 0)
			fprintf(out, ":%u", v->f->line);
	}
	if (loc->module != NULL && (v->f->function != NULL || v->f->file != NULL))
		fprintf(out, " (%s)", loc->module);
	if (v->f->inlined)
		fputs(" [inlined]", out);
	if (loc->status == LS_LOC_MISMATCH)
		fputs(" [build-id mismatch]", out);
	else if (loc->status == LS_LOC_MISSING)
		fputs(" [module missing]", out);
	fputc('\n', out);
}

void ls_output_frames(FILE *out, const struct ls_stack *st)
{
	if (st->skip == st->n)
		fputs("(no frames)\n", out);
	for (size_t i = st->skip; i < st->n; i++)
		text_frame(out, i - st->skip, &st->v[i]);
}

static void text_leak(FILE *out, const struct ls_view *v, size_t i, const struct ls_leak *l, const struct ls_stack *st,
		      const char *via)
{
	const struct ls_report *r = v->r;
	double share = r->total_est_bytes ? 100.0 * (double)l->est_bytes / (double)r->total_est_bytes : 0.0;

	if (v->diff) {
		fprintf(out, "\nleak %zu: %+.0f allocations, %+.0f bytes estimated since the base (%llu -> %llu allocations, "
			"%llu -> %llu bytes)%s", i + 1, l->delta_est_count, l->delta_est_bytes,
			(unsigned long long)l->base_est_count, (unsigned long long)(l->base_est_count + l->delta_est_count),
			(unsigned long long)l->base_est_bytes, (unsigned long long)(l->base_est_bytes + l->delta_est_bytes),
			!l->in_base ? ", new" : !l->in_new ? ", gone" : "");
		ls_verdict_text(out, l);
		if (via != NULL)
			fprintf(out, ", via %s", via);
		fputc('\n', out);
		ls_output_frames(out, st);
		return;
	}
	fprintf(out, "\nleak %zu: %llu allocations", i + 1, (unsigned long long)l->est_count);
	if (v->intervals) {
		struct ls_weights w = ls_estimate_leak(l);

		fputs(" (95%: ", out);
		ls_estimate_text(out, ls_estimate_count(&w), false);
		fprintf(out, "), %llu bytes estimated (95%%: ", (unsigned long long)l->est_bytes);
		ls_estimate_text(out, ls_estimate_bytes(&w), true);
		fputc(')', out);
	} else {
		fprintf(out, ", %llu bytes estimated", (unsigned long long)l->est_bytes);
	}
	fprintf(out, " (%llu sampled, %llu bytes), %.1f%% of total, age %s-%s s", (unsigned long long)l->count,
		(unsigned long long)l->bytes, share, l->min_age, l->max_age);
	/* the verdict before the processes and via: the headline ends with
	 * ", in N processes, via NAME" */
	ls_verdict_text(out, l);
	if (v->nproc > 1)
		fprintf(out, ", in %zu process%s", ls_view_nprocs(l), ls_view_nprocs(l) == 1 ? "" : "es");
	if (via != NULL)
		fprintf(out, ", via %s", via);
	fputc('\n', out);
	ls_output_frames(out, st);
}

/* ------------------------------------------------------------------ folded */

static void folded(FILE *out, const struct ls_stack *st, uint64_t value)
{
	if (st->skip == st->n)
		return;
	for (size_t i = st->n; i-- > st->skip;) {
		if (i + 1 != st->n)
			fputc(';', out);
		short_name(out, &st->v[i]);
	}
	fprintf(out, " %llu\n", (unsigned long long)value);
}

/* ------------------------------------------------------------------ drivers */

int ls_output_report(FILE *out, const struct ls_view *v, enum ls_format fmt, size_t top)
{
	const struct ls_report *r = v->r;
	struct ls_stack st = { 0 };
	struct ls_buf scratch = { 0 };
	size_t n = top > 0 && top < r->nleak ? top : r->nleak;
	int err = 0;

	/* pprof, svg and html have writers of their own (main.c) */
	if (fmt > LS_FMT_FOLDED)
		return -EINVAL;
	if (fmt == LS_FMT_JSON) {
		fputs("{\n", out);
		if (v->merged)
			json_merged_header(out, v);
		else
			json_header(out, r, "  ");
		if (v->intervals)
			ls_estimate_json_totals(out, v, "  ");
		if (v->series)
			ls_verdict_json_totals(out, r, "  ");
		if (v->diff)
			fprintf(out, ",\n  \"base_processes\": %zu", v->nbase);
		fputs(",\n  \"leaks\": [", out);
	} else if (fmt == LS_FMT_TEXT) {
		ls_output_summary(out, v);
		fputc('\n', out);
		ls_output_processes(out, v);
	}
	for (size_t i = 0; i < n; i++) {
		const struct ls_leak *l = &r->leak[i];
		const char *via;
		bool nomem = false;

		if ((err = ls_output_expand(&st, ls_view_sym(v, l), l)) != 0)
			goto out;
		via = ls_output_via(&st, l, &scratch, &nomem);
		if (nomem) {
			err = -ENOMEM;
			goto out;
		}
		switch (fmt) {
		case LS_FMT_JSON:
			fprintf(out,
				"%s\n    {\"est_count\": %llu, \"est_bytes\": %llu, \"count\": %llu, \"bytes\": %llu, "
				"\"min_age\": ",
				i ? "," : "", (unsigned long long)l->est_count, (unsigned long long)l->est_bytes,
				(unsigned long long)l->count, (unsigned long long)l->bytes);
			json_decimal(out, l->min_age);
			fputs(", \"max_age\": ", out);
			json_decimal(out, l->max_age);
			if (v->intervals)
				ls_estimate_json_leak(out, l);
			ls_verdict_json_leak(out, l);
			if (v->diff)
				fprintf(out,
					", \"base_est_count\": %llu, \"base_est_bytes\": %llu, \"base_count\": %llu, "
					"\"delta_est_count\": %.0f, \"delta_est_bytes\": %.0f, \"delta_count\": %.0f, "
					"\"in_base\": %s, \"in_new\": %s",
					(unsigned long long)l->base_est_count, (unsigned long long)l->base_est_bytes,
					(unsigned long long)l->base_count, l->delta_est_count, l->delta_est_bytes,
					l->delta_count, l->in_base ? "true" : "false", l->in_new ? "true" : "false");
			if (v->merged)
				json_procs(out, v, l);
			fputs(",\n     ", out);
			json_frames(out, &st, "      ", via);
			fputs("}", out);
			break;
		case LS_FMT_TEXT:
			text_leak(out, v, i, l, &st, via);
			break;
		case LS_FMT_FOLDED:
			folded(out, &st, l->est_bytes);
			break;
		default:
			break; /* refused above */
		}
	}
	if (fmt == LS_FMT_JSON)
		fputs(n ? "\n  ]\n}\n" : "]\n}\n", out);
out:
	free(st.v);
	ls_buf_free(&scratch);
	if (err == 0 && (fflush(out) != 0 || ferror(out)))
		err = -EIO;
	return err;
}

int ls_output_stack(FILE *out, struct ls_report *r, struct ls_sym *y, enum ls_format fmt)
{
	struct ls_stack st = { 0 };
	struct ls_buf scratch = { 0 };
	const struct ls_leak *l;
	const char *via;
	bool nomem = false;
	int err;

	if (r->nleak == 0 || fmt > LS_FMT_FOLDED)
		return -EINVAL;
	l = &r->leak[r->nleak - 1];
	if ((err = ls_output_expand(&st, y, l)) != 0)
		goto out;
	via = ls_output_via(&st, l, &scratch, &nomem);
	if (nomem) {
		err = -ENOMEM;
		goto out;
	}
	switch (fmt) {
	case LS_FMT_JSON:
		fputs("{", out);
		json_frames(out, &st, "  ", via);
		fputs("}\n", out);
		break;
	case LS_FMT_TEXT:
		if (via != NULL)
			fprintf(out, "via %s\n", via);
		ls_output_frames(out, &st);
		break;
	case LS_FMT_FOLDED:
		folded(out, &st, 1);
		break;
	default:
		break; /* refused above */
	}
out:
	free(st.v);
	ls_buf_free(&scratch);
	if (err == 0 && (fflush(out) != 0 || ferror(out)))
		err = -EIO;
	return err;
}
