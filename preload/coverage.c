/* SPDX-License-Identifier: MIT */
/* preload/coverage.c: allocators in the process whose own entry points
 * leakscope does not interpose. A leak through them is invisible, so
 * they are named: one log line at start, and /leak-status's
 * "uncovered_allocators". Each is recognised by one symbol it exports,
 * looked up in the global scope (where a hook would have to win). */
#include "internal.h"

#include <dlfcn.h>

static const struct {
	const char *symbol, *name;
} probes[] = {
	{ "mi_malloc", "mimalloc (mi_*)" },
	{ "je_malloc", "jemalloc with the je_ prefix (je_*)" },
	{ "je_mallocx", "jemalloc with the je_ prefix (je_*)" },
	{ "rpmalloc", "rpmalloc (rp*)" },
	{ "scalable_malloc", "oneTBB tbbmalloc (scalable_*)" },
	{ "xxmalloc", "Hoard (xx*)" },
	{ "dlmalloc", "dlmalloc (dl*)" },
};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

static _Atomic bool logged;

/* Fills found[i] for each probe present; returns how many names. */
static unsigned scan(bool found[NPROBES])
{
	unsigned n = 0;

	for (unsigned i = 0; i < NPROBES; i++) {
		found[i] = dlsym(RTLD_DEFAULT, probes[i].symbol) != NULL;
		/* two probes may name one allocator */
		for (unsigned j = 0; found[i] && j < i; j++)
			if (found[j] && probes[j].name == probes[i].name)
				found[i] = false;
		n += found[i];
	}
	return n;
}

unsigned ls_coverage_check(bool log)
{
	bool found[NPROBES];
	char line[512];
	struct ls_buf b;
	unsigned n;

	ls_guard_enter();
	n = scan(found);
	ls_guard_leave();
	if (!n || !log || atomic_exchange(&logged, true))
		return n;
	ls_buf_init(&b, line, sizeof(line));
	for (unsigned i = 0, k = 0; i < NPROBES; i++) {
		if (!found[i])
			continue;
		if (k++)
			ls_buf_str(&b, ", ");
		ls_buf_str(&b, probes[i].name);
	}
	ls_buf_ch(&b, '\0');
	ls_log("allocator entry points not interposed, leaks through them are not seen: %s",
	       b.overflow ? "(too many to list)" : b.p);
	return n;
}

void ls_coverage_json(struct ls_buf *b)
{
	bool found[NPROBES];

	scan(found);
	ls_buf_str(b, ", \"uncovered_allocators\": [");
	for (unsigned i = 0, k = 0; i < NPROBES; i++) {
		if (!found[i])
			continue;
		if (k++)
			ls_buf_str(b, ", ");
		ls_buf_json_str(b, probes[i].name);
	}
	ls_buf_ch(b, ']');
}
