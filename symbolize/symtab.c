/* SPDX-License-Identifier: MIT */
/* symtab.c: a module's function symbols, sorted once for binary search. */
#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

/* libdwfl's own dwfl_module_addrsym scans the whole table on every call,
 * which a report of 300,000 addresses cannot afford. */

struct sym {
	uint64_t addr, size;
	const char *name;
	unsigned rank; /* lower is the better name for an address */
};

struct ls_symtab {
	struct sym *sym;
	size_t n;
};

/* Of several names for one address (malloc, __libc_malloc), prefer a
 * global, then one without a leading underscore, then the shortest. */
static unsigned rank_of(const GElf_Sym *s, const char *name)
{
	unsigned bind = GELF_ST_BIND(s->st_info);
	unsigned r = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
	size_t len = strlen(name);

	r = r * 2 + (name[0] == '_');
	return r * 4096 + (len < 4095 ? (unsigned)len : 4095);
}

static int by_addr(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return strcmp(x->name, y->name);
}

struct ls_symtab *ls_symtab_build(struct Dwfl_Module *dm)
{
	int n = dwfl_module_getsymtab(dm);
	struct ls_symtab *t;
	size_t k = 0;

	if (n <= 1)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->sym = malloc((size_t)n * sizeof(*t->sym));
	if (t->sym == NULL) {
		free(t);
		return NULL;
	}
	for (int i = 1; i < n; i++) {
		GElf_Sym s;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(dm, i, &s, &addr, &shndx, NULL, NULL);
		unsigned type;

		if (name == NULL || name[0] == '\0' || shndx == SHN_UNDEF || shndx == SHN_ABS)
			continue;
		type = GELF_ST_TYPE(s.st_info);
		if (type != STT_FUNC && type != STT_GNU_IFUNC)
			continue;
		t->sym[k++] = (struct sym){ addr, s.st_size, name, rank_of(&s, name) };
	}
	qsort(t->sym, k, sizeof(*t->sym), by_addr);
	/* Keep the best name for each address (sorted first). */
	size_t w = 0;

	for (size_t i = 0; i < k; i++)
		if (w == 0 || t->sym[w - 1].addr != t->sym[i].addr)
			t->sym[w++] = t->sym[i];
	t->n = w;
	if (w == 0) {
		ls_symtab_free(t);
		return NULL;
	}
	return t;
}

const char *ls_symtab_find(const struct ls_symtab *t, uint64_t vaddr)
{
	size_t lo = 0, hi;

	if (t == NULL)
		return NULL;
	hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->sym[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct sym *s = &t->sym[lo - 1];

	if (s->size == 0 || vaddr - s->addr < s->size)
		return s->name;
	/* A symbol nested in a larger one (rare, assembly): look a little
	 * further back for one that covers vaddr. */
	for (size_t i = lo - 1, tries = 0; i-- > 0 && tries < 8; tries++)
		if (t->sym[i].size > 0 && vaddr - t->sym[i].addr < t->sym[i].size)
			return t->sym[i].name;
	return NULL;
}

void ls_symtab_free(struct ls_symtab *t)
{
	if (t == NULL)
		return;
	free(t->sym);
	free(t);
}
