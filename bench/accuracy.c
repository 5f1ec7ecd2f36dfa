/* SPDX-License-Identifier: MIT */
/* bench/accuracy.c: the victims of the accuracy benchmark (bench/accuracy.py).
 * Each leaks known allocations from known functions, among a churn of
 * short-lived blocks, and prints the truth it leaked; the harness compares
 * it with what leakscope (or jemalloc's profiler) estimates.
 *
 *   accuracy sites   victim A: 100,000 x 32 B (leak_32b), 1,000 x 4 KiB
 *                    (leak_4k), 10 x 1 MiB (leak_1m) and 1 x 64 MiB
 *                    (leak_64m), interleaved, with 4 churn operations
 *                    around every 32-byte leak
 *   accuracy mixed   victim B: 50 call sites (site_00 .. site_49), each
 *                    leaking blocks of mixed sizes, 16 B to 256 KiB within
 *                    the same stack, drawn from a fixed seeded
 *                    distribution (the same every run), interleaved
 *                    round-robin, one churn operation per leak
 *
 * Churn is a ring of 512 live blocks: each operation frees one slot and
 * refills it with a block of 16 B .. 256 KiB (mostly small), so that a
 * byte-sampling countdown crosses zero in freed blocks as in a server.
 * Every block still live in the ring is freed before exit.
 *
 * Output, after the leaks, one line per site and one for all of them:
 *   truth NAME COUNT BYTES
 *   truth total COUNT BYTES
 * Pointers to leaked blocks live in static arrays and stdout has a static
 * buffer, so nothing but the sites' blocks is left live by main: the
 * report's totals can be checked against "truth total" too.
 *
 * The sizes of victim B are jemalloc size classes, so jemalloc's profiler,
 * which counts usable sizes, and leakscope, which counts requested sizes,
 * measure the same bytes. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static inline uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static inline __attribute__((always_inline)) void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fprintf(stderr, "accuracy: out of memory (%zu bytes)\n", n);
		exit(3);
	}
	memset(p, 0x5a, n < 64 ? n : 64);
	return p;
}

/* ---- churn ------------------------------------------------------------ */

#define RING 512
static void *ring[RING];
static uint64_t churn_rng = 0x9e3779b97f4a7c15ull;

static size_t churn_size(void)
{
	uint64_t r = next_rand(&churn_rng);
	unsigned p = (unsigned)(r % 1000);
	if (p < 5)
		return 131072 + (size_t)((r >> 20) % 131072);   /* 128-256 KiB, rare */
	if (p < 60)
		return 4096 + (size_t)((r >> 20) % 61440);      /* 4-64 KiB */
	return 16 + (size_t)((r >> 20) % 1009);                 /* 16 B - 1 KiB */
}

NOINLINE static void churn(int ops)
{
	for (int i = 0; i < ops; i++) {
		unsigned k = (unsigned)(next_rand(&churn_rng) % RING);
		free(ring[k]);
		ring[k] = xmalloc(churn_size());
	}
}

static void churn_end(void)
{
	for (unsigned k = 0; k < RING; k++) {
		free(ring[k]);
		ring[k] = NULL;
	}
}

/* ---- victim A ----------------------------------------------------------- */

#define N_32B 100000
#define N_4K 1000
#define N_1M 10
static void *a_32b[N_32B], *a_4k[N_4K], *a_1m[N_1M], *a_64m;

NOINLINE static void leak_32b(long i) { a_32b[i] = xmalloc(32); }
NOINLINE static void leak_4k(long i) { a_4k[i] = xmalloc(4096); }
NOINLINE static void leak_1m(long i) { a_1m[i] = xmalloc((size_t)1 << 20); }
NOINLINE static void leak_64m(void) { a_64m = xmalloc((size_t)64 << 20); }

static void victim_sites(void)
{
	long n4k = 0, n1m = 0;
	for (long i = 0; i < N_32B; i++) {
		churn(2);
		leak_32b(i);
		if (i % 100 == 50)
			leak_4k(n4k++);
		if (i % 10000 == 5000)
			leak_1m(n1m++);
		if (i == N_32B / 2)
			leak_64m();
		churn(2);
	}
	churn_end();
	printf("truth leak_32b %d %d\n", N_32B, N_32B * 32);
	printf("truth leak_4k %d %d\n", N_4K, N_4K * 4096);
	printf("truth leak_1m %d %d\n", N_1M, N_1M << 20);
	printf("truth leak_64m 1 %d\n", 64 << 20);
	printf("truth total %d %lld\n", N_32B + N_4K + N_1M + 1,
	       (long long)N_32B * 32 + N_4K * 4096LL + ((long long)N_1M << 20) + (64LL << 20));
}

/* ---- victim B ----------------------------------------------------------- */

#define SITES 50
#define MAX_B 20000
static void *b_blocks[MAX_B];
static long b_n;

/* Each site its own function, with a body of its own (the site number is
 * written into the block), so no two are folded into one symbol. */
#define SITE(n)                                                 \
	NOINLINE static void site_##n(size_t s)                 \
	{                                                       \
		unsigned char *p = xmalloc(s);                  \
		p[0] = (unsigned char)(1##n - 100);             \
		b_blocks[b_n++] = p;                            \
	}
#define SITES10(d) SITE(d##0) SITE(d##1) SITE(d##2) SITE(d##3) SITE(d##4) \
	SITE(d##5) SITE(d##6) SITE(d##7) SITE(d##8) SITE(d##9)
SITES10(0) SITES10(1) SITES10(2) SITES10(3) SITES10(4)
#define FN10(d) site_##d##0, site_##d##1, site_##d##2, site_##d##3, site_##d##4, \
	site_##d##5, site_##d##6, site_##d##7, site_##d##8, site_##d##9
static void (*const site_fn[SITES])(size_t) = { FN10(0), FN10(1), FN10(2), FN10(3), FN10(4) };

/* jemalloc's size classes from 16 B to 256 KiB: 16..128 by 16, then four
 * per doubling. */
static size_t classes[64];
static int n_classes;

static void make_classes(void)
{
	for (size_t s = 16; s <= 128; s += 16)
		classes[n_classes++] = s;
	for (size_t base = 128; base < 262144; base *= 2)
		for (int k = 1; k <= 4; k++)
			classes[n_classes++] = base + k * base / 4;
}

static void victim_mixed(void)
{
	static size_t sizes[SITES][2400];
	long count[SITES], bytes[SITES], total_n = 0, total_b = 0, most = 0;
	uint64_t rng = 20261212;

	make_classes();
	/* Site i leaks about 30 * 1.08^i blocks (30 .. 1300); the class of each
	 * is floor(n_classes * u^k), u uniform, k = 1 + i % 4: k = 1 spreads
	 * them evenly over the classes (log-uniform sizes), larger k makes
	 * small blocks the many and large ones the rare. */
	for (int i = 0; i < SITES; i++) {
		double n = 30;
		for (int j = 0; j < i; j++)
			n *= 1.08;
		count[i] = (long)(n + 0.5);
		bytes[i] = 0;
		for (long j = 0; j < count[i]; j++) {
			double u = (double)(next_rand(&rng) >> 11) * 0x1.0p-53, v = u;
			for (int k = 0; k < i % 4; k++)
				v *= u;
			int c = (int)(v * n_classes);
			sizes[i][j] = classes[c < n_classes ? c : n_classes - 1];
			bytes[i] += (long)sizes[i][j];
		}
		if (count[i] > most)
			most = count[i];
		total_n += count[i];
		total_b += bytes[i];
	}
	if (total_n > MAX_B) {
		fprintf(stderr, "accuracy: %ld blocks, more than %d\n", total_n, MAX_B);
		exit(3);
	}
	for (long j = 0; j < most; j++)
		for (int i = 0; i < SITES; i++)
			if (j < count[i]) {
				churn(1);
				site_fn[i](sizes[i][j]);
			}
	churn_end();
	for (int i = 0; i < SITES; i++)
		printf("truth site_%02d %ld %ld\n", i, count[i], bytes[i]);
	printf("truth total %ld %ld\n", total_n, total_b);
}

int main(int argc, char **argv)
{
	static char outbuf[1 << 14];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	if (argc == 2 && !strcmp(argv[1], "sites"))
		victim_sites();
	else if (argc == 2 && !strcmp(argv[1], "mixed"))
		victim_mixed();
	else {
		fprintf(stderr, "usage: %s sites|mixed\n", argv[0]);
		return 2;
	}
	fflush(stdout);
	return 0;
}
