/* SPDX-License-Identifier: MIT */
/* preload/region.c: the private address range that holds every sampled
 * block, handed out in 64 KiB chunks. Because sampled blocks live here and
 * nowhere else, free() tells a sampled pointer by one range compare. */
#include "internal.h"

#include <errno.h>
#include <sys/mman.h>

#define BOOT_SIZE      LS_CHUNK          /* first chunk: bootstrap pool */
#define COMMIT_STEP    ((size_t)1 << 20) /* mprotect granularity */
#define EXACT_LISTS    64                /* free runs of 1..64 chunks */
#define CACHE_BYTES    ((size_t)32 << 20)/* free runs kept committed */
#define RUN_MAGIC      0x6c7346524545ull /* "lsFREE" */

uintptr_t ls_arena_lo;
uintptr_t ls_arena_len;
uint32_t *ls_region_map;

/* A free run of chunks; lives in the run's own first bytes. */
struct run {
	uint64_t magic;
	size_t nchunks;
	struct run *next;
	bool decommitted;
};

static struct {
	ls_lock_t lock;
	uintptr_t base, end;   /* reserved range */
	uintptr_t bump;        /* first chunk never taken */
	uintptr_t committed;   /* [base, committed) is read-write */
	uint32_t *chunkmap;    /* per chunk: head chunk index + 1, 0 = none */
	struct run *exact[EXACT_LISTS + 1];
	struct run *big;       /* runs longer than EXACT_LISTS chunks */
	size_t cached;         /* bytes of committed free runs */
} R = { .lock = LS_LOCK_INIT };

/* Used when the range cannot be reserved: the bootstrap pool still needs
 * a home that free() recognises. */
static char static_boot[BOOT_SIZE] __attribute__((aligned(64)));
static _Atomic int reserve_state; /* 0 no, 1 busy, 2 done */

static void *map_range(size_t size, int prot)
{
	void *p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

bool ls_region_reserve(void)
{
	int expect = 0;

	if (!atomic_compare_exchange_strong(&reserve_state, &expect, 1)) {
		while (atomic_load(&reserve_state) != 2)
			;
		return R.base != 0;
	}
	/* 64 GiB of address space costs nothing until touched; shrink when a
	 * ulimit -v forbids it. The chunk map's entries hold a head chunk
	 * index below 2^24: at most 1 TiB. */
	for (size_t size = (size_t)64 << 30; size >= ((size_t)1 << 30); size >>= 1) {
		char *raw = map_range(size + LS_CHUNK, PROT_NONE);
		if (!raw)
			continue;
		uintptr_t base = ((uintptr_t)raw + LS_CHUNK - 1) & ~(LS_CHUNK - 1);
		uint32_t *map = map_range((size / LS_CHUNK) * sizeof(uint32_t),
					  PROT_READ | PROT_WRITE);
		if (!map || mprotect((void *)base, COMMIT_STEP, PROT_READ | PROT_WRITE)) {
			munmap(raw, size + LS_CHUNK);
			if (map)
				munmap(map, (size / LS_CHUNK) * sizeof(uint32_t));
			continue;
		}
		R.base = base;
		R.end = base + size;
		R.bump = base + BOOT_SIZE;
		R.committed = base + COMMIT_STEP;
		R.chunkmap = map;
		ls_region_map = map;
		ls_arena_lo = base;
		ls_arena_len = size;
		break;
	}
	if (!R.base) {
		ls_arena_lo = (uintptr_t)static_boot;
		ls_arena_len = sizeof(static_boot);
	}
	atomic_store(&reserve_state, 2);
	return R.base != 0;
}

void *ls_region_boot_area(size_t *size)
{
	ls_region_reserve();
	*size = BOOT_SIZE;
	return R.base ? (void *)R.base : (void *)static_boot;
}

/* Makes [committed, upto) read-write. Caller holds R.lock. */
static bool commit_to(uintptr_t upto)
{
	if (upto <= R.committed)
		return true;
	uintptr_t to = (upto + COMMIT_STEP - 1) & ~(COMMIT_STEP - 1);
	if (to > R.end)
		to = R.end;
	if (mprotect((void *)R.committed, to - R.committed, PROT_READ | PROT_WRITE))
		return false;
	R.committed = to;
	return true;
}

static void push_run(struct run *r, size_t nchunks, bool decommitted)
{
	r->magic = RUN_MAGIC;
	r->nchunks = nchunks;
	r->decommitted = decommitted;
	struct run **head = nchunks <= EXACT_LISTS ? &R.exact[nchunks] : &R.big;
	r->next = *head;
	*head = r;
	if (!decommitted)
		R.cached += nchunks * LS_CHUNK;
}

/* Takes a run of exactly nchunks from the free lists, splitting a longer
 * one when needed. Caller holds R.lock. */
static struct run *pop_run(size_t nchunks)
{
	struct run *r = NULL;

	if (nchunks <= EXACT_LISTS && R.exact[nchunks]) {
		r = R.exact[nchunks];
		R.exact[nchunks] = r->next;
	} else {
		struct run **pp = &R.big;
		for (; *pp && (*pp)->nchunks < nchunks; pp = &(*pp)->next)
			;
		if (*pp) {
			r = *pp;
			*pp = r->next;
		} else {
			for (size_t k = nchunks + 1; k <= EXACT_LISTS && !r; k++) {
				if (R.exact[k]) {
					r = R.exact[k];
					R.exact[k] = r->next;
				}
			}
		}
	}
	if (!r)
		return NULL;
	if (!r->decommitted)
		R.cached -= r->nchunks * LS_CHUNK;
	if (r->nchunks > nchunks) {
		struct run *rest = (struct run *)((char *)r + nchunks * LS_CHUNK);
		push_run(rest, r->nchunks - nchunks, r->decommitted);
	}
	return r;
}

void *ls_region_take(size_t nchunks)
{
	void *p = NULL;

	if (!R.base || nchunks == 0 || nchunks > (R.end - R.base) / LS_CHUNK)
		return NULL;
	ls_lock(&R.lock);
	struct run *r = pop_run(nchunks);
	if (r) {
		r->magic = 0;
		p = r;
	} else if (R.end - R.bump >= nchunks * LS_CHUNK &&
		   commit_to(R.bump + nchunks * LS_CHUNK)) {
		p = (void *)R.bump;
		R.bump += nchunks * LS_CHUNK;
	}
	ls_unlock(&R.lock);
	return p;
}

void ls_region_give(void *p, size_t nchunks)
{
	bool decommit;

	ls_lock(&R.lock);
	decommit = R.cached + nchunks * LS_CHUNK > CACHE_BYTES;
	ls_unlock(&R.lock);
	/* Drop the pages outside the lock; the first page keeps the run
	 * header, so free runs cost one page each. */
	if (decommit && nchunks * LS_CHUNK > LS_PAGE)
		madvise((char *)p + LS_PAGE, nchunks * LS_CHUNK - LS_PAGE, MADV_DONTNEED);
	ls_lock(&R.lock);
	push_run(p, nchunks, decommit);
	ls_unlock(&R.lock);
}

void ls_region_map_span(void *span, size_t nchunks, unsigned tag)
{
	size_t head = ((uintptr_t)span - R.base) >> LS_CHUNK_SHIFT;
	uint32_t e = (uint32_t)(head + 1) | (uint32_t)tag << LS_REGION_TAG_SHIFT;

	for (size_t i = 0; i < nchunks; i++)
		atomic_store_explicit((_Atomic uint32_t *)&R.chunkmap[head + i], e,
				      memory_order_release);
}

void ls_region_unmap_span(void *span, size_t nchunks)
{
	size_t head = ((uintptr_t)span - R.base) >> LS_CHUNK_SHIFT;

	for (size_t i = 0; i < nchunks; i++)
		atomic_store_explicit((_Atomic uint32_t *)&R.chunkmap[head + i], 0,
				      memory_order_release);
}


uintptr_t ls_region_committed_end(void)
{
	ls_lock(&R.lock);
	uintptr_t b = R.bump;
	ls_unlock(&R.lock);
	return b;
}

uintptr_t ls_region_first_span(void)
{
	return R.base ? R.base + BOOT_SIZE : 0;
}

void ls_region_lock_all(void)
{
	ls_lock(&R.lock);
}

void ls_region_unlock_all(void)
{
	ls_unlock(&R.lock);
}

void ls_region_reinit_locks(void)
{
	ls_lock_reset(&R.lock);
}
