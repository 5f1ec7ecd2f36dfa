/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_report.c: fuzz target for the translator's report
 * reader (symbolize/report.c and the maps index). Any input must be
 * either accepted or refused with an error; never a crash, a leak or an
 * out-of-bounds access. Symbolization is left out: it opens the files a
 * report names, which a fuzzer must not steer. */
#include "../../symbolize/translate.h"

#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_report r;
	FILE *f = fmemopen((void *)data, size, "r");

	if (!f)
		return 0;
	memset(&r, 0, sizeof(r));
	if (ls_report_read(&r, f, "fuzz") == 0)
		ls_maps_index(&r);
	ls_report_free(&r);
	fclose(f);
	return 0;
}
