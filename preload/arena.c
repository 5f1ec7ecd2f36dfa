/* SPDX-License-Identifier: MIT */
/* preload/arena.c: the small allocator for sampled blocks. Spans of one
 * size class hold slots, with each slot's record in the span header beside
 * them; blocks over 32 KiB get a span of their own. */
#include "internal.h"

#include <string.h>

#define SPAN_MAGIC    0x6c735350u /* "lsSP" */
#define SMALL_MAX     32768u
#define NCLASSES      40
#define CLASS_LARGE   0xffffu
#define TAG_LARGE     0xffu    /* chunk-map tag of a large span; small: class + 1 */
#define NONE          UINT32_MAX
#define MAX_SPAN_CHUNKS 8

/* Every field an allocation or a free reads or writes sits in the first
 * 64 bytes: a span header costs one cache line per operation. */
struct ls_span {
	_Atomic uint32_t magic;   /* magic, version, fresh and cls are read by */
	_Atomic uint32_t version; /* lock-free scans: atomics, accessed relaxed */
	_Atomic uint32_t fresh;   /* slots [fresh, nslots) were never used */
	_Atomic uint16_t cls;
	uint16_t on_partial;
	uint64_t slot_size;
	uint64_t recip;           /* ceil(2^40 / slot_size): index by multiply */
	uintptr_t slots;
	uint32_t nslots;
	uint32_t nfree;
	uint32_t free_head;       /* free-list of slots, linked through t_ns */
	uint32_t nchunks;
	uint8_t charged;          /* its metadata counts as detector memory */
	/* -- 57 bytes; the rest changes only when the span fills or empties */
	struct ls_span *next, *prev;
	struct ls_rec recs[];
};
_Static_assert(__builtin_offsetof(struct ls_span, next) <= 64, "hot span fields fit a line");

/* off < 2^19 (a span) and slot_size < 2^16 keep off x recip exact and
 * inside 64 bits; large spans have one slot at offset 0. */
#define RECIP_SHIFT 40
static uint64_t recip_of(uint64_t size)
{
	return (((uint64_t)1 << RECIP_SHIFT) + size - 1) / size;
}

struct ls_class {
	ls_lock_t lock;
	uint32_t size;
	uint32_t nslots;
	uint32_t nchunks;
	uint32_t slots_off;  /* offset of slot 0 from the span start */
	uint32_t align;      /* guaranteed alignment of every slot */
	uint32_t nempty;     /* fully free spans kept on the partial list */
	uint64_t recip;      /* ceil(2^40 / size) */
	struct ls_span *partial;
} __attribute__((aligned(64)));

static struct ls_class classes[NCLASSES];
static _Atomic uint64_t meta_bytes;
static bool arena_ready;

static size_t lowest_bit(size_t v)
{
	return v & (~v + 1);
}

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Lays out the spans of one class: the span length (1..8 chunks) that
 * wastes least, with slot 0 aligned to the class's natural alignment. */
static void layout_class(struct ls_class *c, uint32_t size)
{
	size_t best_waste = SIZE_MAX;

	c->size = size;
	c->recip = recip_of(size);
	c->align = (uint32_t)lowest_bit(size);
	if (c->align > LS_PAGE)
		c->align = LS_PAGE;
	for (uint32_t k = 1; k <= MAX_SPAN_CHUNKS; k++) {
		size_t total = k * LS_CHUNK, n, off;
		n = (total - sizeof(struct ls_span)) / (size + sizeof(struct ls_rec));
		for (;; n--) {
			off = round_up(sizeof(struct ls_span) + n * sizeof(struct ls_rec), c->align);
			if (off + n * size <= total)
				break;
		}
		size_t waste = total - n * size;
		/* Compare waste per slot-byte; prefer fewer chunks on ties. */
		if (n > 0 && waste * 1000 / total + 10 < best_waste) {
			best_waste = waste * 1000 / total;
			c->nchunks = k;
			c->nslots = (uint32_t)n;
			c->slots_off = (uint32_t)off;
		}
		if (best_waste <= 30)
			break;
	}
}

void ls_arena_init(void)
{
	uint32_t i = 0;

	for (uint32_t s = 16; s <= 128; s += 16)
		layout_class(&classes[i++], s);
	for (uint32_t base = 128; base < SMALL_MAX; base *= 2)
		for (uint32_t q = 1; q <= 4; q++)
			layout_class(&classes[i++], base + q * (base / 4));
	for (i = 0; i < NCLASSES; i++)
		ls_lock_reset(&classes[i].lock);
	ls_tcache_init();
	arena_ready = true;
}

/* The class for size bytes, or NCLASSES when it is large. */
static unsigned class_of(size_t size)
{
	if (size <= 128)
		return size ? (unsigned)((size + 15) / 16 - 1) : 0;
	if (size > SMALL_MAX)
		return NCLASSES;
	unsigned b = 63u - (unsigned)__builtin_clzll(size - 1); /* 2^b < size <= 2^(b+1) */
	return 8 + (b - 7) * 4 + (unsigned)((size - 1) >> (b - 2)) - 4;
}

/* Makes version odd while a span header is rewritten. The header may hold
 * leftovers of a free run, so the old value's parity is not trusted. */
static void span_begin_rewrite(struct ls_span *s)
{
	uint32_t v = atomic_load_explicit(&s->version, memory_order_relaxed);
	atomic_store_explicit(&s->version, v | 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void span_end_rewrite(struct ls_span *s)
{
	atomic_fetch_add_explicit(&s->version, 1, memory_order_release);
}

static void clear_recs(struct ls_rec *r, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		ls_wr(r[i].seq, 0);
		ls_wr(r[i].gen, 0);
		ls_wr(r[i].size, 0);
		ls_wr(r[i].t_ns, 0);
		ls_wr(r[i].stack, NULL);
	}
}

/* A fresh span for class c. NULL when the range or the memory cap is full. */
static struct ls_span *span_new(unsigned ci)
{
	struct ls_class *c = &classes[ci];

	if (!ls_mem_charge(c->slots_off, true)) {
		ls_tls.drop_why = LS_DROP_MEMORY_CAP;
		return NULL;
	}
	struct ls_span *s = ls_region_take(c->nchunks);
	if (!s) {
		ls_tls.drop_why = ls_region_size() ? LS_DROP_ARENA_FULL : LS_DROP_NO_ARENA;
		ls_mem_uncharge(c->slots_off);
		return NULL;
	}
	span_begin_rewrite(s);
	ls_wr(s->magic, SPAN_MAGIC);
	ls_wr(s->cls, (uint16_t)ci);
	s->on_partial = 0;
	s->charged = 1;
	s->nchunks = c->nchunks;
	s->nslots = c->nslots;
	s->nfree = c->nslots;
	s->free_head = NONE;
	atomic_store_explicit(&s->fresh, 0, memory_order_relaxed);
	s->slot_size = c->size;
	s->recip = c->recip;
	s->slots = (uintptr_t)s + c->slots_off;
	s->next = s->prev = NULL;
	/* A reused run may hold old records: clear them before scans see it. */
	clear_recs(s->recs, c->nslots);
	atomic_fetch_add_explicit(&meta_bytes, c->slots_off, memory_order_relaxed);
	ls_region_map_span(s, c->nchunks, ci + 1);
	span_end_rewrite(s);
	return s;
}

/* Counts (on) or uncounts a small span's metadata as detector memory.
 * Recounting a reused empty span is not capped: its memory exists. */
static void charge(struct ls_class *c, struct ls_span *s, bool on)
{
	if (s->charged == on)
		return;
	s->charged = on;
	if (on) {
		ls_mem_charge(c->slots_off, false);
		atomic_fetch_add_explicit(&meta_bytes, c->slots_off, memory_order_relaxed);
	} else {
		ls_mem_uncharge(c->slots_off);
		atomic_fetch_sub_explicit(&meta_bytes, c->slots_off, memory_order_relaxed);
	}
}

static void partial_push(struct ls_class *c, struct ls_span *s)
{
	s->prev = NULL;
	s->next = c->partial;
	if (c->partial)
		c->partial->prev = s;
	c->partial = s;
	s->on_partial = 1;
}

static void partial_remove(struct ls_class *c, struct ls_span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->partial = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->on_partial = 0;
}

static void *large_alloc(size_t size, size_t align, struct ls_slot *slot)
{
	size_t off = align > LS_PAGE ? align : LS_PAGE;
	size_t nchunks = (off + size + LS_CHUNK - 1) / LS_CHUNK;

	if (!ls_mem_charge(LS_PAGE, true)) {
		ls_tls.drop_why = LS_DROP_MEMORY_CAP;
		return NULL;
	}
	struct ls_span *s = ls_region_take(nchunks);
	if (!s) {
		ls_tls.drop_why = ls_region_size() ? LS_DROP_ARENA_FULL : LS_DROP_NO_ARENA;
		ls_mem_uncharge(LS_PAGE);
		return NULL;
	}
	span_begin_rewrite(s);
	ls_wr(s->magic, SPAN_MAGIC);
	ls_wr(s->cls, CLASS_LARGE);
	s->nchunks = (uint32_t)nchunks;
	s->nslots = 1;
	s->nfree = 0;
	s->free_head = NONE;
	atomic_store_explicit(&s->fresh, 1, memory_order_relaxed);
	s->slot_size = nchunks * LS_CHUNK - off;
	s->recip = 0;
	s->slots = (uintptr_t)s + off;
	clear_recs(s->recs, 1);
	atomic_fetch_add_explicit(&meta_bytes, LS_PAGE, memory_order_relaxed);
	ls_region_map_span(s, nchunks, TAG_LARGE);
	span_end_rewrite(s);
	*slot = (struct ls_slot){ s, 0, CLASS_LARGE, &s->recs[0], (void *)s->slots };
	return (void *)s->slots;
}

unsigned ls_arena_class(size_t size, size_t align)
{
	unsigned ci = class_of(size);
	while (ci < NCLASSES && classes[ci].align < align)
		ci++;
	return ci;
}

unsigned ls_arena_pop_batch(unsigned ci, void **out, unsigned want)
{
	struct ls_class *c = &classes[ci];
	struct ls_span *s;
	unsigned got = 0;

	ls_lock(&c->lock);
	while (got < want) {
		if (!(s = c->partial)) {
			if (got)
				break;
			/* Map a new span without the lock: it takes a syscall. */
			ls_unlock(&c->lock);
			struct ls_span *fresh = span_new(ci);
			if (!fresh)
				return 0;
			ls_lock(&c->lock);
			partial_push(c, fresh);
			c->nempty++;
			continue;
		}
		if (s->nfree == s->nslots) {
			c->nempty--;
			if (!s->charged)
				charge(c, s, true);
		}
		uint32_t idx;
		if (s->free_head != NONE) {
			idx = s->free_head;
			s->free_head = (uint32_t)ls_rd(s->recs[idx].t_ns);
		} else {
			idx = atomic_load_explicit(&s->fresh, memory_order_relaxed);
			atomic_store_explicit(&s->fresh, idx + 1, memory_order_release);
		}
		if (--s->nfree == 0)
			partial_remove(c, s);
		out[got++] = (void *)(s->slots + (uintptr_t)idx * c->size);
	}
	ls_unlock(&c->lock);
	return got;
}

void ls_arena_push_batch(unsigned ci, void *const *slots, unsigned n)
{
	struct ls_class *c = &classes[ci];
	struct ls_span *give[16];
	unsigned ngive = 0;

	ls_lock(&c->lock);
	for (unsigned k = 0; k < n; k++) {
		struct ls_slot sl;
		if (!ls_arena_locate(slots[k], &sl))
			continue;
		struct ls_span *s = sl.span;
		ls_wr(s->recs[sl.idx].t_ns, s->free_head);
		s->free_head = sl.idx;
		if (s->nfree++ == 0)
			partial_push(c, s);
		if (s->nfree != s->nslots)
			continue;
		/* Keep one empty span per class for reuse; return the rest.
		 * A kept empty span holds no record: it stops counting as
		 * detector memory until it is used again. */
		charge(c, s, false);
		if (c->nempty >= 1 && ngive < sizeof(give) / sizeof(give[0])) {
			partial_remove(c, s);
			span_begin_rewrite(s);
			ls_wr(s->magic, 0);
			span_end_rewrite(s);
			ls_region_unmap_span(s, s->nchunks);
			give[ngive++] = s;
		} else {
			c->nempty++;
		}
	}
	ls_unlock(&c->lock);
	for (unsigned k = 0; k < ngive; k++)
		ls_region_give(give[k], c->nchunks);
}

void *ls_arena_alloc(size_t size, size_t align, struct ls_slot *slot)
{
	void *p;

	if (!arena_ready || size > ((uint64_t)1 << 40) || align > LS_CHUNK) {
		ls_tls.drop_why = !arena_ready ? LS_DROP_NO_ARENA :
				  align > LS_CHUNK ? LS_DROP_ALIGNMENT : LS_DROP_TOO_LARGE;
		return NULL;
	}
	unsigned ci = ls_arena_class(size, align);
	if (ci >= NCLASSES)
		return large_alloc(size, align, slot);
	if (ci < LS_TC_CLASSES)
		p = ls_tcache_pop(ci);
	else if (!ls_arena_pop_batch(ci, &p, 1))
		p = NULL;
	if (p && !ls_arena_locate(p, slot))
		p = NULL; /* cannot happen: the slot was just handed out */
	return p;
}

/* Finds the slot without reading the span header: the chunk map names the
 * class, and the class gives the layout. */
bool ls_arena_locate(const void *p, struct ls_slot *out)
{
	uint32_t e = ls_region_entry(p);
	uint64_t off, i = 0;

	if (unlikely(!e))
		return false;
	struct ls_span *s = ls_region_entry_span(e);
	unsigned tag = e >> LS_REGION_TAG_SHIFT;
	if (likely(tag != TAG_LARGE)) {
		const struct ls_class *c = &classes[tag - 1];
		uintptr_t slots = (uintptr_t)s + c->slots_off;
		if ((uintptr_t)p < slots)
			return false;
		off = (uintptr_t)p - slots;
		i = (off * c->recip) >> RECIP_SHIFT;
		if (i * c->size != off || i >= c->nslots)
			return false; /* not the start of a slot */
		*out = (struct ls_slot){ s, (uint32_t)i, (uint16_t)(tag - 1), &s->recs[i], (void *)p };
		return true;
	}
	if (ls_rd(s->magic) != SPAN_MAGIC || (uintptr_t)p != s->slots)
		return false;
	*out = (struct ls_slot){ s, 0, CLASS_LARGE, &s->recs[0], (void *)p };
	return true;
}

bool ls_arena_find(const void *p, struct ls_slot *out)
{
	return ls_arena_locate(p, out) &&
	       atomic_load_explicit(&out->rec->gen, memory_order_relaxed) != 0;
}

struct ls_rec *ls_arena_rec(const void *p)
{
	struct ls_slot sl;
	return ls_arena_find(p, &sl) ? sl.rec : NULL;
}

size_t ls_arena_slot_size(const struct ls_slot *sl)
{
	return sl->cls == CLASS_LARGE ? sl->span->slot_size : classes[sl->cls].size;
}

size_t ls_arena_usable(const void *p)
{
	struct ls_slot sl;
	return ls_arena_locate(p, &sl) ? ls_arena_slot_size(&sl) : 0;
}

void ls_arena_release(void *p)
{
	struct ls_slot sl;
	if (ls_arena_locate(p, &sl))
		ls_arena_free_slot(&sl);
}

void ls_arena_free_slot(const struct ls_slot *sl)
{
	struct ls_span *s = sl->span;

	if (sl->cls == CLASS_LARGE) {
		span_begin_rewrite(s);
		ls_wr(s->magic, 0);
		span_end_rewrite(s);
		ls_region_unmap_span(s, s->nchunks);
		atomic_fetch_sub_explicit(&meta_bytes, LS_PAGE, memory_order_relaxed);
		ls_mem_uncharge(LS_PAGE);
		ls_region_give(s, s->nchunks);
		return;
	}
	if (sl->cls < LS_TC_CLASSES && ls_tcache_push(sl->cls, sl->p))
		return;
	ls_arena_push_batch(sl->cls, &sl->p, 1);
}

uint64_t ls_arena_meta_bytes(void)
{
	return atomic_load_explicit(&meta_bytes, memory_order_relaxed);
}

struct rec_view {
	uint64_t size, t_ns;
	struct ls_stack *stack;
};

/* Reads one record under its seqlock. false when it is not a live record
 * of generation gen or kept changing. */
static bool read_rec(struct ls_rec *r, uint32_t gen, struct rec_view *out)
{
	for (int tries = 0; tries < 4; tries++) {
		uint32_t s1 = atomic_load_explicit(&r->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		uint32_t g = atomic_load_explicit(&r->gen, memory_order_relaxed);
		if (g != gen)
			return false;
		out->size = ls_rd(r->size);
		out->t_ns = ls_rd(r->t_ns);
		out->stack = ls_rd(r->stack);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&r->seq, memory_order_relaxed) == s1)
			return true;
	}
	return false;
}

void ls_arena_scan(uint32_t gen, ls_rec_fn fn, void *ctx)
{
	uintptr_t first = ls_region_first_span(), end = ls_region_committed_end();

	/* Generation 0 marks free slots: no window's blocks. */
	if (!first || !arena_ready || !gen)
		return;
	for (uintptr_t at = first; at < end; at += LS_CHUNK) {
		struct ls_span *s = (struct ls_span *)at;
		if (ls_region_span_of(s) != (void *)s)
			continue;
		uint32_t v = atomic_load_explicit(&s->version, memory_order_acquire);
		if ((v & 1) || ls_rd(s->magic) != SPAN_MAGIC)
			continue;
		unsigned cls = ls_rd(s->cls);
		uint32_t n = atomic_load_explicit(&s->fresh, memory_order_acquire);
		uint32_t cap = cls == CLASS_LARGE ? 1 : cls < NCLASSES ? classes[cls].nslots : 0;
		if (n > cap)
			n = cap;
		for (uint32_t i = 0; i < n; i++) {
			struct rec_view r;
			if (!read_rec(&s->recs[i], gen, &r))
				continue;
			/* The span was recycled under us: its later records
			 * belong to another layout. */
			if (atomic_load_explicit(&s->version, memory_order_acquire) != v)
				break;
			fn(ctx, r.stack, r.size, r.t_ns);
		}
	}
}

struct live {
	const struct ls_window_info *info;
	uint64_t count, bytes;
	struct ls_weights *w;
};

static void add_live(void *ctx, struct ls_stack *st, uint64_t size, uint64_t t_ns)
{
	struct live *l = ctx;
	(void)st;
	(void)t_ns;
	l->count++;
	l->bytes += size;
	if (l->w)
		ls_weights_add(l->w, l->info, size);
}

void ls_arena_live(const struct ls_window_info *info, uint64_t *count, uint64_t *bytes,
		   struct ls_weights *w)
{
	struct live l = { .info = info, .w = w };
	if (info->gen)
		ls_arena_scan(info->gen, add_live, &l);
	*count = l.count;
	*bytes = l.bytes;
}

void ls_arena_lock_all(void)
{
	for (unsigned i = 0; i < NCLASSES; i++)
		ls_lock(&classes[i].lock);
}

void ls_arena_unlock_all(void)
{
	for (unsigned i = NCLASSES; i-- > 0;)
		ls_unlock(&classes[i].lock);
}

void ls_arena_reinit_locks(void)
{
	for (unsigned i = 0; i < NCLASSES; i++)
		ls_lock_reset(&classes[i].lock);
}
