/* SPDX-License-Identifier: MIT */
/* preload/log.c: a bounded text formatter and one-line logging through
 * write(2). No stdio and no malloc, so it is safe inside the hooks. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

void ls_buf_init(struct ls_buf *b, char *mem, size_t cap)
{
	b->p = mem;
	b->len = 0;
	b->cap = cap;
	b->overflow = false;
}

void ls_buf_mem(struct ls_buf *b, const char *s, size_t n)
{
	size_t room = b->cap - b->len;

	if (n > room) {
		n = room;
		b->overflow = true;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

void ls_buf_str(struct ls_buf *b, const char *s)
{
	ls_buf_mem(b, s ? s : "(null)", strlen(s ? s : "(null)"));
}

void ls_buf_ch(struct ls_buf *b, char c)
{
	ls_buf_mem(b, &c, 1);
}

void ls_buf_u64(struct ls_buf *b, uint64_t v)
{
	char tmp[24];
	int i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	ls_buf_mem(b, tmp + i, sizeof(tmp) - (size_t)i);
}

/* count x N can pass 2^64: reports print the exact 128-bit product. */
void ls_buf_u128(struct ls_buf *b, unsigned __int128 v)
{
	char tmp[40];
	int i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	ls_buf_mem(b, tmp + i, sizeof(tmp) - (size_t)i);
}

void ls_buf_i64(struct ls_buf *b, int64_t v)
{
	if (v < 0) {
		ls_buf_ch(b, '-');
		ls_buf_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		ls_buf_u64(b, (uint64_t)v);
	}
}

void ls_buf_hex(struct ls_buf *b, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	int i = sizeof(tmp);

	do {
		tmp[--i] = digits[v & 15];
		v >>= 4;
	} while (v);
	ls_buf_mem(b, tmp + i, sizeof(tmp) - (size_t)i);
}

void ls_buf_hex_pad(struct ls_buf *b, uint64_t v, int width)
{
	int digits = 1;

	for (uint64_t t = v >> 4; t; t >>= 4)
		digits++;
	for (; digits < width; digits++)
		ls_buf_ch(b, '0');
	ls_buf_hex(b, v);
}

/* Writes v / unit with a fixed number of decimals, truncated: the ages and
 * times of the report, without floating point. */
void ls_buf_fixed(struct ls_buf *b, uint64_t v, int decimals, uint64_t unit)
{
	uint64_t scale = 1;

	for (int i = 0; i < decimals; i++)
		scale *= 10;
	ls_buf_u64(b, v / unit);
	if (decimals <= 0)
		return;
	uint64_t frac = (v % unit) / (unit / scale ? unit / scale : 1);
	char tmp[20];
	for (int i = decimals - 1; i >= 0; i--) {
		tmp[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	ls_buf_ch(b, '.');
	ls_buf_mem(b, tmp, (size_t)decimals);
}

void ls_buf_json_str(struct ls_buf *b, const char *s)
{
	static const char digits[] = "0123456789abcdef";

	ls_buf_ch(b, '"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			ls_buf_ch(b, '\\');
			ls_buf_ch(b, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			char esc[6] = { '\\', 'u', '0', '0', digits[c >> 4], digits[c & 15] };
			ls_buf_mem(b, esc, sizeof(esc));
		} else {
			ls_buf_ch(b, (char)c);
		}
	}
	ls_buf_ch(b, '"');
}

int ls_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one integer argument of the given length modifier. */
static uint64_t take_unsigned(va_list *ap, int longs, bool size)
{
	if (size)
		return va_arg(*ap, size_t);
	if (longs >= 1)
		return va_arg(*ap, unsigned long);
	return va_arg(*ap, unsigned int);
}

static int64_t take_signed(va_list *ap, int longs, bool size)
{
	if (size)
		return va_arg(*ap, ssize_t);
	if (longs >= 1)
		return va_arg(*ap, long);
	return va_arg(*ap, int);
}

static void vformat(struct ls_buf *b, const char *fmt, va_list *ap)
{
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			ls_buf_ch(b, *f);
			continue;
		}
		int longs = 0;
		bool size = false;
		f++;
		while (*f == 'l') {
			longs++;
			f++;
		}
		if (*f == 'z') {
			size = true;
			f++;
		}
		switch (*f) {
		case 's': ls_buf_str(b, va_arg(*ap, const char *)); break;
		case 'c': ls_buf_ch(b, (char)va_arg(*ap, int)); break;
		case 'd': ls_buf_i64(b, take_signed(ap, longs, size)); break;
		case 'u': ls_buf_u64(b, take_unsigned(ap, longs, size)); break;
		case 'x': ls_buf_hex(b, take_unsigned(ap, longs, size)); break;
		case 'p':
			ls_buf_str(b, "0x");
			ls_buf_hex(b, (uintptr_t)va_arg(*ap, void *));
			break;
		case '%': ls_buf_ch(b, '%'); break;
		case '\0': return;
		default: ls_buf_ch(b, '?'); break;
		}
	}
}

void ls_log(const char *fmt, ...)
{
	char mem[512];
	struct ls_buf b;
	va_list ap;
	int saved = errno;

	ls_buf_init(&b, mem, sizeof(mem) - 1);
	ls_buf_str(&b, "leakscope[");
	ls_buf_u64(&b, (uint64_t)getpid());
	ls_buf_str(&b, "]: ");
	va_start(ap, fmt);
	vformat(&b, fmt, &ap);
	va_end(ap);
	mem[b.len++] = '\n';
	(void)ls_write_all(2, mem, b.len);
	errno = saved;
}
