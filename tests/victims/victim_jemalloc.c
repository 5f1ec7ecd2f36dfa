/* SPDX-License-Identifier: MIT */
/* tests/victims/victim_jemalloc.c: a C program linked with -ljemalloc
 * that mixes the standard family with each extended call on the same
 * blocks, and leaks through mallocx, rallocx and a mallocx into an arena
 * of its own. Run as a batch program:
 *
 *   victim_jemalloc K    K x 100 leaks of each kind, K x 100 mixed rounds
 *
 * Prints "bad NAME" for each failed check, "arena_nmalloc N" (the
 * allocations jemalloc itself served from that arena, from its stats),
 * "arena_leaks N", then "ok all checks" or "bad total N", and "done". */
#include <jemalloc/jemalloc.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static int bad;
static void *sink[1 << 20];
static size_t nsink;

static void check(int cond, const char *name)
{
	if (!cond) {
		printf("bad %s\n", name);
		bad++;
	}
}

static int all(const unsigned char *p, size_t from, size_t to, unsigned char v)
{
	for (size_t i = from; i < to; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

NOINLINE static void leak_mallocx(void)
{
	char *p = mallocx(100, 0);
	check(p && sallocx(p, 0) >= 100, "leak_mallocx: sallocx >= 100");
	memset(p, 5, 100);
	sink[nsink++] = p;
}

NOINLINE static void leak_rallocx(void)
{
	char *p = malloc(10);
	memset(p, 6, 10);
	char *q = rallocx(p, 200, 0);
	check(q && all((unsigned char *)q, 0, 10, 6), "leak_rallocx: rallocx keeps the bytes");
	sink[nsink++] = q;
}

NOINLINE static void leak_arena(unsigned arena)
{
	char *p = mallocx(128, MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE);
	check(p && sallocx(p, 0) >= 128, "leak_arena: sallocx >= 128");
	memset(p, 7, 128);
	sink[nsink++] = p;
}

/* The same blocks through both families; nothing stays live. */
NOINLINE static void mix(void)
{
	/* malloc, then every call that takes a block */
	unsigned char *p = malloc(100);
	check(sallocx(p, 0) >= 100, "sallocx(malloc(100)) >= 100");
	check(sallocx(p, 0) == malloc_usable_size(p), "sallocx == malloc_usable_size");
	memset(p, 1, 100);
	size_t x = xallocx(p, 100, 0, 0);
	check(x >= 100 && x == sallocx(p, 0), "xallocx in place returns the real size");
	unsigned char *q = rallocx(p, 300, 0);
	check(q && all(q, 0, 100, 1) && sallocx(q, 0) >= 300, "rallocx(malloc block) grows, keeps bytes");
	size_t g = xallocx(q, 1 << 20, 0, 0);
	check(g >= 300 && g == sallocx(q, 0), "xallocx that cannot grow returns the real size");
	check(all(q, 0, 100, 1), "xallocx keeps the bytes");
	sdallocx(q, 300, 0);

	/* mallocx, then the standard family */
	p = mallocx(100, MALLOCX_ZERO);
	check(p && all(p, 0, sallocx(p, 0), 0), "mallocx(MALLOCX_ZERO) is zeroed");
	check(sallocx(p, 0) >= nallocx(100, 0), "sallocx(mallocx(100)) >= nallocx(100)");
	check(malloc_usable_size(p) == sallocx(p, 0), "malloc_usable_size(mallocx block) == sallocx");
	memset(p, 2, 100);
	p = realloc(p, 1000);
	check(p && all(p, 0, 100, 2), "realloc(mallocx block) keeps bytes");
	free(p);

	p = mallocx(200, MALLOCX_ALIGN(256));
	check(p && ((uintptr_t)p & 255) == 0, "mallocx(MALLOCX_ALIGN(256)) aligns");
	memset(p, 3, 200);
	q = rallocx(p, 3000, MALLOCX_ALIGN(1024));
	check(q && ((uintptr_t)q & 1023) == 0 && all(q, 0, 200, 3), "rallocx(MALLOCX_ALIGN(1024)) aligns, keeps bytes");
	dallocx(q, 0);

	p = mallocx(50, 0);
	memset(p, 4, 50);
	size_t old = sallocx(p, 0);
	q = rallocx(p, 5000, MALLOCX_ZERO);
	check(q && all(q, 0, 50, 4) && all(q, old, 5000, 0), "rallocx(MALLOCX_ZERO) zeroes past the old size");
	free(q);

	p = mallocx(64, MALLOCX_TCACHE_NONE);
	check(p != NULL, "mallocx(MALLOCX_TCACHE_NONE)");
	memset(p, 8, 64);
	dallocx(p, MALLOCX_TCACHE_NONE);

	p = mallocx(1 << 20, MALLOCX_ALIGN(4096) | MALLOCX_ZERO);
	check(p && ((uintptr_t)p & 4095) == 0 && sallocx(p, 0) >= (1 << 20), "mallocx 1 MiB aligned 4096");
	check(p && p[12345] == 0 && p[(1 << 20) - 1] == 0, "mallocx 1 MiB zeroed");
	sdallocx(p, 1 << 20, MALLOCX_ALIGN(4096));

	p = calloc(10, 10);
	check(all(p, 0, 100, 0) && sallocx(p, 0) >= 100, "sallocx(calloc block)");
	p = rallocx(p, 20, 0);
	check(p && all(p, 0, 20, 0), "rallocx shrink keeps bytes");
	dallocx(p, 0);

	check(nallocx(100, 0) >= 100 && nallocx(100, MALLOCX_ALIGN(4096)) >= 100,
	      "nallocx");
}

static uint64_t arena_stat(unsigned arena, const char *what)
{
	char name[128];
	uint64_t v = 0, epoch = 1;
	size_t sz = sizeof(v);

	mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
	snprintf(name, sizeof(name), "stats.arenas.%u.%s", arena, what);
	if (mallctl(name, &v, &sz, NULL, 0) != 0)
		return (uint64_t)-1;
	return v;
}

int main(int argc, char **argv)
{
	long k = argc > 1 ? atol(argv[1]) : 1;
	unsigned arena = 0;
	size_t sz = sizeof(arena);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (mallctl("arenas.create", &arena, &sz, NULL, 0) != 0) {
		printf("error: arenas.create failed\n");
		return 1;
	}
	for (long i = 0; i < 100 * k; i++) {
		leak_mallocx();
		leak_rallocx();
		leak_arena(arena);
		mix();
	}
	for (size_t i = 0; i < nsink; i++)
		check(((unsigned char *)sink[i])[0] >= 5, "leaked blocks intact");
	printf("arena_nmalloc %llu\n", (unsigned long long)(arena_stat(arena, "small.nmalloc") +
							   arena_stat(arena, "large.nmalloc")));
	printf("arena_leaks %ld\n", 100 * k);
	if (bad)
		printf("bad total %d\n", bad);
	else
		printf("ok all checks\n");
	printf("done\n");
	return bad ? 1 : 0;
}
