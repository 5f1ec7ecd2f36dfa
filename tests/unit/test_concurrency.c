/* SPDX-License-Identifier: MIT */
/* tests/unit/test_concurrency.c: the preload's internals under concurrent
 * use, for AddressSanitizer and ThreadSanitizer (make asan, make tsan):
 * threads sample, free and realloc through the same slow paths the hooks
 * use, free each other's blocks and exit, while another thread opens and
 * closes windows and builds, streams and frees reports and status. */
#include "../../preload/internal.h"
#include "check.h"

#include <pthread.h>
#include <string.h>

#define WORKERS 4
#define RING 256

static atomic_int stop;
static void *_Atomic shared[64]; /* blocks handed between threads */
static atomic_ulong ops, bad;

/* What a hook does: tick, then the slow path when due. */
static void *alloc(size_t size)
{
	return ls_sample_tick(size) ? ls_slow_malloc(size) : ls_real.malloc(size);
}

static void release(void *p)
{
	if (ls_arena_owns(p))
		ls_sample_free(p);
	else
		ls_real.free(p);
}

static void *resize(void *p, size_t size)
{
	if (ls_arena_owns(p))
		return ls_slow_realloc(p, 1, size, LS_API_REALLOC, false);
	if (ls_sample_tick(size))
		return ls_slow_realloc(p, 1, size, LS_API_REALLOC, true);
	return ls_real.realloc(p, size);
}

static __attribute__((noinline)) void *deep(int d, size_t size)
{
	void *p = d ? deep(d - 1, size) : alloc(size);
	__asm__ volatile("" ::: "memory");
	return p;
}

/* Runs until stop, or for budget operations when budget is not 0. */
static void churn(unsigned long seed, unsigned long budget)
{
	void *ring[RING] = { 0 };

	for (unsigned long done = 0; !atomic_load(&stop) && (!budget || done < budget); done++) {
		seed = seed * 6364136223846793005ul + 1442695040888963407ul;
		unsigned k = (unsigned)(seed >> 33) % RING;
		size_t size = 1 + (seed >> 40) % 700;
		release(ring[k]);
		ring[k] = (seed & 7) == 0 ? resize(deep((int)((seed >> 20) % 6), 8), size)
					  : deep((int)((seed >> 20) % 6), size);
		if (!ring[k]) {
			atomic_fetch_add(&bad, 1);
			continue;
		}
		memset(ring[k], 0x33, size);
		/* hand one block in 16 to whichever thread comes next */
		if ((seed & 15) == 3) {
			void *p = atomic_exchange(&shared[(seed >> 8) & 63], ring[k]);
			ring[k] = NULL;
			release(p);
		}
		atomic_fetch_add(&ops, 1);
	}
	for (unsigned k = 0; k < RING; k++)
		release(ring[k]);
}

static void *worker(void *arg)
{
	churn((unsigned long)(uintptr_t)arg * 2654435761u + 1, 0);
	return NULL;
}

static void *short_worker(void *arg)
{
	churn((unsigned long)(uintptr_t)arg * 2654435761u + 7, 2000);
	return NULL;
}

/* Short-lived threads, so thread-exit flushes race with everything. */
static unsigned long spawned;

static void *spawner(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		pthread_t t;
		pthread_create(&t, NULL, short_worker, (void *)(uintptr_t)(spawned + 100));
		pthread_join(t, NULL);
		spawned++;
	}
	return NULL;
}

static unsigned long toggles, reports, incomplete;

static void *toggler(void *arg)
{
	static const uint64_t rates[] = { 1, 1, 2, 10, 100, 1000 };
	char buf[8192];
	(void)arg;
	ls_guard_enter(); /* as the control thread runs */
	for (unsigned i = 0; !atomic_load(&stop); i++) {
		struct ls_window_info info;
		ls_window_on(rates[i % 6]);
		for (int r = 0; r < 2; r++) {
			ls_report_ref();
			ls_window_get(&info);
			struct ls_report *rep = info.on ? ls_report_build(&info, 0, LS_REPORT_TEXT) : NULL;
			if (!rep) {
				ls_report_unref();
				continue;
			}
			size_t n, last = 0;
			char tail[64] = "";
			while ((n = ls_report_read(rep, buf, sizeof(buf))) > 0) {
				last = n < sizeof(tail) - 1 ? n : sizeof(tail) - 1;
				memcpy(tail, buf + n - last, last);
				tail[last] = '\0';
			}
			incomplete += !strstr(tail, " stacks\n");
			ls_report_free(rep);
			reports++;
		}
		char sbuf[1024];
		struct ls_buf b;
		ls_buf_init(&b, sbuf, sizeof(sbuf));
		ls_status_json(&b);
		ls_report_ref();
		if (!ls_window_off(&info)) {
			struct ls_report *rep = ls_report_build(&info, 0, LS_REPORT_TEXT);
			if (rep) {
				while (ls_report_read(rep, buf, sizeof(buf)) > 0)
					;
				ls_report_free(rep);
				reports++;
			}
		} else {
			ls_report_unref();
		}
		toggles++;
	}
	ls_guard_leave();
	return NULL;
}

int main(void)
{
	pthread_t w[WORKERS], tg, sp;

	ls_real_init();
	ls_config_load();
	ls_stacks_init();
	ls_arena_init();
	ls_unwind_init();
	uint64_t base = ls_mem_used();
	for (uintptr_t i = 0; i < WORKERS; i++)
		pthread_create(&w[i], NULL, worker, (void *)(i + 1));
	pthread_create(&sp, NULL, spawner, NULL);
	pthread_create(&tg, NULL, toggler, NULL);
	struct timespec run = { 2, 0 };
	nanosleep(&run, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	pthread_join(sp, NULL);
	pthread_join(tg, NULL);
	for (int i = 0; i < 64; i++)
		release(atomic_exchange(&shared[i], NULL));

	CHECK(atomic_load(&bad) == 0, "every allocation succeeded (%lu ops)", atomic_load(&ops));
	CHECK(toggles > 5 && reports > 10, "windows toggled %lu times, %lu reports built", toggles,
	      reports);
	CHECK(spawned > 5, "%lu short-lived threads came and went meanwhile", spawned);
	CHECK(incomplete == 0, "every streamed report ended with its end line");
	CHECK(ls_sample_invalid_frees() == 0, "no free was taken for an invalid one");
	/* Everything is freed and no window is open: once this thread's
	 * cached slots go back, what is left is the module list. */
	ls_tcache_flush();
	struct ls_stack_totals t;
	ls_stacks_totals(&t);
	CHECK(t.stacks == 0, "no stacks remain after the last window");
	CHECK(ls_mem_used() <= base + 16 * 1024, "detector memory is back near its start: %llu "
	      "-> %llu bytes", (unsigned long long)base, (unsigned long long)ls_mem_used());
	return check_status();
}
