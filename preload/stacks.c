/* SPDX-License-Identifier: MIT */
/* preload/stacks.c: interned stacks in a lock-striped hash (uthash per
 * stripe). An entry is a stack's identity; what is live on it, and how
 * many bytes, is read from the records. So a free never comes here, and a
 * thread that samples a stack it sampled recently finds it in its own
 * memo: only a new stack takes a stripe lock. */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* uthash allocates through the counted, capped detector memory and
 * reports OOM to the caller instead of exiting the host. */
#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) ls_mem_alloc((sz), true)
#define uthash_free(p, sz) ls_mem_free((p), (sz))
#define uthash_nonfatal_oom(obj) (oomed_add = 1)
#include <uthash.h>

struct ls_stack {
	UT_hash_handle hh;
	struct ls_series series; /* births and deaths over the window (series.c) */
	uint32_t nframes;
	void *frames[];   /* the key: nframes frames, then the API */
};

struct stripe {
	ls_lock_t lock;
	uint32_t gen;     /* open generation; 0 when no window is open */
	struct ls_stack *head;
	uint64_t nstacks;
} __attribute__((aligned(64)));

/* Samples taken in the window, counted per thread shard so threads do not
 * share the counter's cache line. */
#define SHARDS 32
static struct {
	_Atomic uint64_t n;
} __attribute__((aligned(64))) sampled[SHARDS];
static _Atomic unsigned next_shard;

/* Stacks of a closed window, kept readable for the reports that hold a
 * reference (report.c) until ls_stacks_collect. */
struct grave {
	uint32_t gen;
	struct grave *next;
	struct ls_stack *heads[LS_STRIPES];
};

static struct stripe stripes[LS_STRIPES];
static pthread_mutex_t grave_lock = PTHREAD_MUTEX_INITIALIZER;
static struct grave *graves;

static const char *const api_names[] = {
	"malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
	"aligned_alloc", "memalign", "valloc", "pvalloc",
	"new", "new_array", "new_nothrow", "new_array_nothrow",
	"new_aligned", "new_array_aligned", "new_aligned_nothrow", "new_array_aligned_nothrow",
	"mallocx", "rallocx",
	"tc_malloc", "tc_malloc_skip_new_handler", "tc_calloc", "tc_realloc", "tc_memalign",
	"tc_posix_memalign", "tc_valloc", "tc_pvalloc",
	"tc_new", "tc_newarray", "tc_new_nothrow", "tc_newarray_nothrow",
	"tc_new_aligned", "tc_newarray_aligned", "tc_new_aligned_nothrow",
	"tc_newarray_aligned_nothrow",
};
_Static_assert(sizeof(api_names) / sizeof(api_names[0]) == LS_API_COUNT, "one name per API");

const char *ls_api_name(unsigned api)
{
	return api < LS_API_COUNT ? api_names[api] : "malloc";
}

static size_t stack_size(unsigned n)
{
	return sizeof(struct ls_stack) + (n + 1) * sizeof(void *);
}

static uint64_t fmix(uint64_t h)
{
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 32;
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 29);
}

/* Each half of the key mixes every frame, through two multiply-xor lanes
 * (even and odd frames) so four independent multiply chains overlap in
 * the pipeline. A multiply by an odd constant is a bijection, so a single
 * differing frame always changes its lane. */
void ls_stack_hash(void *const *frames, unsigned n, unsigned api, struct ls_stack_key *key)
{
	const uint64_t k1 = 0xff51afd7ed558ccdull, k2 = 0x9e3779b97f4a7c15ull;
	uint64_t a0 = 0x2545f4914f6cdd1dull ^ n, a1 = 0xbf58476d1ce4e5b9ull;
	uint64_t b0 = 0x94d049bb133111ebull ^ api, b1 = 0xc4ceb9fe1a85ec53ull;
	unsigned i = 0;

	for (; i + 1 < n; i += 2) {
		uint64_t f = (uint64_t)(uintptr_t)frames[i], g = (uint64_t)(uintptr_t)frames[i + 1];
		a0 = (a0 ^ f) * k1;
		a1 = (a1 ^ g) * k1;
		b0 = (b0 + (f >> 4 | f << 60)) * k2;
		b1 = (b1 + (g >> 4 | g << 60)) * k2;
	}
	if (i < n) {
		uint64_t f = (uint64_t)(uintptr_t)frames[i];
		a0 = (a0 ^ f) * k1;
		b0 = (b0 + (f >> 4 | f << 60)) * k2;
	}
	key->h1 = fmix(a0 ^ (a1 >> 32 | a1 << 32) ^ (b0 >> 17 | b0 << 47));
	key->h2 = fmix(b0 ^ (b1 >> 32 | b1 << 32) ^ api ^ (a1 >> 23 | a1 << 41));
}

static void count_sample(struct ls_tls *t)
{
	if (unlikely(!t->shard))
		t->shard = (uint8_t)(1 + atomic_fetch_add_explicit(&next_shard, 1,
								   memory_order_relaxed) % SHARDS);
	atomic_fetch_add_explicit(&sampled[t->shard - 1].n, 1, memory_order_relaxed);
}

int ls_stack_intern(void *const *frames, unsigned n, unsigned api,
		    const struct ls_stack_key *k, uint32_t gen,
		    struct ls_stack **out, bool *is_new)
{
	struct ls_tls *t = &ls_tls;
	struct ls_memo *m = &t->memo[k->h1 & (LS_MEMO - 1)];

	*is_new = false;
	/* A memo hit never dereferences the entry: it only hands its address
	 * to the record. If the window closed meanwhile, the record carries
	 * the closed generation and no later report reads it. */
	if (likely(m->gen == gen && m->h1 == k->h1 && m->h2 == k->h2)) {
		*out = m->st;
		count_sample(t);
		return 0;
	}
	unsigned hash = (unsigned)k->h1;
	unsigned si = (unsigned)(k->h1 >> 56) % LS_STRIPES;
	struct stripe *s = &stripes[si];
	struct ls_stack *e = NULL;
	void **key = (void **)frames;
	size_t keylen = (n + 1) * sizeof(void *);
	int oomed_add = 0;

	key[n] = (void *)(uintptr_t)api;

	ls_lock(&s->lock);
	if (s->gen != gen) {
		ls_unlock(&s->lock);
		return -ESTALE;
	}
	HASH_FIND_BYHASHVALUE(hh, s->head, key, keylen, hash, e);
	if (!e) {
		e = ls_mem_alloc(stack_size(n), true);
		if (!e) {
			ls_unlock(&s->lock);
			return -ENOMEM;
		}
		memset(e, 0, sizeof(*e));
		e->nframes = n;
		memcpy(e->frames, key, keylen);
		HASH_ADD_KEYPTR_BYHASHVALUE(hh, s->head, e->frames, keylen, hash, e);
		if (oomed_add) {
			ls_unlock(&s->lock);
			ls_mem_free(e, stack_size(n));
			return -ENOMEM;
		}
		s->nstacks++;
		*is_new = true;
	}
	ls_unlock(&s->lock);
	*m = (struct ls_memo){ k->h1, k->h2, e, gen };
	count_sample(t);
	*out = e;
	return 0;
}

unsigned ls_stack_frames(const struct ls_stack *e, void *const **frames)
{
	*frames = e->frames;
	return e->nframes;
}

struct ls_series *ls_stack_series(struct ls_stack *e)
{
	return &e->series;
}

unsigned ls_stack_api(const struct ls_stack *e)
{
	return (unsigned)(uintptr_t)e->frames[e->nframes];
}

static void reset_samples(void)
{
	for (unsigned i = 0; i < SHARDS; i++)
		atomic_store_explicit(&sampled[i].n, 0, memory_order_relaxed);
}

void ls_stacks_open(uint32_t gen)
{
	reset_samples();
	for (unsigned i = 0; i < LS_STRIPES; i++) {
		struct stripe *s = &stripes[i];
		ls_lock(&s->lock);
		s->gen = gen;
		s->head = NULL;
		s->nstacks = 0;
		ls_unlock(&s->lock);
	}
}

void ls_stacks_close(void)
{
	struct grave *g = ls_mem_calloc(sizeof(*g), false);
	uint32_t gen = 0;

	for (unsigned i = 0; i < LS_STRIPES; i++) {
		struct stripe *s = &stripes[i];
		ls_lock(&s->lock);
		gen = s->gen ? s->gen : gen;
		if (g)
			g->heads[i] = s->head;
		/* Without a grave the stacks leak rather than risk a report
		 * reading freed memory; counted in memory_bytes. */
		s->head = NULL;
		s->gen = 0;
		s->nstacks = 0;
		ls_unlock(&s->lock);
	}
	reset_samples();
	pthread_mutex_lock(&grave_lock);
	if (g) {
		g->gen = gen;
		g->next = graves;
		graves = g;
	}
	pthread_mutex_unlock(&grave_lock);
}

static void free_table(struct ls_stack *head)
{
	struct ls_stack *e = head, *next;

	if (!head)
		return;
	HASH_CLEAR(hh, head);
	for (; e; e = next) {
		next = e->hh.next;
		ls_mem_free(e, stack_size(e->nframes));
	}
}

void ls_stacks_collect(void)
{
	pthread_mutex_lock(&grave_lock);
	struct grave *g = graves;
	graves = NULL;
	pthread_mutex_unlock(&grave_lock);
	if (g)
		ls_series_quiesce(); /* a free of their blocks may be counting */
	while (g) {
		struct grave *next = g->next;
		for (unsigned i = 0; i < LS_STRIPES; i++)
			free_table(g->heads[i]);
		ls_mem_free(g, sizeof(*g));
		g = next;
	}
}

void ls_stacks_totals(struct ls_stack_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < LS_STRIPES; i++) {
		struct stripe *s = &stripes[i];
		ls_lock(&s->lock);
		t->stacks += s->nstacks;
		ls_unlock(&s->lock);
	}
	for (unsigned i = 0; i < SHARDS; i++)
		t->sampled += atomic_load_explicit(&sampled[i].n, memory_order_relaxed);
}

void ls_stacks_each(uint32_t gen, void (*fn)(void *, struct ls_stack *), void *ctx)
{
	struct ls_stack *e;

	for (unsigned i = 0; i < LS_STRIPES; i++) {
		struct stripe *s = &stripes[i];
		ls_lock(&s->lock);
		if (s->gen == gen)
			for (e = s->head; e; e = e->hh.next)
				fn(ctx, e);
		ls_unlock(&s->lock);
	}
	/* Closed generations are immutable: no lock beyond the list's. */
	pthread_mutex_lock(&grave_lock);
	for (struct grave *g = graves; g; g = g->next) {
		if (g->gen != gen)
			continue;
		for (unsigned i = 0; i < LS_STRIPES; i++)
			for (e = g->heads[i]; e; e = e->hh.next)
				fn(ctx, e);
	}
	pthread_mutex_unlock(&grave_lock);
}

void ls_stacks_lock_all(void)
{
	for (unsigned i = 0; i < LS_STRIPES; i++)
		ls_lock(&stripes[i].lock);
	pthread_mutex_lock(&grave_lock);
}

void ls_stacks_unlock_all(void)
{
	pthread_mutex_unlock(&grave_lock);
	for (unsigned i = LS_STRIPES; i-- > 0;)
		ls_unlock(&stripes[i].lock);
}

void ls_stacks_reinit_locks(void)
{
	for (unsigned i = 0; i < LS_STRIPES; i++)
		ls_lock_reset(&stripes[i].lock);
	pthread_mutex_init(&grave_lock, NULL);
}

void ls_stacks_init(void)
{
	for (unsigned i = 0; i < LS_STRIPES; i++)
		ls_lock_reset(&stripes[i].lock);
}
