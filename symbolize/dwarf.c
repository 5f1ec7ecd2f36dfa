/* SPDX-License-Identifier: MIT */
/* dwarf.c: an address's function, file:line and inlined frames, from the module's DWARF. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

#define MAX_NEST 64 /* DIE nesting we follow; real code stays far below */

/* True for the DIEs that are frames of a stack. */
static bool is_function(int tag)
{
	return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine;
}

/* Collects, outermost first, the subprogram and inlined-subroutine DIEs
 * under parent whose ranges hold pc: the physical nesting, so each inlined
 * instance is followed by the ones inlined into it. Returns the new depth.
 * (dwarf_getscopes returns the scopes of an inline's abstract definition
 * instead of its callers, which is not what a stack needs.) */
static int walk(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *chain, int depth, int level)
{
	Dwarf_Die child;

	if (level >= MAX_NEST || dwarf_child(parent, &child) != 0)
		return depth;
	do {
		int tag = dwarf_tag(&child);

		switch (tag) {
		case DW_TAG_subprogram:
		case DW_TAG_inlined_subroutine:
		case DW_TAG_lexical_block:
		case DW_TAG_try_block:
		case DW_TAG_catch_block:
		case DW_TAG_entry_point:
			if (dwarf_haspc(&child, pc) != 1)
				break;
			if (is_function(tag) && depth < MAX_NEST)
				chain[depth++] = child;
			return walk(&child, pc, chain, depth, level + 1);
		case DW_TAG_namespace:
		case DW_TAG_module: {
			/* Some compilers (clang) nest definitions in namespaces. */
			int d = walk(&child, pc, chain, depth, level + 1);

			if (d > depth)
				return d;
			break;
		}
		default:
			break;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return depth;
}

/* True when the unit is C++ (names may need qualifying). */
static bool is_cplusplus(Dwarf_Die *cu)
{
	int lang = dwarf_srclang(cu);

	return lang == DW_LANG_C_plus_plus || lang == DW_LANG_C_plus_plus_03 || lang == DW_LANG_C_plus_plus_11 ||
	       lang == DW_LANG_C_plus_plus_14;
}

/* Follows abstract_origin and specification links to the declaration,
 * which sits inside its namespaces and classes. */
static void declaration(Dwarf_Die *die, Dwarf_Die *decl)
{
	Dwarf_Attribute a;

	*decl = *die;
	for (int i = 0; i < 8; i++) {
		if (dwarf_attr(decl, DW_AT_abstract_origin, &a) == NULL &&
		    dwarf_attr(decl, DW_AT_specification, &a) == NULL)
			return;
		if (dwarf_formref_die(&a, decl) == NULL)
			return;
	}
}

/* Returns name prefixed with the namespaces and classes around die's
 * declaration ("(anonymous namespace)::hidden"), for C++ functions that
 * have no linkage name; NULL when out of memory (*nomem set). */
static const char *qualified(struct ls_modset *s, Dwarf_Die *die, const char *name, bool *nomem)
{
	Dwarf_Die decl, *scopes = NULL;
	char buf[1024];
	size_t len = 0;
	const char *res;
	int n;

	declaration(die, &decl);
	if ((res = ls_pmap_get(&s->qualified, (uint64_t)(uintptr_t)decl.addr)) != NULL)
		return res;
	n = dwarf_getscopes_die(&decl, &scopes);
	buf[0] = '\0';
	for (int i = n - 1; i >= 1; i--) {
		int tag = dwarf_tag(&scopes[i]);
		const char *part = dwarf_diename(&scopes[i]);

		if (tag == DW_TAG_namespace && part == NULL)
			part = "(anonymous namespace)";
		else if (tag != DW_TAG_namespace && tag != DW_TAG_class_type && tag != DW_TAG_structure_type &&
			 tag != DW_TAG_union_type)
			continue;
		if (part != NULL && len < sizeof(buf))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s::", part);
	}
	free(scopes);
	if (len == 0 || len >= sizeof(buf)) {
		res = name;
	} else {
		snprintf(buf + len, sizeof(buf) - len, "%s", name);
		res = ls_arena_strndup(&s->arena, buf, strlen(buf));
	}
	if (res == NULL || ls_pmap_put(&s->qualified, (uint64_t)(uintptr_t)decl.addr, (void *)res) != 0) {
		*nomem = true;
		return NULL;
	}
	return res;
}

/* Returns the function name of a subprogram or inlined-instance DIE: the
 * demangled linkage name, else the plain name (qualified in C++); NULL if
 * none or out of memory (*nomem set). *plain tells that no linkage name
 * was there. */
static const char *die_function(struct ls_modset *s, Dwarf_Die *cu, Dwarf_Die *die, bool *plain, bool *nomem)
{
	Dwarf_Attribute a;
	const char *link = NULL, *name;

	*plain = false;
	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) != NULL ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a) != NULL)
		link = dwarf_formstring(&a);
	if (link != NULL) {
		const char *dem = ls_util_demangle(&s->demangled, &s->arena, link);

		if (dem == NULL) {
			*nomem = true;
			return NULL;
		}
		if (dem != link)
			return dem;
	}
	name = dwarf_attr_integrate(die, DW_AT_name, &a) != NULL ? dwarf_formstring(&a) : NULL;
	if (name == NULL)
		return link;
	*plain = true;
	return is_cplusplus(cu) ? qualified(s, die, name, nomem) : name;
}

/* Returns file made absolute with the CU's comp_dir when both allow it
 * (what addr2line prints), without "./" parts; NULL if out of memory. */
static const char *abs_file(struct ls_modset *s, Dwarf_Die *cu, const char *file, bool *nomem)
{
	Dwarf_Attribute a;
	const char *dir, *res, *key = file;
	char *p;
	size_t dlen;

	if (file == NULL || file[0] == '/')
		return file;
	dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &a));
	if (dir == NULL || dir[0] != '/')
		return file; /* a relative comp_dir (-fdebug-prefix-map=...=.) */
	if ((res = ls_pmap_get(&s->joined, (uint64_t)(uintptr_t)key)) != NULL)
		return res;
	while (file[0] == '.' && file[1] == '/')
		file += 2;
	dlen = strlen(dir);
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	p = ls_arena_alloc(&s->arena, dlen + strlen(file) + 2);
	if (p == NULL) {
		*nomem = true;
		return NULL;
	}
	memcpy(p, dir, dlen);
	p[dlen] = '/';
	strcpy(p + dlen + 1, file);
	for (char *q; (q = strstr(p, "/./")) != NULL;)
		memmove(q, q + 2, strlen(q + 2) + 1);
	if (ls_pmap_put(&s->joined, (uint64_t)(uintptr_t)key, p) != 0) {
		*nomem = true;
		return NULL;
	}
	return p;
}

/* Fills *file and *line from an inlined instance's call site. */
static void call_site(Dwarf_Die *cu, Dwarf_Die *inl, const char **file, unsigned *line)
{
	Dwarf_Attribute a;
	Dwarf_Word idx, ln;
	Dwarf_Files *files;
	size_t nfiles;

	*file = NULL;
	*line = 0;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &a), &ln) == 0 && ln <= UINT32_MAX)
		*line = (unsigned)ln;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &a), &idx) == 0 &&
	    dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && idx < nfiles)
		*file = dwarf_filesrc(files, idx, NULL, NULL);
}

/* ------------------------------------------------------- per-CU index */

/* Walking a CU's DIEs for every address costs most of the time on big
 * CUs (dwarf_siblingof must step over every type's children), so each CU
 * gets, on first use, a sorted table of its functions' address ranges. */

struct fn_range {
	uint64_t lo, hi;
	size_t order; /* DIE order: of aliases at one address, the first wins */
	Dwarf_Die die;
};

struct cu_index {
	struct fn_range *r;
	uint64_t *max_hi; /* running maximum of hi along r */
	size_t n;
};

struct collect {
	struct fn_range *r;
	size_t n, cap;
};

/* Adds the ranges of die's top-level functions (inside namespaces too). */
static int collect(Dwarf_Die *parent, struct collect *c, int level)
{
	Dwarf_Die child;

	if (level >= MAX_NEST || dwarf_child(parent, &child) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&child);

		if (tag == DW_TAG_namespace || tag == DW_TAG_module) {
			if (collect(&child, c, level + 1) != 0)
				return -ENOMEM;
			continue;
		}
		if (tag != DW_TAG_subprogram)
			continue;
		Dwarf_Addr base, lo, hi;
		ptrdiff_t off = 0;

		while ((off = dwarf_ranges(&child, off, &base, &lo, &hi)) > 0) {
			if (lo >= hi)
				continue;
			if (c->n == c->cap) {
				size_t cap = c->cap ? c->cap * 2 : 64;
				struct fn_range *r = realloc(c->r, cap * sizeof(*r));

				if (r == NULL)
					return -ENOMEM;
				c->r = r;
				c->cap = cap;
			}
			c->r[c->n] = (struct fn_range){ lo, hi, c->n, child };
			c->n++;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return 0;
}

static int by_lo(const void *a, const void *b)
{
	const struct fn_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Returns cu's index, building it on first use; NULL when out of memory. */
static struct cu_index *cu_index(struct ls_modset *s, Dwarf_Die *cu)
{
	struct cu_index *ix = ls_pmap_get(&s->cu_index, (uint64_t)(uintptr_t)cu->addr);
	struct collect c = { 0 };

	if (ix != NULL)
		return ix;
	ix = ls_arena_alloc(&s->arena, sizeof(*ix));
	if (ix == NULL || collect(cu, &c, 0) != 0)
		goto nomem;
	qsort(c.r, c.n, sizeof(*c.r), by_lo);
	ix->n = c.n;
	ix->r = ls_arena_alloc(&s->arena, c.n * sizeof(*ix->r) + 1);
	ix->max_hi = ls_arena_alloc(&s->arena, c.n * sizeof(*ix->max_hi) + 1);
	if (ix->r == NULL || ix->max_hi == NULL)
		goto nomem;
	memcpy(ix->r, c.r, c.n * sizeof(*ix->r));
	for (size_t i = 0; i < c.n; i++)
		ix->max_hi[i] = i > 0 && ix->max_hi[i - 1] > c.r[i].hi ? ix->max_hi[i - 1] : c.r[i].hi;
	free(c.r);
	if (ls_pmap_put(&s->cu_index, (uint64_t)(uintptr_t)cu->addr, ix) != 0)
		return NULL;
	return ix;
nomem:
	free(c.r);
	return NULL;
}

/* Finds the function holding pc in cu and fills chain like walk().
 * Returns the depth, or -ENOMEM. */
static int function_chain(struct ls_modset *s, Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die *chain)
{
	struct cu_index *ix = cu_index(s, cu);
	size_t lo = 0, hi;

	if (ix == NULL)
		return -ENOMEM;
	hi = ix->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix->r[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	struct fn_range *best = NULL;

	while (lo > 0 && ix->max_hi[lo - 1] > pc) {
		struct fn_range *r = &ix->r[--lo];

		if (pc < r->hi && (best == NULL || r->order < best->order))
			best = r;
	}
	if (best == NULL)
		return 0;
	chain[0] = best->die;
	return walk(&chain[0], pc, chain, 1, 1);
}

int ls_dwarf_frames(struct ls_modset *s, struct ls_module *mod, uint64_t vaddr, struct ls_frame *fr, int max)
{
	Dwfl_Module *dm = ls_module_dwfl(mod);
	Dwarf_Die chain[MAX_NEST], *cu;
	Dwarf_Addr bias, pc;
	Dwarf_Line *ln;
	const char *file = NULL;
	unsigned line = 0;
	bool nomem = false;
	int depth, n = 0;

	if (dm == NULL || max <= 0 || (cu = dwfl_module_addrdie(dm, vaddr, &bias)) == NULL)
		return 0;
	pc = vaddr - bias;
	ln = dwarf_getsrc_die(cu, pc);
	if (ln != NULL) {
		int l = 0;

		file = dwarf_linesrc(ln, NULL, NULL);
		if (dwarf_lineno(ln, &l) == 0 && l > 0)
			line = (unsigned)l;
	}
	depth = function_chain(s, cu, pc, chain);
	if (depth < 0)
		return depth;
	if (depth == 0) {
		if (file == NULL)
			return 0;
		fr[0] = (struct ls_frame){ NULL, abs_file(s, cu, file, &nomem), line, false };
		return nomem ? -ENOMEM : 1;
	}
	/* Innermost first: each frame's line is where the next inner
	 * instance was inlined, the innermost's comes from the line table. */
	for (int i = depth - 1; i >= 0 && n < max; i--, n++) {
		bool plain;

		fr[n].function = die_function(s, cu, &chain[i], &plain, &nomem);
		if (i == depth - 1) {
			fr[n].file = file;
			fr[n].line = line;
		} else {
			call_site(cu, &chain[i + 1], &fr[n].file, &fr[n].line);
		}
		fr[n].file = abs_file(s, cu, fr[n].file, &nomem);
		fr[n].inlined = dwarf_tag(&chain[i]) == DW_TAG_inlined_subroutine;
		if (nomem)
			return -ENOMEM;
		/* A C++ function without a linkage name (internal linkage):
		 * the symbol table's demangled name has its parameters, the
		 * same form as every other C++ name here. */
		if (i == 0 && !fr[n].inlined && plain && is_cplusplus(cu)) {
			const char *sym = ls_module_symbol(s, mod, vaddr);

			if (sym != NULL)
				fr[n].function = sym;
		}
	}
	return n;
}
