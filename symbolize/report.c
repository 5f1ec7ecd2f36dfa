/* SPDX-License-Identifier: MIT */
/* report.c: reads and validates a leakscope report (docs/report-format.md). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

#define FORMAT_LINE "format: leakscope-report 1"
#define MAX_ADDRS 4096 /* per record; max_frames is 32 by default */

struct reader {
	FILE *in;
	const char *name;
	char *buf;
	size_t cap;
	size_t len;
	unsigned long lineno;
};

static int bad(const struct reader *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports a garbled line; always returns -EINVAL. */
static int bad(const struct reader *rd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s:%lu: ", LS_PROG, rd->name, rd->lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

/* Reads the next line into rd->buf without its newline. Returns 1 for a
 * line, 0 at end of input, -EINVAL for a line that is truncated or holds
 * control bytes (reported), -EIO or -ENOMEM. */
static int next_line(struct reader *rd)
{
	ssize_t n;

	errno = 0;
	n = getline(&rd->buf, &rd->cap, rd->in);
	if (n < 0) {
		if (ferror(rd->in)) {
			int err = errno == ENOMEM ? -ENOMEM : -EIO;

			ls_util_msg("%s: read error: %s", rd->name, strerror(errno ? errno : EIO));
			return err;
		}
		return 0;
	}
	rd->lineno++;
	if (n == 0 || rd->buf[n - 1] != '\n')
		return bad(rd, "truncated line (no newline at the end)");
	rd->len = (size_t)n - 1;
	rd->buf[rd->len] = '\0';
	for (size_t i = 0; i < rd->len; i++) {
		unsigned char c = (unsigned char)rd->buf[i];

		if (c < 0x20 || c == 0x7f)
			return bad(rd, "control byte 0x%02x in line", c);
	}
	return 1;
}

/* Capacity of a growing array holding n elements: 0, then powers of two. */
static size_t cap_for(size_t n)
{
	size_t c = 16;

	if (n == 0)
		return 0;
	while (c < n)
		c *= 2;
	return c;
}

/* Appends a zeroed element to a growing array; returns it or NULL. */
static void *push(void **arr, size_t *n, size_t size)
{
	size_t cap = cap_for(*n + 1);

	if (cap > cap_for(*n)) {
		void *p = cap > SIZE_MAX / size ? NULL : realloc(*arr, cap * size);

		if (p == NULL)
			return NULL;
		*arr = p;
	}
	char *e = (char *)*arr + *n * size;

	memset(e, 0, size);
	(*n)++;
	return e;
}

/* ------------------------------------------------------------------ header */

struct known {
	const char *key;
	enum ls_hdr_kind kind;
};

static const struct known known_keys[] = {
	{ "format", LS_HDR_STRING },	  { "version", LS_HDR_STRING },	 { "pid", LS_HDR_INT },
	{ "exe", LS_HDR_STRING },	  { "sampling", LS_HDR_INT },	 { "window_start", LS_HDR_DECIMAL },
	{ "window_seconds", LS_HDR_DECIMAL }, { "window_open", LS_HDR_STRING }, { "min_age", LS_HDR_DECIMAL },
	{ "max_frames", LS_HDR_INT },	  { "unwinder", LS_HDR_STRING }, { "sampled", LS_HDR_INT },
	{ "dropped", LS_HDR_INT },	  { "live", LS_HDR_PAIR },	 { "estimated", LS_HDR_PAIR },
	{ "stacks", LS_HDR_INT },	  { "maps", LS_HDR_INT },
};

static const struct known *find_known(const char *key)
{
	for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
		if (strcmp(known_keys[i].key, key) == 0)
			return &known_keys[i];
	return NULL;
}

const struct ls_hdr *ls_report_header(const struct ls_report *r, const char *key)
{
	for (size_t i = 0; i < r->nhdr; i++)
		if (strcmp(r->hdr[i].key, key) == 0)
			return &r->hdr[i];
	return NULL;
}

/* True for the characters a header key may hold. */
static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-' || c == '.';
}

/* Parses one "key: value" header line. */
static int parse_header(struct reader *rd, struct ls_report *r)
{
	const char *line = rd->buf, *colon = strchr(line, ':'), *val;
	const struct known *k;
	struct ls_hdr *h;
	size_t klen, vlen;

	if (colon == NULL || colon == line)
		return bad(rd, "expected 'key: value'");
	klen = (size_t)(colon - line);
	if (klen > 64)
		return bad(rd, "header key too long");
	for (size_t i = 0; i < klen; i++)
		if (!key_char(line[i]))
			return bad(rd, "bad character in header key");
	val = colon + 1;
	if (*val == ' ')
		val++;
	else if (*val != '\0')
		return bad(rd, "expected a space after ':'");
	vlen = strlen(val);

	char key[65];

	memcpy(key, line, klen);
	key[klen] = '\0';
	k = find_known(key);
	if (ls_report_header(r, key) != NULL) {
		if (k != NULL)
			return bad(rd, "duplicate header '%s'", key);
		return 0; /* an unknown key seen twice: the first one stands */
	}
	h = push((void **)&r->hdr, &r->nhdr, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->key = strdup(key);
	h->value = strdup(val);
	if (h->key == NULL || h->value == NULL)
		return -ENOMEM;
	h->kind = k != NULL ? k->kind : LS_HDR_STRING;
	if (k == NULL) {
		/* Readers ignore what they do not know, but keep its type. */
		if (ls_util_parse_u64(val, vlen, &h->a))
			h->kind = LS_HDR_INT;
		else if (ls_util_is_decimal(val, vlen))
			h->kind = LS_HDR_DECIMAL;
		return 0;
	}
	switch (h->kind) {
	case LS_HDR_INT:
		if (!ls_util_parse_u64(val, vlen, &h->a))
			return bad(rd, "header '%s' wants an integer", key);
		break;
	case LS_HDR_DECIMAL:
		if (!ls_util_is_decimal(val, vlen))
			return bad(rd, "header '%s' wants a decimal number", key);
		break;
	case LS_HDR_PAIR: {
		const char *sp = strchr(val, ' ');

		if (sp == NULL || !ls_util_parse_u64(val, (size_t)(sp - val), &h->a) ||
		    !ls_util_parse_u64(sp + 1, strlen(sp + 1), &h->b))
			return bad(rd, "header '%s' wants two integers", key);
		break;
	}
	case LS_HDR_STRING:
		if (strcmp(key, "window_open") == 0 && strcmp(val, "yes") != 0 && strcmp(val, "no") != 0)
			return bad(rd, "header 'window_open' wants yes or no");
		break;
	}
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
static int parse_map(struct reader *rd, struct ls_report *r, const char *p)
{
	const char *t, *dash;
	size_t len;
	struct ls_map *m = push((void **)&r->map, &r->nmap, sizeof(*m));

	if (m == NULL)
		return -ENOMEM;
	if ((t = token(&p, &len)) == NULL)
		return bad(rd, "map: missing address range");
	dash = memchr(t, '-', len);
	if (dash == NULL || !ls_util_parse_hex(t, (size_t)(dash - t), &m->start) ||
	    !ls_util_parse_hex(dash + 1, len - (size_t)(dash - t) - 1, &m->end))
		return bad(rd, "map: bad address range (want START-END in hex)");
	if (m->start >= m->end)
		return bad(rd, "map: empty or reversed address range");
	if ((t = token(&p, &len)) == NULL || len != 4 || (t[0] != 'r' && t[0] != '-') ||
	    (t[1] != 'w' && t[1] != '-') || (t[2] != 'x' && t[2] != '-') || (t[3] != 'p' && t[3] != 's'))
		return bad(rd, "map: bad permissions (want e.g. r-xp)");
	memcpy(m->perms, t, 4);
	if ((t = token(&p, &len)) == NULL || !ls_util_parse_hex(t, len, &m->offset))
		return bad(rd, "map: bad file offset");
	if ((t = token(&p, &len)) == NULL)
		return bad(rd, "map: missing build ID or path");
	if (!(len == 1 && t[0] == '-') && !ls_util_parse_build_id(t, len, m->build_id, &m->build_id_len))
		return bad(rd, "map: bad build ID (want hex or -)");
	if (*p == '\0')
		return bad(rd, "map: missing path");
	m->path = strdup(p);
	return m->path == NULL ? -ENOMEM : 0;
}

/* ------------------------------------------------------------------ records */

/* Appends address a to leak l. */
static int add_addr(struct ls_leak *l, uint64_t a)
{
	uint64_t *p = push((void **)&l->addr, &l->naddr, sizeof(*p));

	if (p == NULL)
		return -ENOMEM;
	*p = a;
	return 0;
}

/* Parses "count=C bytes=B ... @ ADDR ..." (after "leak: "). */
static int parse_leak(struct reader *rd, struct ls_report *r, const char *p, uint64_t max_frames)
{
	enum { COUNT, BYTES, EST_COUNT, EST_BYTES, MAX_AGE, MIN_AGE, NKEYS };
	static const char *const names[NKEYS] = { "count", "bytes", "est_count", "est_bytes", "max_age", "min_age" };
	bool seen[NKEYS] = { false };
	struct ls_leak *l = push((void **)&r->leak, &r->nleak, sizeof(*l));
	uint64_t *ints[4];
	const char *t;
	size_t len;
	int err;

	if (l == NULL)
		return -ENOMEM;
	ints[COUNT] = &l->count, ints[BYTES] = &l->bytes;
	ints[EST_COUNT] = &l->est_count, ints[EST_BYTES] = &l->est_bytes;
	for (;;) {
		if ((t = token(&p, &len)) == NULL) {
			if (strcmp(p, "@") == 0) {
				p += 1;
				break;
			}
			return bad(rd, "leak: missing '@ ADDR...'");
		}
		if (len == 1 && t[0] == '@')
			break;
		const char *eq = memchr(t, '=', len);

		if (eq == NULL || eq == t)
			return bad(rd, "leak: expected key=value before '@'");
		size_t klen = (size_t)(eq - t), vlen = len - klen - 1;
		int k = -1;

		if (klen == 3 && memcmp(t, "via", 3) == 0) {
			if (l->via != NULL)
				return bad(rd, "leak: duplicate 'via'");
			if (vlen == 0 || vlen > 32 || strspn(eq + 1, "abcdefghijklmnopqrstuvwxyz0123456789_") < vlen)
				return bad(rd, "leak: 'via' wants a function name");
			if ((l->via = strndup(eq + 1, vlen)) == NULL)
				return -ENOMEM;
			continue;
		}
		for (int i = 0; i < NKEYS; i++)
			if (strlen(names[i]) == klen && memcmp(names[i], t, klen) == 0)
				k = i;
		if (k < 0)
			continue; /* readers ignore keys they do not know */
		if (seen[k])
			return bad(rd, "leak: duplicate '%s'", names[k]);
		seen[k] = true;
		if (k <= EST_BYTES) {
			if (!ls_util_parse_u64(eq + 1, vlen, ints[k]))
				return bad(rd, "leak: '%s' wants an integer", names[k]);
		} else {
			if (!ls_util_is_decimal(eq + 1, vlen))
				return bad(rd, "leak: '%s' wants a decimal number", names[k]);
			char *s = strndup(eq + 1, vlen);

			if (s == NULL)
				return -ENOMEM;
			*(k == MAX_AGE ? &l->max_age : &l->min_age) = s;
		}
	}
	for (int i = 0; i < NKEYS; i++)
		if (!seen[i])
			return bad(rd, "leak: missing '%s='", names[i]);
	while (*p != '\0') {
		const char *sp = strchr(p, ' ');
		size_t alen = sp != NULL ? (size_t)(sp - p) : strlen(p);
		uint64_t a;

		if (alen < 3 || p[0] != '0' || p[1] != 'x' || !ls_util_parse_hex(p + 2, alen - 2, &a))
			return bad(rd, "leak: bad address (want 0x and hex)");
		if (l->naddr >= MAX_ADDRS || (max_frames > 0 && l->naddr >= max_frames))
			return bad(rd, "leak: more addresses than max_frames");
		if ((err = add_addr(l, a)) != 0)
			return err;
		p += alen;
		if (sp != NULL) {
			p++;
			if (*p == '\0' || *p == ' ')
				return bad(rd, "leak: stray space in the address list");
		}
	}
	return 0;
}

/* ------------------------------------------------------------------- driver */

/* True when s begins with prefix. */
static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int ls_report_read(struct ls_report *r, FILE *in, const char *name)
{
	struct reader rd = { .in = in, .name = name };
	const struct ls_hdr *h;
	uint64_t nmaps, nstacks, max_frames = 0, end_n;
	int err;

	err = next_line(&rd);
	if (err == 0) {
		rd.lineno = 1;
		err = bad(&rd, "empty report");
	}
	if (err < 0)
		goto out;
	if (strcmp(rd.buf, FORMAT_LINE) != 0) {
		err = bad(&rd, "not a leakscope report (want '" FORMAT_LINE "')");
		goto out;
	}
	if ((err = parse_header(&rd, r)) != 0)
		goto out;

	/* Header lines run until the first map:, leak: or end: line. */
	for (;;) {
		if ((err = next_line(&rd)) <= 0)
			goto eof;
		if (starts(rd.buf, "map: ") || starts(rd.buf, "leak: ") || starts(rd.buf, "end: "))
			break;
		if ((err = parse_header(&rd, r)) != 0)
			goto out;
	}
	if ((h = ls_report_header(r, "maps")) == NULL || (nmaps = h->a, (h = ls_report_header(r, "stacks")) == NULL)) {
		err = bad(&rd, "header lacks 'maps:' or 'stacks:'");
		goto out;
	}
	nstacks = h->a;
	if ((h = ls_report_header(r, "max_frames")) != NULL)
		max_frames = h->a;

	for (uint64_t i = 0; i < nmaps; i++) {
		if (i > 0 && (err = next_line(&rd)) <= 0)
			goto eof;
		if (!starts(rd.buf, "map: ")) {
			err = bad(&rd, "expected map line %llu of %llu", (unsigned long long)i + 1,
				  (unsigned long long)nmaps);
			goto out;
		}
		if ((err = parse_map(&rd, r, rd.buf + 5)) != 0)
			goto out;
	}
	for (uint64_t i = 0; i < nstacks; i++) {
		if ((i > 0 || nmaps > 0) && (err = next_line(&rd)) <= 0)
			goto eof;
		if (!starts(rd.buf, "leak: ")) {
			err = bad(&rd, "expected leak record %llu of %llu", (unsigned long long)i + 1,
				  (unsigned long long)nstacks);
			goto out;
		}
		if ((err = parse_leak(&rd, r, rd.buf + 6, max_frames)) != 0)
			goto out;
	}
	if ((nmaps > 0 || nstacks > 0) && (err = next_line(&rd)) <= 0)
		goto eof;
	if (!starts(rd.buf, "end: ") || strlen(rd.buf) < 12 || strcmp(rd.buf + strlen(rd.buf) - 7, " stacks") != 0 ||
	    !ls_util_parse_u64(rd.buf + 5, strlen(rd.buf) - 12, &end_n)) {
		err = bad(&rd, "expected 'end: %llu stacks'", (unsigned long long)nstacks);
		goto out;
	}
	if (end_n != nstacks) {
		err = bad(&rd, "end line says %llu stacks, header says %llu", (unsigned long long)end_n,
			  (unsigned long long)nstacks);
		goto out;
	}
	if ((err = next_line(&rd)) != 0) {
		if (err > 0)
			err = bad(&rd, "data after the end line");
		goto out;
	}

	h = ls_report_header(r, "estimated");
	if (h != NULL && h->b > 0) {
		r->total_est_bytes = h->b;
	} else {
		for (size_t i = 0; i < r->nleak; i++)
			r->total_est_bytes += r->leak[i].est_bytes;
	}
	err = 0;
	goto out;
eof:
	if (err == 0) {
		rd.lineno++;
		err = bad(&rd, "report ends early (truncated: no 'end:' line)");
	}
out:
	if (err == -ENOMEM)
		ls_util_msg("%s: out of memory", name);
	free(rd.buf);
	return err;
}

int ls_report_add_stack(struct ls_report *r, char *const *arg, size_t narg)
{
	struct ls_leak *l = push((void **)&r->leak, &r->nleak, sizeof(*l));

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

void ls_report_free(struct ls_report *r)
{
	for (size_t i = 0; i < r->nhdr; i++) {
		free(r->hdr[i].key);
		free(r->hdr[i].value);
	}
	for (size_t i = 0; i < r->nmap; i++)
		free(r->map[i].path);
	for (size_t i = 0; i < r->nleak; i++) {
		free(r->leak[i].max_age);
		free(r->leak[i].min_age);
		free(r->leak[i].via);
		free(r->leak[i].addr);
	}
	free(r->hdr);
	free(r->map);
	free(r->leak);
	free(r->by_start);
	free(r->max_end);
	memset(r, 0, sizeof(*r));
}
