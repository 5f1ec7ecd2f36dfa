/* SPDX-License-Identifier: MIT */
/* bench/mallocbench.c: a malloc-heavy microbenchmark with a realistic mix.
 *
 * Each thread keeps a ring of live blocks and, per operation, frees one
 * slot and refills it: mostly 16-512 B, some 4 KiB, rare 64 KiB; every
 * 8th refill is a calloc, every 16th a realloc of a live block. The
 * allocation happens 8 calls deep, and the first bytes of each block are
 * written, as real code would. One block in 10000 is leaked on purpose.
 *
 * usage: mallocbench [-t THREADS] [-n OPS_PER_THREAD] [-r RING] [-s SEED]
 * prints: threads=T ops=N seconds=S ops_per_sec=R maxrss_kb=K leaked=L */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

struct worker {
	unsigned long ops, ring, seed;
	unsigned long leaked;
	unsigned long checksum;
};

static inline uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static size_t pick_size(uint64_t *rng)
{
	uint64_t r = next_rand(rng);
	unsigned p = (unsigned)(r % 1000);
	if (p < 10)
		return 65536;
	if (p < 100)
		return 4096;
	/* 16..512, skewed to small like real heaps */
	unsigned k = (unsigned)((r >> 16) % 32);
	return 16 + ((size_t)k * k * 496) / (31 * 31);
}

/* The allocation, 8 frames down: alloc_at(8) -> alloc_at(7) -> ... */
NOINLINE static void *alloc_leaf(size_t size, unsigned kind, void *old)
{
	void *p;
	if (kind == 1)
		p = calloc(1, size);
	else if (kind == 2)
		p = realloc(old, size);
	else
		p = malloc(size);
	if (p)
		memset(p, 0x5a, size < 64 ? size : 64);
	return p;
}

NOINLINE static void *alloc_at(unsigned depth, size_t size, unsigned kind, void *old)
{
	void *p = depth ? alloc_at(depth - 1, size, kind, old) : alloc_leaf(size, kind, old);
	__asm__ volatile("" ::: "memory"); /* keep the frame: no tail call */
	return p;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	void **ring = calloc(w->ring, sizeof(void *));
	uint64_t rng = w->seed | 1;

	for (unsigned long i = 0; i < w->ops; i++) {
		unsigned long slot = next_rand(&rng) % w->ring;
		size_t size = pick_size(&rng);
		if (i % 16 == 15 && ring[slot]) {
			ring[slot] = alloc_at(7, size, 2, ring[slot]);
		} else {
			if (i % 10000 == 9998) {
				w->leaked++; /* a small, deliberate leak */
			} else {
				free(ring[slot]);
			}
			ring[slot] = alloc_at(7, size, i % 8 == 7 ? 1 : 0, NULL);
		}
		w->checksum += ((unsigned char *)ring[slot])[0];
	}
	for (unsigned long i = 0; i < w->ring; i++)
		free(ring[i]);
	free(ring);
	return NULL;
}

/* Peak RSS of this address space. getrusage's ru_maxrss would carry the
 * peak of the process that exec'd us (a Python harness, say). */
static long peak_rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long threads = 1, ops = 2000000, ring = 4096, seed = 12345;
	int c;

	while ((c = getopt(argc, argv, "t:n:r:s:")) != -1) {
		switch (c) {
		case 't': threads = strtoul(optarg, NULL, 10); break;
		case 'n': ops = strtoul(optarg, NULL, 10); break;
		case 'r': ring = strtoul(optarg, NULL, 10); break;
		case 's': seed = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: %s [-t THREADS] [-n OPS] [-r RING] [-s SEED]\n", argv[0]);
			return 2;
		}
	}
	if (threads < 1 || threads > 64 || ring < 1) {
		fprintf(stderr, "mallocbench: bad arguments\n");
		return 2;
	}
	struct worker *w = calloc(threads, sizeof(*w));
	pthread_t *t = calloc(threads, sizeof(*t));
	double start = now();
	for (unsigned long i = 0; i < threads; i++) {
		w[i] = (struct worker){ .ops = ops, .ring = ring, .seed = seed + i * 7919 };
		pthread_create(&t[i], NULL, run, &w[i]);
	}
	unsigned long leaked = 0, sum = 0;
	for (unsigned long i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		leaked += w[i].leaked;
		sum += w[i].checksum;
	}
	double secs = now() - start;
	printf("threads=%lu ops=%lu seconds=%.4f ops_per_sec=%.0f maxrss_kb=%ld leaked=%lu check=%lu\n",
	       threads, threads * ops, secs, (double)(threads * ops) / secs, peak_rss_kb(), leaked,
	       sum % 1000);
	return 0;
}
