/* SPDX-License-Identifier: MIT */
/* report.c: reads and validates a leakscope report (docs/report-format.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

#define MAX_ADDRS 4096 /* per record; max_frames is 32 by default */

/* ------------------------------------------------------------------ header */

/* The header keys of version 1; version 2 adds the mode, its byte
 * parameter and the variances (docs/weights.md). A version 1 report with
 * such keys has keys its readers do not know, and they stay that. */
#define KEYS_V1                                                                                               \
	{ "format", LS_HDR_STRING }, { "version", LS_HDR_STRING }, { "pid", LS_HDR_INT },                     \
	{ "exe", LS_HDR_STRING }, { "sampling", LS_HDR_INT }, { "window_start", LS_HDR_DECIMAL },            \
	{ "window_seconds", LS_HDR_DECIMAL }, { "window_open", LS_HDR_STRING }, { "min_age", LS_HDR_DECIMAL }, \
	{ "max_frames", LS_HDR_INT }, { "unwinder", LS_HDR_STRING }, { "sampled", LS_HDR_INT },               \
	{ "dropped", LS_HDR_INT }, { "live", LS_HDR_PAIR }, { "estimated", LS_HDR_PAIR },                    \
	{ "stacks", LS_HDR_INT }, { "maps", LS_HDR_INT }
static const struct ls_hdr_key keys_v1[] = { KEYS_V1 };
static const struct ls_hdr_key keys_v2[] = {
	KEYS_V1,
	{ "mode", LS_HDR_STRING },
	{ "sampling_bytes", LS_HDR_INT },
	{ "variance", LS_HDR_BIG_PAIR },
	{ "series_bucket", LS_HDR_DECIMAL },
};

const struct ls_hdr *ls_report_header(const struct ls_report *r, const char *key)
{
	return ls_hdr_find(r->hdr, r->nhdr, key);
}

bool ls_report_is_format(const char *line)
{
	return strncmp(line, LS_REPORT_FORMAT, strlen(LS_REPORT_FORMAT)) == 0;
}

/* Parses one "key: value" header line of a report of r->version. */
static int parse_header(struct ls_lines *rd, struct ls_report *r)
{
	const struct ls_hdr *h;
	int err = r->version >= 2 ? ls_lines_header(rd, &r->hdr, &r->nhdr, keys_v2, sizeof(keys_v2) / sizeof(keys_v2[0]))
				  : ls_lines_header(rd, &r->hdr, &r->nhdr, keys_v1, sizeof(keys_v1) / sizeof(keys_v1[0]));

	if (err)
		return err;
	h = ls_report_header(r, "window_open");
	if (h != NULL && strcmp(h->value, "yes") != 0 && strcmp(h->value, "no") != 0)
		return ls_lines_bad(rd, "header 'window_open' wants yes or no");
	h = ls_report_header(r, "mode");
	if (r->version >= 2 && h != NULL && strcmp(h->value, "count") != 0 && strcmp(h->value, "bytes") != 0)
		return ls_lines_bad(rd, "header 'mode' wants count or bytes");
	return 0;
}

/* Reads the version of format line rd->buf into r->version. Returns 0, or
 * -EINVAL (reported) for a line that is no report's, or a version this
 * translator does not read. */
static int parse_version(struct ls_lines *rd, struct ls_report *r)
{
	const char *v = rd->buf + strlen(LS_REPORT_FORMAT);
	uint64_t n;

	if (!ls_report_is_format(rd->buf) || !ls_util_parse_u64(v, strlen(v), &n))
		return ls_lines_bad(rd, "not a leakscope report (want '" LS_REPORT_FORMAT "1' or '" LS_REPORT_FORMAT
				    "2')");
	if (n != 1 && n != 2)
		return ls_lines_bad(rd, "unsupported report format version %llu (this translator reads " LS_REPORT_VERSIONS
				    ")", (unsigned long long)n);
	r->version = (unsigned)n;
	return 0;
}

/* Reads the mode of r's header, once it is complete: version 2 says it
 * (mode, then sampling: N or sampling_bytes: B, never both, and
 * variance); version 1 is count mode, with the sampling: N it may have.
 * Returns 0 or -EINVAL (reported, at the line after the header). */
static int parse_mode(struct ls_lines *rd, struct ls_report *r)
{
	const struct ls_hdr *mode = ls_report_header(r, "mode"), *n = ls_report_header(r, "sampling");
	const struct ls_hdr *b = ls_report_header(r, "sampling_bytes");

	if (r->version < 2) {
		r->sampling = n != NULL && n->kind == LS_HDR_INT ? n->a : 0;
		return 0;
	}
	if (mode == NULL)
		return ls_lines_bad(rd, "header lacks 'mode:' (count or bytes)");
	if (strcmp(mode->value, "count") == 0 && (n == NULL || b != NULL || n->a == 0))
		return ls_lines_bad(rd, "mode count wants 'sampling: N' (N >= 1) and no 'sampling_bytes:'");
	if (strcmp(mode->value, "bytes") == 0 && (b == NULL || n != NULL || b->a == 0))
		return ls_lines_bad(rd, "mode bytes wants 'sampling_bytes: B' (B >= 1) and no 'sampling:'");
	if (ls_report_header(r, "variance") == NULL)
		return ls_lines_bad(rd, "header lacks 'variance:'");
	r->sampling = b == NULL ? n->a : 0;
	r->sampling_bytes = b != NULL ? b->a : 0;
	return 0;
}

/* --------------------------------------------------------------------- maps */

/* Splits off the next token ending in a single space; NULL when absent. */
static const char *token(const char **p, size_t *len)
{
	const char *s = *p, *sp = strchr(s, ' ');

	if (sp == NULL || sp == s)
		return NULL;
	*len = (size_t)(sp - s);
	*p = sp + 1;
	return s;
}

/* Parses "START-END PERMS OFFSET BUILD_ID PATH" (after "map: "). */
static int parse_map(struct ls_lines *rd, struct ls_report *r, const char *p)
{
	const char *t, *dash;
	size_t len;
	struct ls_map *m = ls_util_push((void **)&r->map, &r->nmap, sizeof(*m));

	if (m == NULL)
		return -ENOMEM;
	if ((t = token(&p, &len)) == NULL)
		return ls_lines_bad(rd, "map: missing address range");
	dash = memchr(t, '-', len);
	if (dash == NULL || !ls_util_parse_hex(t, (size_t)(dash - t), &m->start) ||
	    !ls_util_parse_hex(dash + 1, len - (size_t)(dash - t) - 1, &m->end))
		return ls_lines_bad(rd, "map: bad address range (want START-END in hex)");
	if (m->start >= m->end)
		return ls_lines_bad(rd, "map: empty or reversed address range");
	if ((t = token(&p, &len)) == NULL || len != 4 || (t[0] != 'r' && t[0] != '-') ||
	    (t[1] != 'w' && t[1] != '-') || (t[2] != 'x' && t[2] != '-') || (t[3] != 'p' && t[3] != 's'))
		return ls_lines_bad(rd, "map: bad permissions (want e.g. r-xp)");
	memcpy(m->perms, t, 4);
	if ((t = token(&p, &len)) == NULL || !ls_util_parse_hex(t, len, &m->offset))
		return ls_lines_bad(rd, "map: bad file offset");
	if ((t = token(&p, &len)) == NULL)
		return ls_lines_bad(rd, "map: missing build ID or path");
	if (!(len == 1 && t[0] == '-') && !ls_util_parse_build_id(t, len, m->build_id, &m->build_id_len))
		return ls_lines_bad(rd, "map: bad build ID (want hex or -)");
	if (*p == '\0')
		return ls_lines_bad(rd, "map: missing path");
	m->path = strdup(p);
	return m->path == NULL ? -ENOMEM : 0;
}

/* ------------------------------------------------------------------ records */

/* Appends address a to leak l. */
static int add_addr(struct ls_leak *l, uint64_t a)
{
	uint64_t *p = ls_util_push((void **)&l->addr, &l->naddr, sizeof(*p));

	if (p == NULL)
		return -ENOMEM;
	*p = a;
	return 0;
}

/* Gives leak l of report r its sampling and, in version 1, the variances
 * docs/weights.md defines for it: count mode, N = the sampling header
 * (else est_count / count, which version 1 makes exact), var_count =
 * count N(N - 1) and, lacking the sum of squared sizes, var_bytes from
 * the mean size: N(N - 1) bytes^2 / count. */
static void weigh(const struct ls_report *r, struct ls_leak *l)
{
	double n, c = (double)l->count;

	if (r->version >= 2) {
		l->sampling = r->sampling;
		return;
	}
	l->sampling = r->sampling ? r->sampling : l->count ? l->est_count / l->count : 0;
	n = (double)l->sampling;
	l->var_count = c * n * (n - 1);
	l->var_bytes = l->count ? n * (n - 1) * (double)l->bytes * (double)l->bytes / c : 0;
}

#define MAX_SERIES 64 /* buckets a record may have; the preload writes 32 */

/* Parses series=B/D/VB/VD,... into l. 0 or -EINVAL (reported). */
static int parse_series(struct ls_lines *rd, struct ls_leak *l, const char *s, size_t len)
{
	if (l->series != NULL)
		return ls_lines_bad(rd, "leak: duplicate 'series'");
	if ((l->series = malloc(4 * MAX_SERIES * sizeof(*l->series))) == NULL)
		return -ENOMEM;
	for (size_t i = 0, k = 0; i <= len; k++) {
		size_t j = i;

		while (j < len && s[j] != '/' && s[j] != ',')
			j++;
		if (k >= 4 * MAX_SERIES || (k % 4 == 3) != (j == len || s[j] == ',') ||
		    !ls_util_parse_big(s + i, j - i, &l->series[k]))
			return ls_lines_bad(rd, "leak: 'series' wants groups B/D/VB/VD of integers, "
					    "comma-separated, at most %d", MAX_SERIES);
		if (j == len) {
			l->nseries = (k + 1) / 4;
			break;
		}
		i = j + 1;
	}
	return 0;
}

/* Parses "count=C bytes=B ... @ ADDR ..." (after "leak: "). */
static int parse_leak(struct ls_lines *rd, struct ls_report *r, const char *p, uint64_t max_frames)
{
	enum { COUNT, BYTES, EST_COUNT, EST_BYTES, MAX_AGE, MIN_AGE, VAR_COUNT, VAR_BYTES, NKEYS };
	static const char *const names[NKEYS] = { "count",   "bytes",	"est_count", "est_bytes",
						  "max_age", "min_age", "var_count", "var_bytes" };
	/* version 1 has no variances: they are keys its readers do not know */
	int nkeys = r->version >= 2 ? NKEYS : VAR_COUNT;
	bool seen[NKEYS] = { false };
	struct ls_leak *l = ls_util_push((void **)&r->leak, &r->nleak, sizeof(*l));
	uint64_t *ints[4];
	double *reals[NKEYS];
	const char *t;
	size_t len;
	int err;

	if (l == NULL)
		return -ENOMEM;
	ints[COUNT] = &l->count, ints[BYTES] = &l->bytes;
	ints[EST_COUNT] = &l->est_count, ints[EST_BYTES] = &l->est_bytes;
	reals[VAR_COUNT] = &l->var_count, reals[VAR_BYTES] = &l->var_bytes;
	for (;;) {
		if ((t = token(&p, &len)) == NULL) {
			if (strcmp(p, "@") == 0) {
				p += 1;
				break;
			}
			return ls_lines_bad(rd, "leak: missing '@ ADDR...'");
		}
		if (len == 1 && t[0] == '@')
			break;
		const char *eq = memchr(t, '=', len);

		if (eq == NULL || eq == t)
			return ls_lines_bad(rd, "leak: expected key=value before '@'");
		size_t klen = (size_t)(eq - t), vlen = len - klen - 1;
		int k = -1;

		if (klen == 6 && memcmp(t, "series", 6) == 0) {
			if ((err = parse_series(rd, l, eq + 1, vlen)) != 0)
				return err;
			continue;
		}
		if ((klen == 6 && memcmp(t, "allocs", 6) == 0) || (klen == 5 && memcmp(t, "frees", 5) == 0)) {
			if (!ls_util_parse_u64(eq + 1, vlen, klen == 6 ? &l->allocs : &l->frees))
				return ls_lines_bad(rd, "leak: '%.*s' wants an integer", (int)klen, t);
			continue;
		}
		if (klen == 3 && memcmp(t, "via", 3) == 0) {
			if (l->via != NULL)
				return ls_lines_bad(rd, "leak: duplicate 'via'");
			if (vlen == 0 || vlen > 32 || strspn(eq + 1, "abcdefghijklmnopqrstuvwxyz0123456789_") < vlen)
				return ls_lines_bad(rd, "leak: 'via' wants a function name");
			if ((l->via = strndup(eq + 1, vlen)) == NULL)
				return -ENOMEM;
			continue;
		}
		for (int i = 0; i < nkeys; i++)
			if (strlen(names[i]) == klen && memcmp(names[i], t, klen) == 0)
				k = i;
		if (k < 0)
			continue; /* readers ignore keys they do not know */
		if (seen[k])
			return ls_lines_bad(rd, "leak: duplicate '%s'", names[k]);
		seen[k] = true;
		if (k <= EST_BYTES) {
			if (!ls_util_parse_u64(eq + 1, vlen, ints[k]))
				return ls_lines_bad(rd, "leak: '%s' wants an integer", names[k]);
		} else if (k >= VAR_COUNT) {
			if (!ls_util_parse_big(eq + 1, vlen, reals[k]))
				return ls_lines_bad(rd, "leak: '%s' wants an integer", names[k]);
		} else {
			if (!ls_util_is_decimal(eq + 1, vlen))
				return ls_lines_bad(rd, "leak: '%s' wants a decimal number", names[k]);
			char *s = strndup(eq + 1, vlen);

			if (s == NULL)
				return -ENOMEM;
			*(k == MAX_AGE ? &l->max_age : &l->min_age) = s;
		}
	}
	for (int i = 0; i < nkeys; i++)
		if (!seen[i])
			return ls_lines_bad(rd, "leak: missing '%s='", names[i]);
	weigh(r, l);
	while (*p != '\0') {
		const char *sp = strchr(p, ' ');
		size_t alen = sp != NULL ? (size_t)(sp - p) : strlen(p);
		uint64_t a;

		if (alen < 3 || p[0] != '0' || p[1] != 'x' || !ls_util_parse_hex(p + 2, alen - 2, &a))
			return ls_lines_bad(rd, "leak: bad address (want 0x and hex)");
		if (l->naddr >= MAX_ADDRS || (max_frames > 0 && l->naddr >= max_frames))
			return ls_lines_bad(rd, "leak: more addresses than max_frames");
		if ((err = add_addr(l, a)) != 0)
			return err;
		p += alen;
		if (sp != NULL) {
			p++;
			if (*p == '\0' || *p == ' ')
				return ls_lines_bad(rd, "leak: stray space in the address list");
		}
	}
	return 0;
}

/* ------------------------------------------------------------------- driver */

/* Sets r's totals: each the header that gives it (live, estimated,
 * variance) when there is one, else the sum of the records. */
static void totals(struct ls_report *r)
{
	const struct ls_hdr *live = ls_report_header(r, "live"), *est = ls_report_header(r, "estimated");
	const struct ls_hdr *var = ls_report_header(r, "variance");
	struct ls_weights *t = &r->total;

	*t = (struct ls_weights){ .sampling = r->sampling };
	for (size_t i = 0; i < r->nleak; i++) {
		const struct ls_leak *l = &r->leak[i];

		ls_util_add_sat(&t->count, l->count);
		ls_util_add_sat(&r->total_est_bytes, l->est_bytes);
		t->est_count += (double)l->est_count;
		t->var_count += l->var_count;
		t->var_bytes += l->var_bytes;
	}
	if (live != NULL)
		t->count = live->a;
	if (est != NULL && est->a > 0)
		t->est_count = (double)est->a;
	if (est != NULL && est->b > 0)
		r->total_est_bytes = est->b;
	if (var != NULL && var->kind == LS_HDR_BIG_PAIR) {
		t->var_count = var->x;
		t->var_bytes = var->y;
	}
	t->est_bytes = (double)r->total_est_bytes;
}

/* Gives each leak with a series= the report's bucket width and window,
 * and its verdict (verdict.c). Without a series_bucket header a series
 * cannot be placed in time: the leak has none. */
static void series(struct ls_report *r)
{
	const struct ls_hdr *b = ls_report_header(r, "series_bucket");
	const struct ls_hdr *w = ls_report_header(r, "window_seconds");
	double bucket = b != NULL ? strtod(b->value, NULL) : 0;
	double window = w != NULL ? strtod(w->value, NULL) : 0;

	for (size_t i = 0; i < r->nleak; i++) {
		struct ls_leak *l = &r->leak[i];

		l->has_series = l->series != NULL && bucket > 0;
		l->bucket = bucket;
		l->window = window;
		ls_verdict_compute(l);
	}
}

int ls_report_parse(struct ls_report *r, struct ls_lines *rd)
{
	const struct ls_hdr *h;
	uint64_t nmaps, nstacks, max_frames = 0, end_n;
	int err;

	if ((err = parse_version(rd, r)) != 0 || (err = parse_header(rd, r)) != 0)
		goto out;

	/* Header lines run until the first map:, leak: or end: line. */
	for (;;) {
		if ((err = ls_lines_next(rd)) <= 0)
			goto eof;
		if (ls_lines_starts(rd, "map: ") || ls_lines_starts(rd, "leak: ") || ls_lines_starts(rd, "end: "))
			break;
		if ((err = parse_header(rd, r)) != 0)
			goto out;
	}
	if ((h = ls_report_header(r, "maps")) == NULL || (nmaps = h->a, (h = ls_report_header(r, "stacks")) == NULL)) {
		err = ls_lines_bad(rd, "header lacks 'maps:' or 'stacks:'");
		goto out;
	}
	if ((err = parse_mode(rd, r)) != 0)
		goto out;
	nstacks = h->a;
	if ((h = ls_report_header(r, "max_frames")) != NULL)
		max_frames = h->a;

	for (uint64_t i = 0; i < nmaps; i++) {
		if (i > 0 && (err = ls_lines_next(rd)) <= 0)
			goto eof;
		if (!ls_lines_starts(rd, "map: ")) {
			err = ls_lines_bad(rd, "expected map line %llu of %llu", (unsigned long long)i + 1,
					   (unsigned long long)nmaps);
			goto out;
		}
		if ((err = parse_map(rd, r, rd->buf + 5)) != 0)
			goto out;
	}
	for (uint64_t i = 0; i < nstacks; i++) {
		if ((i > 0 || nmaps > 0) && (err = ls_lines_next(rd)) <= 0)
			goto eof;
		if (!ls_lines_starts(rd, "leak: ")) {
			err = ls_lines_bad(rd, "expected leak record %llu of %llu", (unsigned long long)i + 1,
					   (unsigned long long)nstacks);
			goto out;
		}
		if ((err = parse_leak(rd, r, rd->buf + 6, max_frames)) != 0)
			goto out;
	}
	if ((nmaps > 0 || nstacks > 0) && (err = ls_lines_next(rd)) <= 0)
		goto eof;
	if (!ls_lines_end(rd, "stacks", &end_n)) {
		err = ls_lines_bad(rd, "expected 'end: %llu stacks'", (unsigned long long)nstacks);
		goto out;
	}
	if (end_n != nstacks) {
		err = ls_lines_bad(rd, "end line says %llu stacks, header says %llu", (unsigned long long)end_n,
				   (unsigned long long)nstacks);
		goto out;
	}

	totals(r);
	series(r);
	err = 0;
	goto out;
eof:
	if (err == 0) {
		rd->lineno++;
		err = ls_lines_bad(rd, "report ends early (truncated: no 'end:' line)");
	}
out:
	return err;
}

int ls_report_add_stack(struct ls_report *r, char *const *arg, size_t narg)
{
	struct ls_leak *l = ls_util_push((void **)&r->leak, &r->nleak, sizeof(*l));

	if (l == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < narg; i++) {
		const char *s = arg[i];
		uint64_t a;

		if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
			s += 2;
		if (!ls_util_parse_hex(s, strlen(s), &a)) {
			ls_util_msg("address argument %zu: '%.40s' is not a hex address", i + 1, arg[i]);
			return -EINVAL;
		}
		if (l->naddr >= MAX_ADDRS) {
			ls_util_msg("more than %d addresses", MAX_ADDRS);
			return -EINVAL;
		}
		if (add_addr(l, a) != 0)
			return -ENOMEM;
	}
	return 0;
}

void ls_report_free_leak(struct ls_leak *l)
{
	free(l->max_age);
	free(l->min_age);
	free(l->via);
	free(l->addr);
	free(l->procs);
	free(l->series);
}

void ls_report_free(struct ls_report *r)
{
	ls_hdr_free(r->hdr, r->nhdr);
	for (size_t i = 0; i < r->nmap; i++)
		free(r->map[i].path);
	for (size_t i = 0; i < r->nleak; i++)
		ls_report_free_leak(&r->leak[i]);
	free(r->map);
	free(r->leak);
	free(r->by_start);
	free(r->max_end);
	memset(r, 0, sizeof(*r));
}
