/* SPDX-License-Identifier: MIT */
/* preload/log.c: a bounded text formatter and one-line logging through
 * write(2). No stdio and no malloc, so it is safe inside the hooks. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
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

/* ---- where log lines go ---------------------------------------------- */

/* The standard error the process started with. Descriptor 2 is the
 * host's: a daemon may close it and get a socket, a pipe or a data file
 * under that number, and a log line written there would corrupt it. So a
 * line goes to descriptor 2 only while it is still that file, or a
 * terminal or /dev/null, or a file opened for appending (a log file the
 * host moved stderr to, as nginx does with its error log). */
static struct {
	bool known;
	dev_t dev;
	ino_t ino;
} first_stderr;

void ls_log_init(void)
{
	struct stat st;

	if (!fstat(2, &st)) {
		first_stderr.known = true;
		first_stderr.dev = st.st_dev;
		first_stderr.ino = st.st_ino;
	}
}

/* flags: the open flags of the host's descriptor 2. */
static bool stderr_ok(int fd, int flags)
{
	struct stat st;
	struct termios tio;

	if (fstat(fd, &st))
		return false;
	if (first_stderr.known && st.st_dev == first_stderr.dev && st.st_ino == first_stderr.ino)
		return true;
	if (S_ISCHR(st.st_mode))
		return (major(st.st_rdev) == 1 && minor(st.st_rdev) == 3) || /* /dev/null */
		       !ioctl(fd, TCGETS, &tio);
	return S_ISREG(st.st_mode) && flags >= 0 && (flags & O_APPEND);
}

/* The host's descriptor 2's open flags, read from /proc: the control
 * thread has a descriptor table of its own and cannot fcntl it. */
static int host_stderr_flags(void)
{
	char buf[256];
	int fd = open("/proc/self/fdinfo/2", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = strstr(buf, "flags:");
	if (!p)
		return -1;
	for (p += 6; *p == ' ' || *p == '\t'; p++)
		;
	int v = 0;
	for (; *p >= '0' && *p <= '7'; p++)
		v = v * 8 + (*p - '0');
	return v;
}

static void emit(const char *line, size_t len)
{
	if (!ls_tls.private_fds) {
		if (stderr_ok(2, fcntl(2, F_GETFL)))
			(void)ls_write_all(2, line, len);
		return;
	}
	/* On the control thread: reach the host's current stderr by name,
	 * for this one line, holding no copy of it afterwards. */
	int fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return;
	if (stderr_ok(fd, host_stderr_flags()))
		(void)ls_write_all(fd, line, len);
	close(fd);
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
	emit(mem, b.len);
	errno = saved;
}

const char *ls_strerror(int err)
{
	/* glibc's strerror may format "Unknown error N" into a buffer it
	 * allocates, and translates through the locale; the description
	 * table is static text. */
	const char *d = err > 0 ? strerrordesc_np(err) : NULL;
	return d ? d : "unknown error";
}
