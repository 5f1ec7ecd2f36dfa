/* SPDX-License-Identifier: MIT */
/* tests/unit/test_stacks.c: the striped stack table: interning, counts,
 * generations, the memory cap, and freeing closed windows. */
#include "../../preload/internal.h"
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static int intern(void **f, unsigned n, uint32_t gen, uint64_t size, struct ls_stack **out)
{
	bool is_new;
	return ls_stack_intern(f, n, LS_API_MALLOC, ls_stack_hash(f, n, LS_API_MALLOC), gen, size,
			       out, &is_new);
}

static void count(void *ctx, struct ls_stack *s)
{
	(void)s;
	(*(unsigned *)ctx)++;
}

static void basics(void)
{
	/* one spare word each: ls_stack_intern stores the API after the frames */
	void *a[4] = { (void *)0x1000, (void *)0x2000, (void *)0x3000 };
	void *b[4] = { (void *)0x1000, (void *)0x2000, (void *)0x3001 };
	void *c[3] = { (void *)0x1000, (void *)0x2000 };
	struct ls_stack *s1, *s2, *s3, *s4;
	struct ls_stack_totals t;
	bool is_new;

	ls_stacks_open(7);
	CHECK(ls_stack_intern(a, 3, LS_API_MALLOC, ls_stack_hash(a, 3, LS_API_MALLOC), 7, 100,
			      &s1, &is_new) >= 0 && is_new,
	      "a new stack is interned");
	CHECK(ls_stack_intern(a, 3, LS_API_MALLOC, ls_stack_hash(a, 3, LS_API_MALLOC), 7, 50,
			      &s2, &is_new) >= 0 && !is_new && s1 == s2,
	      "the same stack interns to the same entry");
	CHECK(ls_stack_intern(a, 3, LS_API_CALLOC, ls_stack_hash(a, 3, LS_API_CALLOC), 7, 1,
			      &s3, &is_new) >= 0 && is_new && s3 != s1 &&
	      ls_stack_api(s3) == LS_API_CALLOC && ls_stack_api(s1) == LS_API_MALLOC,
	      "the same frames through another API are another stack, and keep their API");
	CHECK(intern(b, 3, 7, 1, &s3) >= 0 && s3 != s1, "a stack differing in one frame is distinct");
	CHECK(intern(c, 2, 7, 1, &s4) >= 0 && s4 != s1, "a prefix of a stack is distinct");
	void *const *fr;
	CHECK(ls_stack_frames(s1, &fr) == 3 && fr[2] == (void *)0x3000, "frames are kept");
	ls_stacks_totals(&t);
	CHECK(t.stacks == 4 && t.live_count == 5 && t.live_bytes == 153 && t.sampled == 5,
	      "totals: 4 stacks, 5 live, 153 bytes (got %llu %llu %llu)",
	      (unsigned long long)t.stacks, (unsigned long long)t.live_count,
	      (unsigned long long)t.live_bytes);
	int stripe = intern(a, 3, 7, 0, &s1);
	ls_stack_release((uint16_t)stripe, 7, s1, 100);
	ls_stack_release((uint16_t)stripe, 7, s1, 0);
	ls_stacks_totals(&t);
	CHECK(t.live_count == 4 && t.live_bytes == 53, "release uncounts live blocks");
	ls_stack_release((uint16_t)stripe, 6, s1, 50);
	ls_stacks_totals(&t);
	CHECK(t.live_count == 4, "release of another generation's block is ignored");
	CHECK(intern(a, 3, 8, 1, &s2) == -ESTALE, "interning for a closed generation fails -ESTALE");

	ls_report_ref();
	ls_stacks_close();
	ls_stacks_totals(&t);
	CHECK(t.stacks == 0 && t.live_count == 0, "closing empties the live table");
	unsigned seen = 0;
	ls_stacks_each(7, count, &seen);
	CHECK(seen == 4, "a closed generation stays readable while referenced (%u)", seen);
	CHECK(intern(a, 3, 7, 1, &s1) == -ESTALE, "no interning once closed");
	uint64_t before = ls_mem_used();
	ls_report_unref();
	CHECK(ls_mem_used() < before, "the last reference frees the closed stacks");
	seen = 0;
	ls_stacks_each(7, count, &seen);
	CHECK(seen == 0, "freed generations are gone");
}

static void memory_cap(void)
{
	uint64_t base = ls_mem_used();
	ls_cfg.max_memory = base + 64 * 1024;
	ls_stacks_open(9);
	unsigned ok = 0, nomem = 0;
	for (uintptr_t i = 1; i <= 5000; i++) {
		void *f[9];
		for (int k = 0; k < 8; k++)
			f[k] = (void *)(i * 64 + (uintptr_t)k);
		struct ls_stack *s;
		int rc = intern(f, 8, 9, 16, &s);
		ok += rc >= 0;
		nomem += rc == -ENOMEM;
	}
	CHECK(ok > 100 && nomem > 0 && ok + nomem == 5000,
	      "the memory cap stops interning with -ENOMEM (%u interned, %u refused)", ok, nomem);
	CHECK(ls_mem_used() <= ls_cfg.max_memory, "detector memory stays under the cap");
	ls_report_ref();
	ls_stacks_close();
	ls_report_unref();
	CHECK(ls_mem_used() == base, "after the window is freed, memory returns to its baseline "
	      "(%llu vs %llu)", (unsigned long long)ls_mem_used(), (unsigned long long)base);
	ls_cfg.max_memory = 256ull << 20;
}

struct worker {
	uint32_t gen;
	unsigned id;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	for (unsigned i = 0; i < 20000; i++) {
		void *f[4] = { (void *)(uintptr_t)(i % 97 + 1), (void *)(uintptr_t)w->id, 0, 0 };
		struct ls_stack *s;
		int stripe = intern(f, 2, w->gen, 8, &s);
		if (stripe >= 0 && (i & 1))
			ls_stack_release((uint16_t)stripe, w->gen, s, 8);
	}
	return NULL;
}

static void threads(void)
{
	pthread_t t[4];
	struct worker w[4];
	struct ls_stack_totals tot;

	ls_stacks_open(11);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){ 11, i + 1 };
		pthread_create(&t[i], NULL, hammer, &w[i]);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ls_stacks_totals(&tot);
	CHECK(tot.live_count == 4 * 10000 && tot.live_bytes == 4 * 10000 * 8 &&
	      tot.stacks == 4 * 97 && tot.sampled == 4 * 20000,
	      "4 threads: exact counts under contention (%llu live, %llu stacks)",
	      (unsigned long long)tot.live_count, (unsigned long long)tot.stacks);
	ls_report_ref();
	ls_stacks_close();
	ls_report_unref();
}

int main(void)
{
	ls_real_init();
	ls_config_load();
	ls_stacks_init();
	basics();
	memory_cap();
	threads();
	return check_status();
}
