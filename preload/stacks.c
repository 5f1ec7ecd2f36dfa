/* SPDX-License-Identifier: MIT */
/* preload/stacks.c: interned stacks in a lock-striped hash (uthash per
 * stripe), each with the live count and bytes of its sampled blocks. */
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
	uint64_t count;   /* live sampled blocks */
	uint64_t bytes;   /* their requested bytes */
	uint32_t nframes;
	uint16_t stripe;
	void *frames[];   /* the key: nframes frames, then the API */
};

struct stripe {
	ls_lock_t lock;
	uint32_t gen;     /* open generation; 0 when no window is open */
	struct ls_stack *head;
	uint64_t sampled, live_count, live_bytes, nstacks;
} __attribute__((aligned(64)));

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

static const char *const api_names[LS_API_COUNT] = {
	"malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
	"aligned_alloc", "memalign", "valloc", "pvalloc",
};

const char *ls_api_name(unsigned api)
{
	return api < LS_API_COUNT ? api_names[api] : "malloc";
}

static size_t stack_size(unsigned n)
{
	return sizeof(struct ls_stack) + (n + 1) * sizeof(void *);
}

/* One multiply per frame, in two independent lanes so the multiplies
 * overlap, and one final mix: return addresses differ in their low and
 * middle bits, which the multiplies carry up; the final fold brings the
 * high bits down for uthash's 32-bit buckets. */
uint64_t ls_stack_hash(void *const *frames, unsigned n, unsigned api)
{
	const uint64_t k = 0xff51afd7ed558ccdull;
	uint64_t a = 0x9e3779b97f4a7c15ull ^ n, b = 0x2545f4914f6cdd1dull ^ api;
	unsigned i = 0;

	for (; i + 1 < n; i += 2) {
		a = (a ^ (uint64_t)(uintptr_t)frames[i]) * k;
		b = (b ^ (uint64_t)(uintptr_t)frames[i + 1]) * k;
	}
	if (i < n)
		a = (a ^ (uint64_t)(uintptr_t)frames[i]) * k;
	uint64_t h = a ^ (b >> 31 | b << 33);
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 32);
}

int ls_stack_intern(void *const *frames, unsigned n, unsigned api, uint64_t hash,
		    uint32_t gen, uint64_t size, struct ls_stack **out,
		    bool *is_new)
{
	unsigned si = (unsigned)(hash >> 56) % LS_STRIPES;
	struct stripe *s = &stripes[si];
	struct ls_stack *e = NULL;
	void **key = (void **)frames;
	size_t keylen = (n + 1) * sizeof(void *);
	int oomed_add = 0;

	key[n] = (void *)(uintptr_t)api;

	*is_new = false;
	ls_lock(&s->lock);
	if (s->gen != gen) {
		ls_unlock(&s->lock);
		return -ESTALE;
	}
	HASH_FIND_BYHASHVALUE(hh, s->head, key, keylen, (unsigned)hash, e);
	if (!e) {
		e = ls_mem_alloc(stack_size(n), true);
		if (!e) {
			ls_unlock(&s->lock);
			return -ENOMEM;
		}
		memset(e, 0, sizeof(*e));
		e->nframes = n;
		e->stripe = (uint16_t)si;
		memcpy(e->frames, key, keylen);
		HASH_ADD_KEYPTR_BYHASHVALUE(hh, s->head, e->frames, keylen,
					    (unsigned)hash, e);
		if (oomed_add) {
			ls_unlock(&s->lock);
			ls_mem_free(e, stack_size(n));
			return -ENOMEM;
		}
		s->nstacks++;
		*is_new = true;
	}
	e->count++;
	e->bytes += size;
	s->sampled++;
	s->live_count++;
	s->live_bytes += size;
	ls_unlock(&s->lock);
	*out = e;
	return (int)si;
}

void ls_stack_release(uint16_t stripe, uint32_t gen, struct ls_stack *e,
		      uint64_t size)
{
	struct stripe *s = &stripes[stripe % LS_STRIPES];

	ls_lock(&s->lock);
	/* A block of a closed window: its stack may be freed already. */
	if (s->gen == gen && gen) {
		e->count--;
		e->bytes -= size;
		s->live_count--;
		s->live_bytes -= size;
	}
	ls_unlock(&s->lock);
}

unsigned ls_stack_frames(const struct ls_stack *e, void *const **frames)
{
	*frames = e->frames;
	return e->nframes;
}

unsigned ls_stack_api(const struct ls_stack *e)
{
	return (unsigned)(uintptr_t)e->frames[e->nframes];
}

void ls_stacks_open(uint32_t gen)
{
	for (unsigned i = 0; i < LS_STRIPES; i++) {
		struct stripe *s = &stripes[i];
		ls_lock(&s->lock);
		s->gen = gen;
		s->head = NULL;
		s->sampled = s->live_count = s->live_bytes = s->nstacks = 0;
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
		s->sampled = s->live_count = s->live_bytes = s->nstacks = 0;
		ls_unlock(&s->lock);
	}
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
		t->sampled += s->sampled;
		t->live_count += s->live_count;
		t->live_bytes += s->live_bytes;
		t->stacks += s->nstacks;
		ls_unlock(&s->lock);
	}
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
