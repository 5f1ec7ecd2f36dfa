/* SPDX-License-Identifier: MIT */
/* control/query.c: strict parsers for query parameters and credentials.
 * Pure functions, so the fuzzer can drive them without a server. */
#include "internal.h"

#include <errno.h>
#include <string.h>

int ls_query_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s || strlen(s) > 20)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

int ls_query_seconds(const char *s, uint64_t *ns)
{
	const uint64_t max_s = 10ull * 366 * 24 * 3600;
	uint64_t whole = 0, frac = 0, scale = 100000000ull;
	int digits = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		whole = whole * 10 + (uint64_t)(*s - '0');
		if (whole > max_s)
			return -EINVAL;
	}
	if (*s == '.') {
		s++;
		int fd = 0;
		for (; *s >= '0' && *s <= '9'; s++, fd++) {
			if (fd >= 9)
				return -EINVAL;
			frac += (uint64_t)(*s - '0') * scale;
			scale /= 10;
		}
		if (fd == 0)
			return -EINVAL;
		digits += fd;
	}
	if (*s || digits == 0)
		return -EINVAL;
	*ns = whole * 1000000000ull + frac;
	return 0;
}

bool ls_query_auth_ok(const char *header, const char *token)
{
	static const char prefix[] = "Bearer ";
	size_t tl = strlen(token), hl = header ? strlen(header) : 0;
	unsigned char diff = 0;

	if (!header || hl < sizeof(prefix) - 1 || strncmp(header, prefix, sizeof(prefix) - 1))
		diff = 1;
	const char *given = diff ? "" : header + sizeof(prefix) - 1;
	size_t gl = diff ? 0 : hl - (sizeof(prefix) - 1);
	/* Walk the whole expected token whatever was given, so the time
	 * taken does not tell how many leading bytes matched. */
	for (size_t i = 0; i < tl; i++)
		diff |= (unsigned char)(token[i] ^ (i < gl ? given[i] : 0));
	diff |= (unsigned char)(gl != tl);
	return tl > 0 && diff == 0;
}

bool ls_query_name_in(const char *name, const char *allowed)
{
	size_t n = strlen(name);

	for (const char *p = allowed; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && !strncmp(p, name, n))
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}
