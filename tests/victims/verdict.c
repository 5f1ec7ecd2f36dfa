/* SPDX-License-Identifier: MIT */
/* tests/victims/verdict.c: four stacks whose live counts differ in shape,
 * for the verdicts of issue 13 (tests/integration/test_verdict.py,
 * bench/verdict.py). On "run SECONDS" it runs them for SECONDS, in ticks
 * of 10 ms, then answers "done":
 *   leak_steady   LEAK_RATE blocks a second, never freed: growing;
 *   lru_insert    an LRU cache of LRU_HOT hot entries that never leave and
 *                 LRU_RING cold ones, CHURN inserts a second each evicting
 *                 the oldest cold one: it fills in its first second, then
 *                 holds: plateau;
 *   cache_fill    FILL blocks in the first tick, kept: plateau;
 *   burst_alloc   BURST blocks at 15% of the run, 95% of them freed at
 *                 55%: rose, then fell: plateau.
 * Blocks are of 64 bytes, or argv[1]. "quit" exits. Each allocating function is a frame of its own (-O1,
 * -fno-inline), so each is one stack. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEAK_RATE 2000
#define LRU_HOT   2000
#define LRU_RING  50000
#define CHURN     20000
#define FILL      30000
#define BURST     30000
static size_t size = 64; /* argv[1] sets it (bench/verdict.py at bytes=64K) */
#define SIZE size

static void *lru_hot[LRU_HOT];
static void *lru_ring[LRU_RING];
static long lru_head, lru_fill;
static void *cache[FILL];
static void *burst[BURST];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void *leak_steady(void)
{
	return malloc(SIZE);
}

__attribute__((noinline)) static void *lru_insert(void)
{
	return malloc(SIZE);
}

__attribute__((noinline)) static void *cache_fill(void)
{
	return malloc(SIZE);
}

__attribute__((noinline)) static void *burst_alloc(void)
{
	return malloc(SIZE);
}

static volatile unsigned long sink;

/* Inserts an entry: hot ones stay, a cold one evicts the oldest cold one
 * once the ring is full. One call site, so one stack. */
static void lru_put(long hot)
{
	void *e = lru_insert();

	if (hot >= 0) {
		lru_hot[hot] = e;
		return;
	}
	if (lru_fill == LRU_RING)
		free(lru_ring[lru_head]);
	else
		lru_fill++;
	lru_ring[lru_head] = e;
	lru_head = (lru_head + 1) % LRU_RING;
}

static void run(double seconds)
{
	double t0 = now(), leak_due = 0, churn_due = 0;
	long leaked = 0, churned = 0, hot = 0;
	int burst_state = 0;

	for (long i = 0; i < FILL; i++)
		cache[i] = cache_fill();
	for (;;) {
		double t = now() - t0;
		if (t >= seconds)
			break;
		/* The ring fills at 5x the churn rate in the first second. */
		churn_due = t < 1.0 ? t * LRU_RING : LRU_RING + (t - 1.0) * CHURN;
		/* One call site for hot and cold entries: one stack. The hot
		 * ones go in first. */
		while (hot < LRU_HOT || churned < (long)churn_due)
			lru_put(hot < LRU_HOT ? hot++ : (churned++, -1));
		/* The hot entries are read on every tick and never evicted. */
		for (long i = 0; i < LRU_HOT; i += 64)
			sink += *(unsigned char *)lru_hot[i];
		leak_due = t * LEAK_RATE;
		while (leaked < (long)leak_due) {
			sink += (unsigned long)leak_steady();
			leaked++;
		}
		if (burst_state == 0 && t >= 0.15 * seconds) {
			for (long i = 0; i < BURST; i++)
				burst[i] = burst_alloc();
			burst_state = 1;
		}
		if (burst_state == 1 && t >= 0.55 * seconds) {
			for (long i = 0; i < BURST * 95 / 100; i++)
				free(burst[i]);
			burst_state = 2;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv)
{
	char line[256];

	if (argc > 1 && atol(argv[1]) > 0)
		size = (size_t)atol(argv[1]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		double s;
		if (sscanf(line, "run %lf", &s) == 1)
			run(s);
		else if (strncmp(line, "quit", 4) == 0)
			break;
		else
			printf("error: unknown command\n");
		printf("done\n");
	}
	return 0;
}
