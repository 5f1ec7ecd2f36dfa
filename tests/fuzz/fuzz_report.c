/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_report.c: fuzz target for the translator's readers of
 * reports and tree reports (symbolize/lines.c, report.c, tree.c), the
 * maps index, the merge of processes (view.c) and the 95% intervals of
 * what was read (estimate.c, interval.c). Any input must be either
 * accepted or refused with an error; never a crash, a leak or an
 * out-of-bounds access, and every interval finite with lo <= hi.
 * Symbolization is left out: it opens the files a report names, which a
 * fuzzer must not steer. */
#include "../../symbolize/translate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Aborts (a finding) unless ci is a finite interval of non-negative ends. */
static void check_ci(struct ls_ci ci)
{
	if (!(ci.lo >= 0 && ci.lo <= ci.hi && isfinite(ci.hi)))
		abort();
}

static void check_weights(const struct ls_weights *w)
{
	check_ci(ls_estimate_count(w));
	check_ci(ls_estimate_bytes(w));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_view v;
	struct ls_modset s;
	FILE *f = fmemopen((void *)data, size, "r");

	if (!f)
		return 0;
	memset(&v, 0, sizeof(v));
	memset(&s, 0, sizeof(s));
	if (ls_tree_read(&v, f, "fuzz", true) == 0 && ls_view_finish(&v, &s, true) == 0) {
		for (size_t i = 0; i < v.r->nleak; i++) {
			struct ls_weights w = ls_estimate_leak(&v.r->leak[i]);

			check_weights(&w);
		}
		check_weights(&v.r->total);
	}
	ls_view_free(&v);
	ls_modset_free(&s);
	fclose(f);
	return 0;
}
