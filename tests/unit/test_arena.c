/* SPDX-License-Identifier: MIT */
/* tests/unit/test_arena.c: the sampled-block arena: sizes, alignment,
 * ownership, no overlap, reuse, large blocks, invalid pointers, scans. */
#include "../../preload/internal.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

#define NB 3000

static void *blk[NB];
static size_t sz[NB];

static void sizes_and_overlap(void)
{
	struct ls_slot sl;
	struct ls_rec *rec;
	unsigned bad_align = 0, bad_own = 0, bad_usable = 0, failed = 0;
	srand(1);
	for (unsigned i = 0; i < NB; i++) {
		size_t s = i % 10 == 0 ? (size_t)(rand() % 200000) : (size_t)(rand() % 600);
		size_t align = (size_t)1 << (rand() % 13); /* 1 .. 4096 */
		sz[i] = s;
		blk[i] = ls_arena_alloc(s, align, &sl);
		if (!blk[i]) {
			failed++;
			continue;
		}
		rec = sl.rec;
		bad_align += ((uintptr_t)blk[i] & (align - 1)) != 0 ||
			     ((uintptr_t)blk[i] & 15) != 0;
		bad_own += !ls_arena_owns(blk[i]);
		/* mark the slot live the way the sampler does */
		atomic_store(&rec->gen, 5);
		rec->size = s;
		bad_usable += ls_arena_usable(blk[i]) < s || ls_arena_rec(blk[i]) != rec;
		memset(blk[i], (int)(i & 0xff), s);
	}
	CHECK(failed == 0, "3000 blocks of 0..200000 bytes all allocated");
	CHECK(bad_align == 0, "every block honours its alignment (up to 4096) and 16");
	CHECK(bad_own == 0, "every block is inside the arena range");
	CHECK(bad_usable == 0, "usable size covers the request; the record is found");
	unsigned overlap = 0;
	for (unsigned i = 0; i < NB; i++)
		for (size_t k = 0; k < sz[i]; k += 61)
			overlap += ((unsigned char *)blk[i])[k] != (i & 0xff);
	CHECK(overlap == 0, "no block overwrote another");
	CHECK(!ls_arena_owns(&overlap) && !ls_arena_owns(NULL), "stack and NULL are not owned");
}

static void count_rec(void *ctx, struct ls_stack *st, uint64_t size, uint64_t t)
{
	(void)st; (void)t;
	uint64_t *c = ctx;
	c[0]++;
	c[1] += size;
}

static void scan_and_release(void)
{
	uint64_t c[2] = { 0, 0 }, want = 0;
	for (unsigned i = 0; i < NB; i++)
		want += sz[i];
	ls_arena_scan(5, count_rec, c);
	CHECK(c[0] == NB && c[1] == want, "a scan finds every live record (%llu of %d)",
	      (unsigned long long)c[0], NB);
	uint64_t live, bytes;
	ls_arena_live(&(struct ls_window_info){ .gen = 5, .sampling = 1 }, &live, &bytes, NULL);
	CHECK(live == NB && bytes == want, "ls_arena_live sums them");
	c[0] = c[1] = 0;
	ls_arena_scan(6, count_rec, c);
	CHECK(c[0] == 0, "a scan of another generation finds none");

	unsigned bad_interior = 0;
	for (unsigned i = 0; i < NB; i++)
		if (sz[i] > 32)
			bad_interior += ls_arena_rec((char *)blk[i] + 16) != NULL;
	CHECK(bad_interior == 0, "interior pointers are not mistaken for blocks");

	uint64_t meta = ls_arena_meta_bytes();
	for (unsigned i = 0; i < NB; i += 2) {
		atomic_store(&ls_arena_rec(blk[i])->gen, 0);
		ls_arena_release(blk[i]);
	}
	c[0] = c[1] = 0;
	ls_arena_scan(5, count_rec, c);
	CHECK(c[0] == NB / 2, "released blocks leave the scan (%llu left)", (unsigned long long)c[0]);
	CHECK(ls_arena_rec(blk[0]) == NULL, "a released block has no record (double free is caught)");
	for (unsigned i = 1; i < NB; i += 2) {
		atomic_store(&ls_arena_rec(blk[i])->gen, 0);
		ls_arena_release(blk[i]);
	}
	CHECK(ls_arena_meta_bytes() < meta, "empty spans give their metadata back (%llu -> %llu)",
	      (unsigned long long)meta, (unsigned long long)ls_arena_meta_bytes());
}

static void reuse(void)
{
	struct ls_slot sl;
	uintptr_t end0 = ls_region_committed_end();
	for (int round = 0; round < 50; round++) {
		void *v[200];
		for (int i = 0; i < 200; i++) {
			v[i] = ls_arena_alloc((size_t)(i * 37 % 5000) + (i % 7 == 0 ? 70000 : 0), 16, &sl);
			atomic_store(&sl.rec->gen, 5);
		}
		for (int i = 0; i < 200; i++) {
			atomic_store(&ls_arena_rec(v[i])->gen, 0);
			ls_arena_release(v[i]);
		}
	}
	uintptr_t grown = ls_region_committed_end() - end0;
	CHECK(grown < (8u << 20), "50 rounds of alloc/free reuse memory (range grew %lu KiB)",
	      (unsigned long)(grown >> 10));
}

int main(void)
{
	ls_real_init();
	ls_config_load();
	ls_arena_init();
	sizes_and_overlap();
	scan_and_release();
	reuse();
	return check_status();
}
