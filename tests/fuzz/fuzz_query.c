/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_query.c: fuzz target for the control port's parsers
 * (control/query.c): sampling and min_age values, parameter names and
 * the Authorization header. Each result is checked against what the
 * parser promises, not just for crashes. */
#include "../../control/internal.h"

#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint64_t v, ns;

	memcpy(s, data, size);
	s[size] = '\0';
	if (ls_query_u64(s, 1, 1000000000ull, &v) == 0) {
		/* accepted: digits only, and in range */
		check(v >= 1 && v <= 1000000000ull);
		check(s[0] && strspn(s, "0123456789") == strlen(s));
	}
	if (ls_query_seconds(s, &ns) == 0) {
		check(s[0] && strspn(s, "0123456789.") == strlen(s));
		check(ns <= 11ull * 366 * 24 * 3600 * 1000000000ull);
	}
	/* only the exact header matches */
	check(ls_query_auth_ok(s, "s3cret") == (strcmp(s, "Bearer s3cret") == 0));
	if (ls_query_name_in(s, "sampling,min_age,format"))
		check(!strcmp(s, "sampling") || !strcmp(s, "min_age") || !strcmp(s, "format"));
	free(s);
	return 0;
}
