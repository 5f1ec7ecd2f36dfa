/* SPDX-License-Identifier: MIT */
/* tests/unit/test_stacks.c: the striped stack table: interning, counts,
 * generations, the memory cap, and freeing closed windows. */
#include "../../preload/internal.h"
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static int intern_api(void **f, unsigned n, unsigned api, uint32_t gen, struct ls_stack **out,
		      bool *is_new)
{
	struct ls_stack_key k;
	ls_stack_hash(f, n, api, &k);
	return ls_stack_intern(f, n, api, &k, gen, out, is_new);
}

static int intern(void **f, unsigned n, uint32_t gen, uint64_t size, struct ls_stack **out)
{
	bool is_new;
	(void)size;
	return intern_api(f, n, LS_API_MALLOC, gen, out, &is_new);
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
	CHECK(intern_api(a, 3, LS_API_MALLOC, 7, &s1, &is_new) >= 0 && is_new,
	      "a new stack is interned");
	CHECK(intern_api(a, 3, LS_API_MALLOC, 7, &s2, &is_new) >= 0 && !is_new && s1 == s2,
	      "the same stack interns to the same entry (memo)");
	memset(ls_tls.memo, 0, sizeof(ls_tls.memo));
	CHECK(intern_api(a, 3, LS_API_MALLOC, 7, &s2, &is_new) >= 0 && !is_new && s1 == s2,
	      "and to the same entry through the table");
	CHECK(intern_api(a, 3, LS_API_CALLOC, 7, &s3, &is_new) >= 0 && is_new && s3 != s1 &&
	      ls_stack_api(s3) == LS_API_CALLOC && ls_stack_api(s1) == LS_API_MALLOC,
	      "the same frames through another API are another stack, and keep their API");
	CHECK(intern(b, 3, 7, 1, &s3) >= 0 && s3 != s1, "a stack differing in one frame is distinct");
	CHECK(intern(c, 2, 7, 1, &s4) >= 0 && s4 != s1, "a prefix of a stack is distinct");
	void *const *fr;
	CHECK(ls_stack_frames(s1, &fr) == 3 && fr[2] == (void *)0x3000, "frames are kept");
	ls_stacks_totals(&t);
	CHECK(t.stacks == 4 && t.sampled == 6,
	      "totals: 4 stacks, 6 samples (got %llu %llu)",
	      (unsigned long long)t.stacks, (unsigned long long)t.sampled);
	void *a2[4] = { (void *)0x1000, (void *)0x2000, (void *)0x3000 };
	CHECK(intern_api(a2, 3, LS_API_MALLOC, 7, &s2, &is_new) >= 0 && s2 == s1,
	      "an equal stack in another buffer finds the same entry");
	CHECK(intern(a, 3, 8, 1, &s2) == -ESTALE, "interning for a closed generation fails -ESTALE");

	ls_report_ref();
	ls_stacks_close();
	ls_stacks_totals(&t);
	CHECK(t.stacks == 0 && t.sampled == 0, "closing empties the live table");
	unsigned seen = 0;
	ls_stacks_each(7, count, &seen);
	CHECK(seen == 4, "a closed generation stays readable while referenced (%u)", seen);
	CHECK(intern(a, 3, 7, 1, &s2) == 0 && s2 == s1,
	      "a memo hit after the close still names the (retired) entry: harmless, its "
	      "record carries the closed generation");
	memset(ls_tls.memo, 0, sizeof(ls_tls.memo));
	CHECK(intern(a, 3, 7, 1, &s1) == -ESTALE, "no interning in the table once closed");
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
	/* a stack is about 700 bytes with its series (series.c): 64 KiB
	 * holds dozens, never all 5000 */
	CHECK(ok > 40 && nomem > 0 && ok + nomem == 5000,
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
		intern(f, 2, w->gen, 8, &s);
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
	CHECK(tot.stacks == 4 * 97 && tot.sampled == 4 * 20000,
	      "4 threads: exact counts under contention (%llu samples, %llu stacks)",
	      (unsigned long long)tot.sampled, (unsigned long long)tot.stacks);
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
