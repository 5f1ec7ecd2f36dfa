/* SPDX-License-Identifier: MIT */
/* preload/tcache.c: a small per-thread cache of free sampled slots. At
 * high sampling rates every allocation lands in the arena; the cache lets
 * most of them skip the size-class lock and the span header (a cache miss
 * each), refilling and flushing in batches under one lock. A key
 * destructor gives the slots back when the thread exits. */
#include "internal.h"

#define REFILL (LS_TC_DEPTH / 2)

enum { TC_UNUSED, TC_ACTIVE, TC_DEAD };

static pthread_key_t exit_key;
static bool key_ok;

void ls_tcache_flush(void)
{
	struct ls_tls *t = &ls_tls;

	ls_guard_enter();
	for (unsigned ci = 0; ci < LS_TC_CLASSES; ci++) {
		if (t->tc_n[ci])
			ls_arena_push_batch(ci, t->tc_slot[ci], t->tc_n[ci]);
		t->tc_n[ci] = 0;
	}
	ls_guard_leave();
}

/* Runs at thread exit: return every cached slot, and stop caching for the
 * frees that later destructors of the host may still make. */
static void thread_exit(void *arg)
{
	(void)arg;
	ls_tls.tc_state = TC_DEAD;
	ls_tcache_flush();
}

void ls_tcache_init(void)
{
	key_ok = pthread_key_create(&exit_key, thread_exit) == 0;
}

/* Arms the thread-exit flush the first time a thread caches a slot.
 * false when it cannot be armed: the thread then does not cache. */
static bool activate(struct ls_tls *t)
{
	if (t->tc_state == TC_ACTIVE)
		return true;
	if (t->tc_state == TC_DEAD || !key_ok || pthread_setspecific(exit_key, (void *)1)) {
		t->tc_state = TC_DEAD;
		return false;
	}
	t->tc_state = TC_ACTIVE;
	return true;
}

void *ls_tcache_pop(unsigned ci)
{
	struct ls_tls *t = &ls_tls;
	void *one;

	if (likely(t->tc_n[ci]))
		return t->tc_slot[ci][--t->tc_n[ci]];
	if (!activate(t))
		return ls_arena_pop_batch(ci, &one, 1) ? one : NULL;
	t->tc_n[ci] = (uint8_t)ls_arena_pop_batch(ci, t->tc_slot[ci], REFILL);
	return t->tc_n[ci] ? t->tc_slot[ci][--t->tc_n[ci]] : NULL;
}

bool ls_tcache_push(unsigned ci, void *slot)
{
	struct ls_tls *t = &ls_tls;

	if (unlikely(t->tc_state != TC_ACTIVE) && !activate(t))
		return false;
	if (unlikely(t->tc_n[ci] == LS_TC_DEPTH)) {
		/* Give back the oldest half; the newest are warmest. */
		ls_arena_push_batch(ci, t->tc_slot[ci], LS_TC_DEPTH / 2);
		for (unsigned k = 0; k < LS_TC_DEPTH / 2; k++)
			t->tc_slot[ci][k] = t->tc_slot[ci][k + LS_TC_DEPTH / 2];
		t->tc_n[ci] = LS_TC_DEPTH / 2;
	}
	t->tc_slot[ci][t->tc_n[ci]++] = slot;
	return true;
}
