/* SPDX-License-Identifier: MIT */
/* lines.c: the line syntax reports and tree reports share: lines, "key: value" headers, "end: N WHAT" and errors naming a line. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

int ls_lines_bad(const struct ls_lines *rd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s:%lu: ", LS_PROG, rd->name, rd->lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

int ls_lines_next(struct ls_lines *rd)
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
		return ls_lines_bad(rd, "truncated line (no newline at the end)");
	rd->len = (size_t)n - 1;
	rd->buf[rd->len] = '\0';
	for (size_t i = 0; i < rd->len; i++) {
		unsigned char c = (unsigned char)rd->buf[i];

		if (c < 0x20 || c == 0x7f)
			return ls_lines_bad(rd, "control byte 0x%02x in line", c);
	}
	return 1;
}

bool ls_lines_starts(const struct ls_lines *rd, const char *prefix)
{
	return strncmp(rd->buf, prefix, strlen(prefix)) == 0;
}

bool ls_lines_end(const struct ls_lines *rd, const char *what, uint64_t *n)
{
	size_t wlen = strlen(what);

	/* "end: " N " " WHAT, N at least one digit */
	return ls_lines_starts(rd, "end: ") && rd->len >= 5 + 1 + 1 + wlen && rd->buf[rd->len - wlen - 1] == ' ' &&
	       strcmp(rd->buf + rd->len - wlen, what) == 0 &&
	       ls_util_parse_u64(rd->buf + 5, rd->len - 5 - 1 - wlen, n);
}

const struct ls_hdr *ls_hdr_find(const struct ls_hdr *hdr, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(hdr[i].key, key) == 0)
			return &hdr[i];
	return NULL;
}

/* True for the characters a header key may hold. */
static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-' || c == '.';
}

int ls_lines_header(struct ls_lines *rd, struct ls_hdr **hdr, size_t *nhdr, const struct ls_hdr_key *known,
		    size_t nknown)
{
	const char *line = rd->buf, *colon = strchr(line, ':'), *val;
	const struct ls_hdr_key *k = NULL;
	struct ls_hdr *h;
	size_t klen, vlen;

	if (colon == NULL || colon == line)
		return ls_lines_bad(rd, "expected 'key: value'");
	klen = (size_t)(colon - line);
	if (klen > 64)
		return ls_lines_bad(rd, "header key too long");
	for (size_t i = 0; i < klen; i++)
		if (!key_char(line[i]))
			return ls_lines_bad(rd, "bad character in header key");
	val = colon + 1;
	if (*val == ' ')
		val++;
	else if (*val != '\0')
		return ls_lines_bad(rd, "expected a space after ':'");
	vlen = strlen(val);

	char key[65];

	memcpy(key, line, klen);
	key[klen] = '\0';
	for (size_t i = 0; i < nknown && k == NULL; i++)
		if (strcmp(known[i].key, key) == 0)
			k = &known[i];
	if (ls_hdr_find(*hdr, *nhdr, key) != NULL) {
		if (k != NULL)
			return ls_lines_bad(rd, "duplicate header '%s'", key);
		return 0; /* an unknown key seen twice: the first one stands */
	}
	h = ls_util_push((void **)hdr, nhdr, sizeof(*h));
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
			return ls_lines_bad(rd, "header '%s' wants an integer", key);
		break;
	case LS_HDR_DECIMAL:
		if (!ls_util_is_decimal(val, vlen))
			return ls_lines_bad(rd, "header '%s' wants a decimal number", key);
		break;
	case LS_HDR_PAIR:
	case LS_HDR_BIG_PAIR: {
		const char *sp = strchr(val, ' ');
		size_t n1 = sp != NULL ? (size_t)(sp - val) : 0, n2 = sp != NULL ? strlen(sp + 1) : 0;
		bool good = h->kind == LS_HDR_PAIR
				    ? ls_util_parse_u64(val, n1, &h->a) && ls_util_parse_u64(sp + 1, n2, &h->b)
				    : ls_util_parse_big(val, n1, &h->x) && ls_util_parse_big(sp + 1, n2, &h->y);

		if (sp == NULL || !good)
			return ls_lines_bad(rd, "header '%s' wants two integers", key);
		break;
	}
	case LS_HDR_STRING:
		break;
	}
	return 0;
}

void ls_hdr_free(struct ls_hdr *hdr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(hdr[i].key);
		free(hdr[i].value);
	}
	free(hdr);
}

void ls_lines_free(struct ls_lines *rd)
{
	free(rd->buf);
	rd->buf = NULL;
	rd->cap = rd->len = 0;
}
