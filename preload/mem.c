/* SPDX-License-Identifier: MIT */
/* preload/mem.c: the detector's own memory, taken from the real allocator
 * and counted against LEAKSCOPE_MAX_MEMORY. */
#include "internal.h"

#include <string.h>

static _Atomic uint64_t used;

bool ls_mem_charge(size_t size, bool capped)
{
	uint64_t cur = atomic_load_explicit(&used, memory_order_relaxed);

	do {
		if (capped && cur + size > ls_cfg.max_memory)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&used, &cur, cur + size,
							memory_order_relaxed,
							memory_order_relaxed));
	return true;
}

void ls_mem_uncharge(size_t size)
{
	atomic_fetch_sub_explicit(&used, size, memory_order_relaxed);
}

uint64_t ls_mem_used(void)
{
	return atomic_load_explicit(&used, memory_order_relaxed);
}

void *ls_mem_alloc(size_t size, bool capped)
{
	if (!ls_mem_charge(size, capped))
		return NULL;
	void *p = ls_real.malloc(size);
	if (!p)
		ls_mem_uncharge(size);
	return p;
}

void *ls_mem_calloc(size_t size, bool capped)
{
	void *p = ls_mem_alloc(size, capped);
	if (p)
		memset(p, 0, size);
	return p;
}

void ls_mem_free(void *p, size_t size)
{
	if (!p)
		return;
	ls_real.free(p);
	ls_mem_uncharge(size);
}
