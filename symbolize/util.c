/* SPDX-License-Identifier: MIT */
/* util.c: strict number parsing, UTF-8, growing arrays, an arena, a pointer map, strings and C++/Rust demangling. */
#include <errno.h>
#include <libiberty/demangle.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

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

bool ls_util_parse_big(const char *s, size_t len, double *out)
{
	char buf[41];

	if (len == 0 || len > 40 || strspn(s, "0123456789") < len)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	/* digits only: strtod reads all of them and cannot fail; 40 digits stay below DBL_MAX */
	*out = strtod(buf, NULL);
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

int ls_util_decimal_cmp(const char *a, const char *b)
{
	size_t ia, ib;
	int c;

	while (a[0] == '0' && a[1] >= '0' && a[1] <= '9')
		a++;
	while (b[0] == '0' && b[1] >= '0' && b[1] <= '9')
		b++;
	ia = strcspn(a, ".");
	ib = strcspn(b, ".");
	/* without leading zeros, the longer integer part is the bigger */
	if (ia != ib)
		return ia < ib ? -1 : 1;
	if ((c = strncmp(a, b, ia)) != 0)
		return c;
	a += ia + (a[ia] == '.');
	b += ib + (b[ib] == '.');
	/* fractions digit by digit, a missing digit being 0 */
	for (; *a != '\0' || *b != '\0'; a += *a != '\0', b += *b != '\0') {
		char x = *a != '\0' ? *a : '0', y = *b != '\0' ? *b : '0';

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

void ls_util_add_sat(uint64_t *a, uint64_t b)
{
	*a = *a > UINT64_MAX - b ? UINT64_MAX : *a + b;
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

size_t ls_util_utf8_len(const unsigned char *p)
{
	unsigned c = p[0], cp;
	size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;

	if (len <= 1)
		return len;
	/* stops at the first byte that does not continue, a NUL included */
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	cp = len == 2 ? (c & 0x1f) << 6 | (p[1] & 0x3f)
	   : len == 3 ? (c & 0x0f) << 12 | (p[1] & 0x3f) << 6 | (p[2] & 0x3f)
		      : (c & 0x07) << 18 | (p[1] & 0x3f) << 12 | (p[2] & 0x3f) << 6 | (p[3] & 0x3f);
	if ((len == 2 && cp < 0x80) || (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* ------------------------------------------------------------------ arrays */

/* Capacity of a growing array holding n elements: 0, then powers of two. */
static size_t cap_for(size_t n)
{
	size_t c = 16;

	if (n == 0)
		return 0;
	while (c < n)
		c *= 2;
	return c;
}

void *ls_util_push(void **arr, size_t *n, size_t size)
{
	size_t cap = cap_for(*n + 1);

	if (cap > cap_for(*n)) {
		void *p = cap > SIZE_MAX / size ? NULL : realloc(*arr, cap * size);

		if (p == NULL)
			return NULL;
		*arr = p;
	}
	char *e = (char *)*arr + *n * size;

	memset(e, 0, size);
	(*n)++;
	return e;
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

/* ----------------------------------------------------------------- strings */

int ls_buf_printf(struct ls_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s != NULL ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -ENOMEM; /* only for a length past INT_MAX */
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return 0;
		}
		size_t cap = b->cap ? b->cap : 64;

		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *s = realloc(b->s, cap);

		if (s == NULL) {
			if (b->s != NULL)
				b->s[b->len] = '\0';
			return -ENOMEM;
		}
		b->s = s;
		b->cap = cap;
	}
}

void ls_buf_free(struct ls_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

/* FNV-1a: cheap, and good enough once mix() has spread its bits. */
static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* Doubles t's slot array (and rehashes). Returns 0 or -ENOMEM. */
static int strtab_grow(struct ls_strtab *t)
{
	size_t cap = t->slot == NULL ? 256 : (t->mask + 1) * 2;
	uint32_t *slot = calloc(cap, sizeof(*slot));

	if (slot == NULL)
		return -ENOMEM;
	for (size_t id = 0; id < t->n; id++) {
		size_t i = mix(t->hash[id]) & (cap - 1);

		while (slot[i] != 0)
			i = (i + 1) & (cap - 1);
		slot[i] = (uint32_t)id + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->mask = cap - 1;
	return 0;
}

int ls_strtab_intern(struct ls_strtab *t, const char *s, uint32_t *id)
{
	uint64_t h = str_hash(s);
	size_t i;

	if (t->slot == NULL || (t->n + 1) * 4 > (t->mask + 1) * 3) {
		if (t->n >= UINT32_MAX - 1 || strtab_grow(t) != 0)
			return -ENOMEM;
	}
	for (i = mix(h) & t->mask; t->slot[i] != 0; i = (i + 1) & t->mask) {
		uint32_t k = t->slot[i] - 1;

		if (t->hash[k] == h && strcmp(t->str[k], s) == 0) {
			*id = k;
			return 0;
		}
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		char **str = realloc(t->str, cap * sizeof(*str));

		if (str == NULL)
			return -ENOMEM;
		t->str = str;
		uint64_t *hash = realloc(t->hash, cap * sizeof(*hash));

		if (hash == NULL)
			return -ENOMEM;
		t->hash = hash;
		t->cap = cap;
	}
	char *copy = ls_arena_strndup(&t->arena, s, strlen(s));

	if (copy == NULL)
		return -ENOMEM;
	t->str[t->n] = copy;
	t->hash[t->n] = h;
	t->slot[i] = (uint32_t)t->n + 1;
	*id = (uint32_t)t->n++;
	return 0;
}

void ls_strtab_free(struct ls_strtab *t)
{
	free(t->str);
	free(t->hash);
	free(t->slot);
	ls_arena_free(&t->arena);
	memset(t, 0, sizeof(*t));
}

/* -------------------------------------------------------------- demangling */

const char *ls_util_demangle(struct ls_pmap *cache, struct ls_arena *a, const char *name)
{
	const char *res;
	char *dem;

	/* _Z: C++ (Itanium ABI) and Rust's legacy scheme, which is C++-like
	 * with $LT$-style escapes and a 17h<hash>E last part; _R: Rust v0.
	 * Other names (C, "_GLOBAL__sub_I_x") are not mangled names. */
	if (name == NULL || name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
		return name;
	res = ls_pmap_get(cache, (uint64_t)(uintptr_t)name);
	if (res != NULL)
		return res;
	/* libiberty's demangler (binutils' and gdb's): DMGL_AUTO tries Rust
	 * first, since a legacy Rust name is also a valid C++ name, then C++.
	 * Rust names come out as rustc-demangle prints them, without the
	 * hash (DMGL_VERBOSE would keep it) or a .llvm.NNN suffix; C++ ones
	 * with parameters and qualifiers, as __cxa_demangle gives them. */
	dem = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
	if (dem != NULL) {
		res = ls_arena_strndup(a, dem, strlen(dem));
		free(dem);
		if (res == NULL)
			return NULL;
	} else {
		res = name; /* not a valid mangled name (or out of memory): show it raw */
	}
	if (ls_pmap_put(cache, (uint64_t)(uintptr_t)name, (void *)res) != 0)
		return NULL;
	return res;
}
