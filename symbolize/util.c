/* SPDX-License-Identifier: MIT */
/* util.c: strict number parsing, an arena, a pointer map and C++ demangling. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

/* From libstdc++'s C++ ABI (cxxabi.h), declared here because this is C. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

void ls_util_msg(const char *fmt, ...)
{
	va_list ap;

	fputs(LS_PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool ls_util_parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return false;
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool ls_util_parse_hex(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 16)
		return false;
	for (size_t i = 0; i < len; i++) {
		int d = hexval((unsigned char)s[i]);

		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

bool ls_util_is_decimal(const char *s, size_t len)
{
	size_t i = 0, digits = 0;

	if (len == 0 || len > 40)
		return false;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (digits == 0)
		return false;
	if (i == len)
		return true;
	if (s[i++] != '.')
		return false;
	digits = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	return digits > 0 && i == len;
}

bool ls_util_parse_build_id(const char *s, size_t len, uint8_t *out, size_t *outlen)
{
	if (len == 0 || len % 2 != 0 || len / 2 > LS_BUILD_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*outlen = len / 2;
	return true;
}

/* ------------------------------------------------------------------ arena */

struct ls_arena_chunk {
	struct ls_arena_chunk *next;
	_Alignas(16) unsigned char data[];
};

#define ARENA_CHUNK (256u * 1024)

void *ls_arena_alloc(struct ls_arena *a, size_t n)
{
	struct ls_arena_chunk *c;
	size_t want = (n + 15) & ~(size_t)15;

	if (want < n)
		return NULL;
	if (a->head == NULL || a->cap - a->used < want) {
		/* Big requests get a chunk of their own, behind the current one,
		 * so the current chunk's free space is not wasted. */
		size_t cap = want > ARENA_CHUNK / 4 ? want : ARENA_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		if (cap != ARENA_CHUNK && a->head != NULL) {
			c->next = a->head->next;
			a->head->next = c;
			memset(c->data, 0, want);
			return c->data;
		}
		c->next = a->head;
		a->head = c;
		a->used = 0;
		a->cap = cap;
	}
	c = a->head;
	void *p = c->data + a->used;
	a->used += want;
	memset(p, 0, want);
	return p;
}

char *ls_arena_strndup(struct ls_arena *a, const char *s, size_t len)
{
	char *p = ls_arena_alloc(a, len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void ls_arena_free(struct ls_arena *a)
{
	struct ls_arena_chunk *c = a->head;

	while (c != NULL) {
		struct ls_arena_chunk *next = c->next;

		free(c);
		c = next;
	}
	a->head = NULL;
	a->used = a->cap = 0;
}

/* ------------------------------------------------------------ pointer map */

struct ls_pmap_slot {
	uint64_t key;
	void *val;
};

static size_t mix(uint64_t k)
{
	/* A 64-bit finalizer (splitmix64): keys are addresses and pointers,
	 * whose low bits are mostly zero. */
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebull;
	k ^= k >> 31;
	return (size_t)k;
}

void *ls_pmap_get(const struct ls_pmap *m, uint64_t key)
{
	if (m->slot == NULL)
		return NULL;
	for (size_t i = mix(key) & m->mask;; i = (i + 1) & m->mask) {
		if (m->slot[i].key == key)
			return m->slot[i].val;
		if (m->slot[i].key == 0)
			return NULL;
	}
}

static int grow(struct ls_pmap *m)
{
	size_t cap = m->slot == NULL ? 64 : (m->mask + 1) * 2;
	struct ls_pmap_slot *slot = calloc(cap, sizeof(*slot));

	if (slot == NULL)
		return -ENOMEM;
	for (size_t j = 0; m->slot != NULL && j <= m->mask; j++) {
		if (m->slot[j].key == 0)
			continue;
		size_t i = mix(m->slot[j].key) & (cap - 1);

		while (slot[i].key != 0)
			i = (i + 1) & (cap - 1);
		slot[i] = m->slot[j];
	}
	free(m->slot);
	m->slot = slot;
	m->mask = cap - 1;
	return 0;
}

int ls_pmap_put(struct ls_pmap *m, uint64_t key, void *val)
{
	if (m->slot == NULL || (m->n + 1) * 4 > (m->mask + 1) * 3) {
		int err = grow(m);

		if (err)
			return err;
	}
	size_t i = mix(key) & m->mask;

	while (m->slot[i].key != 0 && m->slot[i].key != key)
		i = (i + 1) & m->mask;
	if (m->slot[i].key == 0)
		m->n++;
	m->slot[i].key = key;
	m->slot[i].val = val;
	return 0;
}

void ls_pmap_free(struct ls_pmap *m)
{
	free(m->slot);
	m->slot = NULL;
	m->mask = m->n = 0;
}

/* -------------------------------------------------------------- demangling */

const char *ls_util_demangle(struct ls_pmap *cache, struct ls_arena *a, const char *name)
{
	const char *res;
	char *dem;
	int status = 0;

	if (name == NULL || name[0] != '_' || name[1] != 'Z')
		return name;
	res = ls_pmap_get(cache, (uint64_t)(uintptr_t)name);
	if (res != NULL)
		return res;
	dem = __cxa_demangle(name, NULL, NULL, &status);
	if (dem != NULL && status == 0) {
		res = ls_arena_strndup(a, dem, strlen(dem));
		free(dem);
		if (res == NULL)
			return NULL;
	} else {
		free(dem);
		res = name; /* not a valid mangled name: show it raw */
	}
	if (ls_pmap_put(cache, (uint64_t)(uintptr_t)name, (void *)res) != 0)
		return NULL;
	return res;
}
