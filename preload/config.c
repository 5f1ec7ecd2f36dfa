/* SPDX-License-Identifier: MIT */
/* preload/config.c: the LEAKSCOPE_* environment settings, read once. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ls_config ls_cfg = {
	.max_frames = 32,
	.max_memory = 256ull << 20,
	.sampling = 0,
	.unwinder = LS_UNWIND_LIBUNWIND,
	.bind = "127.0.0.1",
	.port = 8088,
};

/* Parses a decimal integer in [lo, hi] with nothing after it. */
static bool parse_range(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

bool ls_parse_size(const char *s, uint64_t *out)
{
	char digits[24];
	size_t n = s ? strlen(s) : 0;
	unsigned shift = 0;
	uint64_t v;

	if (n == 0 || n >= sizeof(digits))
		return false;
	memcpy(digits, s, n + 1);
	switch (digits[n - 1]) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	default: break;
	}
	if (shift)
		digits[n - 1] = '\0';
	if (!parse_range(digits, 0, UINT64_MAX >> shift, &v))
		return false;
	*out = v << shift;
	return true;
}

bool ls_expand_pid(const char *pattern, char *buf, size_t cap)
{
	struct ls_buf b;

	ls_buf_init(&b, buf, cap - 1);
	for (const char *p = pattern; *p; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			ls_buf_u64(&b, (uint64_t)getpid());
			p++;
		} else {
			ls_buf_ch(&b, *p);
		}
	}
	buf[b.len] = '\0';
	return !b.overflow;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

void ls_config_load(void)
{
	const char *v;
	uint64_t n;

	if ((v = env("LEAKSCOPE_MAX_FRAMES"))) {
		if (parse_range(v, 1, LS_MAX_FRAMES_CAP, &n))
			ls_cfg.max_frames = (unsigned)n;
		else
			ls_log("LEAKSCOPE_MAX_FRAMES=%s is not 1..%d; using %u", v,
			       LS_MAX_FRAMES_CAP, ls_cfg.max_frames);
	}
	if ((v = env("LEAKSCOPE_MAX_MEMORY"))) {
		if (ls_parse_size(v, &n) && n >= 4096)
			ls_cfg.max_memory = n;
		else
			ls_log("LEAKSCOPE_MAX_MEMORY=%s is not a size like 64M; using 256M", v);
	}
	if ((v = env("LEAKSCOPE_SAMPLING"))) {
		if (parse_range(v, 1, LS_SAMPLING_MAX, &n))
			ls_cfg.sampling = n;
		else
			ls_log("LEAKSCOPE_SAMPLING=%s is not 1..1000000000; no window opened", v);
	}
	if ((v = env("LEAKSCOPE_UNWIND"))) {
		if (!strcmp(v, "fp"))
			ls_cfg.unwinder = LS_UNWIND_FP;
		else if (strcmp(v, "libunwind"))
			ls_log("LEAKSCOPE_UNWIND=%s is not libunwind or fp; using libunwind", v);
	}
	if ((v = env("LEAKSCOPE_PORT"))) {
		if (!strcmp(v, "off") || !strcmp(v, "none"))
			ls_cfg.port = -1;
		else if (parse_range(v, 0, 65535, &n))
			ls_cfg.port = (int)n;
		else
			ls_log("LEAKSCOPE_PORT=%s is not 0..65535 or off; using %d", v, ls_cfg.port);
	}
	if ((v = env("LEAKSCOPE_BIND")))
		ls_cfg.bind = v;
	ls_cfg.report_path = env("LEAKSCOPE_REPORT");
	ls_cfg.port_file = env("LEAKSCOPE_PORT_FILE");
	ls_cfg.token = env("LEAKSCOPE_TOKEN");
	ls_cfg.socket_path = env("LEAKSCOPE_SOCKET");
	v = env("LEAKSCOPE_FOLLOW_FORK");
	ls_cfg.follow_fork = v && strcmp(v, "0");
}
