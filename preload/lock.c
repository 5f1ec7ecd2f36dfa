/* SPDX-License-Identifier: MIT */
/* preload/lock.c: the slow half of ls_lock. Our critical sections last
 * tens of nanoseconds and never block, so a test-and-set lock beats a
 * pthread mutex's bookkeeping; a waiter spins briefly, then yields, then
 * sleeps, so a preempted holder (or a real-time host) cannot livelock. */
#include "internal.h"

#include <sched.h>
#include <time.h>

void ls_lock_slow(ls_lock_t *l)
{
	for (unsigned round = 0;; round++) {
		while (atomic_load_explicit(&l->v, memory_order_relaxed)) {
			if (round < 64) {
				__builtin_ia32_pause();
			} else if (round < 128) {
				sched_yield();
			} else {
				struct timespec ts = { 0, 50000 };
				nanosleep(&ts, NULL);
			}
			round++;
		}
		if (!atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
			return;
	}
}
