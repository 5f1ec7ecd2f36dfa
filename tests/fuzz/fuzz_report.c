/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_report.c: fuzz target for the translator's readers of
 * reports and tree reports (symbolize/lines.c, report.c, tree.c), the
 * maps index and the merge of processes (view.c). Any input must be
 * either accepted or refused with an error; never a crash, a leak or an
 * out-of-bounds access. Symbolization is left out: it opens the files a
 * report names, which a fuzzer must not steer. */
#include "../../symbolize/translate.h"

#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_view v;
	struct ls_modset s;
	FILE *f = fmemopen((void *)data, size, "r");

	if (!f)
		return 0;
	memset(&v, 0, sizeof(v));
	memset(&s, 0, sizeof(s));
	if (ls_tree_read(&v, f, "fuzz", true) == 0)
		ls_view_finish(&v, &s, true);
	ls_view_free(&v);
	ls_modset_free(&s);
	fclose(f);
	return 0;
}
