/* SPDX-License-Identifier: MIT */
/* sym.c: one address to module, offset and frames, cached per address. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

#define MAX_INLINE 64 /* frames one address may expand to */

struct ls_sym {
	struct ls_report *r;
	struct ls_modset *s;
	struct ls_pmap cache[2]; /* [ret]: key addr + 1 */
	struct ls_arena arena;
};

struct ls_sym *ls_sym_new(struct ls_report *r, struct ls_modset *s)
{
	struct ls_sym *y = calloc(1, sizeof(*y));

	if (y == NULL)
		return NULL;
	y->r = r;
	y->s = s;
	return y;
}

/* Fills loc (address, module, offset, status) and its frames. Returns 0 or
 * -ENOMEM. */
static int resolve(struct ls_sym *y, struct ls_loc *loc, uint64_t addr, bool ret)
{
	struct ls_frame fr[MAX_INLINE];
	uint64_t look = ret ? addr - 1 : addr, vaddr;
	struct ls_map *map = ls_maps_find(y->r, look);
	struct ls_module *mod;
	bool in_load;
	int n = 0;

	memset(fr, 0, sizeof(fr[0]));
	loc->addr = addr;
	loc->ret = ret;
	if (map == NULL) {
		loc->status = LS_LOC_UNMAPPED;
		goto frames;
	}
	mod = ls_module_get(y->s, map);
	if (mod == NULL)
		return -ENOMEM;
	loc->map = map;
	loc->mod = mod;
	loc->module = ls_module_path(mod);
	switch (ls_module_status(mod)) {
	case LS_MOD_OK:
		loc->status = LS_LOC_OK;
		break;
	case LS_MOD_MISSING:
		loc->status = LS_LOC_MISSING;
		break;
	case LS_MOD_MISMATCH:
		loc->status = LS_LOC_MISMATCH;
		break;
	case LS_MOD_PSEUDO:
		loc->status = LS_LOC_PSEUDO;
		break;
	}
	in_load = ls_module_vaddr(mod, map, look, &vaddr);
	/* The offset is the address's own (not addr - 1), so offset and addr
	 * differ by the load bias alone. */
	loc->offset = vaddr + (ret ? 1 : 0);
	loc->has_offset = true;
	if (loc->status != LS_LOC_OK || !in_load)
		goto frames;
	n = ls_dwarf_frames(y->s, mod, vaddr, fr, MAX_INLINE);
	if (n < 0)
		return n;
	if (n == 0)
		n = 1;
	if (fr[n - 1].function == NULL)
		fr[n - 1].function = ls_module_symbol(y->s, mod, vaddr);
frames:
	if (n == 0)
		n = 1;
	loc->nframe = (size_t)n;
	loc->frame = ls_arena_alloc(&y->arena, (size_t)n * sizeof(*loc->frame));
	if (loc->frame == NULL)
		return -ENOMEM;
	memcpy(loc->frame, fr, (size_t)n * sizeof(*fr));
	return 0;
}

const struct ls_loc *ls_sym_lookup(struct ls_sym *y, uint64_t addr, bool ret)
{
	struct ls_pmap *cache = &y->cache[ret];
	struct ls_loc *loc;

	if (addr != UINT64_MAX && (loc = ls_pmap_get(cache, addr + 1)) != NULL)
		return loc;
	loc = ls_arena_alloc(&y->arena, sizeof(*loc));
	if (loc == NULL || resolve(y, loc, addr, ret) != 0)
		return NULL;
	if (addr != UINT64_MAX && ls_pmap_put(cache, addr + 1, loc) != 0)
		return NULL;
	return loc;
}

void ls_sym_free(struct ls_sym *y)
{
	if (y == NULL)
		return;
	ls_pmap_free(&y->cache[0]);
	ls_pmap_free(&y->cache[1]);
	ls_arena_free(&y->arena);
	free(y);
}
