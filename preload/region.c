/* SPDX-License-Identifier: MIT */
/* preload/region.c: the private address range that holds every sampled
 * block, handed out in 64 KiB chunks. Because sampled blocks live here and
 * nowhere else, free() tells a sampled pointer by one range compare. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define BOOT_SIZE      LS_CHUNK          /* first chunk: bootstrap pool */
#define COMMIT_STEP    ((size_t)1 << 20) /* mprotect granularity */
#define EXACT_LISTS    64                /* free runs of 1..64 chunks */
#define CACHE_BYTES    ((size_t)32 << 20)/* free runs kept committed */
#define NONE           UINT32_MAX
#define DECOMMITTED    0x80000000u

uintptr_t ls_arena_lo;
uintptr_t ls_arena_len;
uint32_t *ls_region_map;

/* Free runs are described beside the range, never inside it: a report
 * may be reading a span header in a run being freed, and its lock-free
 * reads must not meet writes of another layout. Indexed by head chunk. */
struct run {
	uint32_t len;  /* chunks, | DECOMMITTED when its pages were dropped */
	uint32_t next; /* next run head on the same free list, or NONE */
};

static struct {
	ls_lock_t lock;
	uintptr_t base, end;   /* reserved range */
	uintptr_t bump;        /* first chunk never taken */
	uintptr_t committed;   /* [base, committed) is read-write */
	uint32_t *chunkmap;    /* per chunk: head chunk index + 1, 0 = none */
	struct run *runs;      /* per chunk, meaningful at a free run's head */
	uint32_t exact[EXACT_LISTS + 1]; /* free-list heads, NONE when empty */
	uint32_t big;          /* runs longer than EXACT_LISTS chunks */
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

/* Smallest range worth reserving: 64 chunks. */
#define MIN_RANGE ((size_t)4 << 20)

static const char *problem = "";

/* The range's size: 64 GiB of address space costs nothing until touched,
 * but under an address-space limit (ulimit -v, systemd's LimitAS=) every
 * reserved byte is one the host can no longer map. So take at most 1/32
 * of RLIMIT_AS and 1/16 of what it leaves free now, a power of two, so an
 * allocation that fits without leakscope still fits with it. The chunk
 * map's entries hold a head chunk index below 2^24: at most 1 TiB. */
static size_t range_budget(void)
{
	struct rlimit rl;
	size_t want = (size_t)64 << 30;

	if (getrlimit(RLIMIT_AS, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return want;
	uint64_t cap = rl.rlim_cur / 32, used = 0;
	char buf[64];
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		used = used * 10 + (uint64_t)(buf[i] - '0');
	used *= LS_PAGE;
	uint64_t left = rl.rlim_cur > used ? rl.rlim_cur - used : 0;
	if (left / 16 < cap)
		cap = left / 16;
	while (want > cap && want >= MIN_RANGE)
		want >>= 1;
	return want;
}

bool ls_region_reserve(void)
{
	int expect = 0;

	if (!atomic_compare_exchange_strong(&reserve_state, &expect, 1)) {
		while (atomic_load(&reserve_state) != 2)
			;
		return R.base != 0;
	}
	size_t budget = range_budget();
	for (size_t size = budget; size >= MIN_RANGE; size >>= 1) {
		char *raw = map_range(size + LS_CHUNK, PROT_NONE);
		if (!raw)
			continue;
		uintptr_t base = ((uintptr_t)raw + LS_CHUNK - 1) & ~(LS_CHUNK - 1);
		size_t nchunks = size / LS_CHUNK;
		uint32_t *map = map_range(nchunks * sizeof(uint32_t), PROT_READ | PROT_WRITE);
		struct run *runs = map_range(nchunks * sizeof(struct run), PROT_READ | PROT_WRITE);
		if (!map || !runs || mprotect((void *)base, COMMIT_STEP, PROT_READ | PROT_WRITE)) {
			munmap(raw, size + LS_CHUNK);
			if (map)
				munmap(map, nchunks * sizeof(uint32_t));
			if (runs)
				munmap(runs, nchunks * sizeof(struct run));
			continue;
		}
		R.runs = runs;
		for (unsigned k = 0; k <= EXACT_LISTS; k++)
			R.exact[k] = NONE;
		R.big = NONE;
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
		problem = budget < MIN_RANGE ?
			  "the address-space limit (RLIMIT_AS) leaves no room for a 4 MiB range" :
			  "mmap of a 4 MiB range failed";
		ls_arena_lo = (uintptr_t)static_boot;
		ls_arena_len = sizeof(static_boot);
	}
	atomic_store(&reserve_state, 2);
	return R.base != 0;
}

size_t ls_region_size(void)
{
	return R.base ? R.end - R.base : 0;
}

const char *ls_region_problem(void)
{
	return problem;
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

static uint32_t chunk_index(const void *p)
{
	return (uint32_t)(((uintptr_t)p - R.base) >> LS_CHUNK_SHIFT);
}

static void push_run(uint32_t head, size_t nchunks, bool decommitted)
{
	uint32_t *list = nchunks <= EXACT_LISTS ? &R.exact[nchunks] : &R.big;
	R.runs[head].len = (uint32_t)nchunks | (decommitted ? DECOMMITTED : 0);
	R.runs[head].next = *list;
	*list = head;
	if (!decommitted)
		R.cached += nchunks * LS_CHUNK;
}

/* Unlinks the first run of list for which fits() holds. */
static uint32_t unlink_run(uint32_t *list, size_t want)
{
	for (uint32_t *pp = list; *pp != NONE; pp = &R.runs[*pp].next) {
		uint32_t h = *pp;
		if ((R.runs[h].len & ~DECOMMITTED) >= want) {
			*pp = R.runs[h].next;
			return h;
		}
	}
	return NONE;
}

/* Takes a run of exactly nchunks from the free lists, splitting a longer
 * one when needed. NONE when there is none. Caller holds R.lock. */
static uint32_t pop_run(size_t nchunks)
{
	uint32_t h = NONE;

	if (nchunks <= EXACT_LISTS)
		h = unlink_run(&R.exact[nchunks], nchunks);
	if (h == NONE)
		h = unlink_run(&R.big, nchunks);
	for (size_t k = nchunks + 1; h == NONE && k <= EXACT_LISTS; k++)
		h = unlink_run(&R.exact[k], nchunks);
	if (h == NONE)
		return NONE;
	size_t len = R.runs[h].len & ~DECOMMITTED;
	bool decommitted = R.runs[h].len & DECOMMITTED;
	if (!decommitted)
		R.cached -= len * LS_CHUNK;
	if (len > nchunks)
		push_run(h + (uint32_t)nchunks, len - nchunks, decommitted);
	return h;
}

void *ls_region_take(size_t nchunks)
{
	void *p = NULL;

	if (!R.base || nchunks == 0 || nchunks > (R.end - R.base) / LS_CHUNK)
		return NULL;
	ls_lock(&R.lock);
	uint32_t h = pop_run(nchunks);
	if (h != NONE) {
		p = (void *)(R.base + ((uintptr_t)h << LS_CHUNK_SHIFT));
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
	/* Drop the pages outside the lock. */
	if (decommit)
		madvise(p, nchunks * LS_CHUNK, MADV_DONTNEED);
	ls_lock(&R.lock);
	push_run(chunk_index(p), nchunks, decommit);
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
