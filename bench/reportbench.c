/* SPDX-License-Identifier: MIT */
/* bench/reportbench.c: the host for the report-latency and memory
 * benchmarks, driven by bench/bench.py over stdin (one command a line,
 * answered by "done" or a result line then "done"):
 *
 *   fill N          leak N blocks of 32 bytes from one call site
 *   stacks K        leak one 48-byte block from each of K distinct stacks
 *                   (a binary path of K's bits through two functions)
 *   probe start     start a thread that mallocs and frees without pause,
 *                   timing every call
 *   probe stop      stop it; prints "probe ops=N max_ns=M p999_ns=P
 *                   own_max_ns=O preempted=K": O is the longest call
 *                   during which this thread was not preempted
 *   quit */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

static void **sink;
static size_t sink_n, sink_cap;

static void keep(void *p)
{
	if (sink_n == sink_cap) {
		sink_cap = sink_cap ? sink_cap * 2 : 1 << 16;
		sink = realloc(sink, sink_cap * sizeof(void *));
	}
	sink[sink_n++] = p;
}

NOINLINE static void fill_one(void)
{
	keep(malloc(32));
}

/* Two functions, called in the order of k's bits: each k < 2^depth gets
 * a stack of its own. */
NOINLINE static void path_a(unsigned long k, int depth);
NOINLINE static void path_b(unsigned long k, int depth);

NOINLINE static void path_leaf(void)
{
	keep(malloc(48));
}

NOINLINE static void path_a(unsigned long k, int depth)
{
	if (depth == 0)
		path_leaf();
	else if (k & 1)
		path_b(k >> 1, depth - 1);
	else
		path_a(k >> 1, depth - 1);
	__asm__ volatile("" ::: "memory");
}

NOINLINE static void path_b(unsigned long k, int depth)
{
	if (depth == 0)
		path_leaf();
	else if (k & 1)
		path_b(k >> 1, depth - 1);
	else
		path_a(k >> 1, depth - 1);
	__asm__ volatile("" ::: "memory");
}

static atomic_int probe_stop;
static pthread_t probe_thread;
static unsigned long probe_ops, probe_preempted;
static uint64_t probe_max, probe_own_max;
static uint64_t probe_hist[64]; /* by log2 of nanoseconds */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long preemptions(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nivcsw;
}

/* Times each free+malloc; a slow one during which the kernel preempted
 * this thread (an involuntary context switch) is counted apart from the
 * stalls the allocator itself caused. */
static void *probe(void *arg)
{
	void *ring[256] = { 0 };
	(void)arg;
	for (unsigned long i = 0; !atomic_load_explicit(&probe_stop, memory_order_relaxed); i++) {
		unsigned k = (unsigned)(i & 255);
		long c0 = preemptions();
		uint64_t t0 = now_ns();
		free(ring[k]);
		ring[k] = malloc(16 + (i * 37) % 400);
		uint64_t d = now_ns() - t0;
		if (d > probe_max)
			probe_max = d;
		if (d > 20000 && preemptions() != c0)
			probe_preempted++;
		else if (d > probe_own_max)
			probe_own_max = d;
		probe_hist[63 - __builtin_clzll(d | 1)]++;
		probe_ops++;
	}
	for (unsigned k = 0; k < 256; k++)
		free(ring[k]);
	return NULL;
}

/* The 99.9th percentile, to the power of two above it. */
static uint64_t p999(void)
{
	uint64_t want = probe_ops - probe_ops / 1000, seen = 0;
	for (int b = 0; b < 64; b++) {
		seen += probe_hist[b];
		if (seen >= want)
			return 2ull << b;
	}
	return 0;
}

int main(void)
{
	char line[128];
	unsigned long n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "quit", 4))
			break;
		if (sscanf(line, "fill %lu", &n) == 1) {
			for (unsigned long i = 0; i < n; i++)
				fill_one();
		} else if (sscanf(line, "stacks %lu", &n) == 1) {
			int depth = 1;
			while ((1ul << depth) < n)
				depth++;
			for (unsigned long k = 0; k < n; k++)
				path_a(k, depth);
		} else if (!strncmp(line, "probe start", 11)) {
			atomic_store(&probe_stop, 0);
			probe_ops = probe_max = probe_own_max = probe_preempted = 0;
			memset(probe_hist, 0, sizeof(probe_hist));
			pthread_create(&probe_thread, NULL, probe, NULL);
		} else if (!strncmp(line, "probe stop", 10)) {
			atomic_store(&probe_stop, 1);
			pthread_join(probe_thread, NULL);
			printf("probe ops=%lu max_ns=%llu p999_ns=%llu own_max_ns=%llu preempted=%lu\n",
			       probe_ops, (unsigned long long)probe_max, (unsigned long long)p999(),
			       (unsigned long long)probe_own_max, probe_preempted);
		} else {
			printf("error: bad command\n");
			continue;
		}
		printf("done\n");
	}
	return 0;
}
