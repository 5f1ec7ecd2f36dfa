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
	.port = 8088,
	.exit_reports = 1000,
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

uint64_t ls_parse_hex(const char **s, const char *end)
{
	uint64_t v = 0;

	for (; *s < end; (*s)++) {
		char c = **s;
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') :
			     c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;
		if (d == 16)
			break;
		v = v << 4 | d;
	}
	return v;
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

/* Settings are copied out of the environment at load: servers rewrite
 * their environment area to set a process title (nginx, PostgreSQL), so
 * a pointer getenv returned would later read the title instead. */
#define PATH_CAP  4096
#define TOKEN_CAP 1024
static char s_report[PATH_CAP], s_port_file[PATH_CAP], s_socket[108];
static char s_token[TOKEN_CAP], s_bind[64] = "127.0.0.1";
static char s_runtime[PATH_CAP], s_xdg[PATH_CAP];

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* Copies variable name into buf; NULL (and one log line) when it is
 * unset, empty or too long. */
static const char *env_copy(const char *name, char *buf, size_t cap)
{
	const char *v = env(name);
	size_t n = v ? strlen(v) : 0;

	if (!v)
		return NULL;
	if (n >= cap) {
		ls_log("%s is longer than %zu bytes; ignored", name, cap - 1);
		return NULL;
	}
	memcpy(buf, v, n + 1);
	return buf;
}

/* FNV-1a over one "NAME=VALUE" string. */
static uint64_t fnv(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* A digest of every LEAKSCOPE_* setting but the marker, independent of
 * their order: a child whose settings hash the same as its parent's
 * merely inherited them. */
static uint64_t settings_digest(void)
{
	extern char **environ;
	uint64_t d = 0;
	size_t mlen = strlen(LS_MARKER_VAR);

	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, "LEAKSCOPE_", 10) &&
		    !(strncmp(*e, LS_MARKER_VAR, mlen) == 0 && (*e)[mlen] == '='))
			d += fnv(*e, 0xcbf29ce484222325ull) | 1;
	return d;
}

/* Decides whether this process was exec'd by one running leakscope and
 * only inherited its settings (then it stays quiet: no port of its own),
 * and leaves the marker its own children will see. The marker is
 * "PID:DIGEST" of the process that set it; a process with the same pid
 * is that process after an exec of its own (sh -c 'exec server') and
 * keeps its role. A host that passes only LD_PRELOAD to its children
 * (lighttpd's CGI) drops the marker; then the parent tells (a thread
 * named leakscope, or libleakscope in its maps), unless the child was
 * given a port or socket of its own. */
static void lineage(void)
{
	uint64_t mine = settings_digest();
	const char *m = getenv(LS_MARKER_VAR);
	pid_t self = getpid();

	if (m && *m) {
		const char *p = m;
		uint64_t pid = 0;
		for (; *p >= '0' && *p <= '9'; p++)
			pid = pid * 10 + (uint64_t)(*p - '0');
		uint64_t digest = *p == ':' ? (p++, ls_parse_hex(&p, p + strlen(p))) : 0;
		ls_cfg.marker_pid = (pid_t)pid;
		if (pid == (uint64_t)self)
			return; /* this process, re-exec'd: its marker stays */
		if (digest == mine) {
			ls_cfg.exec_child = true;
			return; /* inherited unchanged: keep the first marker */
		}
		/* Settings given to this process itself: it is a top process. */
	} else if (!env("LEAKSCOPE_PORT") && !env("LEAKSCOPE_SOCKET") &&
		   ls_proc_has_leakscope(getppid())) {
		ls_cfg.exec_child = true;
		return;
	}
	char v[48];
	struct ls_buf b;
	ls_buf_init(&b, v, sizeof(v) - 1);
	ls_buf_u64(&b, (uint64_t)self);
	ls_buf_ch(&b, ':');
	ls_buf_hex(&b, mine);
	v[b.len] = '\0';
	setenv(LS_MARKER_VAR, v, 1);
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
	if ((v = env("LEAKSCOPE_SAMPLING_BYTES"))) {
		if (ls_parse_size(v, &n) && n >= 1 && n <= LS_SAMPLING_BYTES_MAX)
			ls_cfg.sampling_bytes = n;
		else
			ls_log("LEAKSCOPE_SAMPLING_BYTES=%s is not a size from 1 to 1G (like 512K); "
			       "no window opened", v);
	}
	if (ls_cfg.sampling && ls_cfg.sampling_bytes) {
		ls_log("LEAKSCOPE_SAMPLING and LEAKSCOPE_SAMPLING_BYTES are both set; give one: "
		       "no window opened");
		ls_cfg.sampling = ls_cfg.sampling_bytes = 0;
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
	if (env("LEAKSCOPE_BIND"))
		env_copy("LEAKSCOPE_BIND", s_bind, sizeof(s_bind));
	ls_cfg.bind = s_bind;
	ls_cfg.report_path = env_copy("LEAKSCOPE_REPORT", s_report, sizeof(s_report));
	ls_cfg.port_file = env_copy("LEAKSCOPE_PORT_FILE", s_port_file, sizeof(s_port_file));
	ls_cfg.token = env_copy("LEAKSCOPE_TOKEN", s_token, sizeof(s_token));
	ls_cfg.socket_path = env_copy("LEAKSCOPE_SOCKET", s_socket, sizeof(s_socket));
	ls_cfg.runtime_dir = env_copy("LEAKSCOPE_RUNTIME_DIR", s_runtime, sizeof(s_runtime));
	if (ls_cfg.runtime_dir && ls_cfg.runtime_dir[0] != '/') {
		ls_log("LEAKSCOPE_RUNTIME_DIR=%s is not an absolute path; using the default",
		       ls_cfg.runtime_dir);
		ls_cfg.runtime_dir = NULL;
	}
	ls_cfg.xdg_runtime = env_copy("XDG_RUNTIME_DIR", s_xdg, sizeof(s_xdg));
	if ((v = env("LEAKSCOPE_EXIT_REPORTS"))) {
		if (parse_range(v, 0, 1000000, &n))
			ls_cfg.exit_reports = n;
		else
			ls_log("LEAKSCOPE_EXIT_REPORTS=%s is not 0..1000000; keeping %lu", v,
			       (unsigned long)ls_cfg.exit_reports);
	}
	v = env("LEAKSCOPE_FOLLOW_FORK");
	ls_cfg.follow_fork = v && strcmp(v, "0");
	lineage();
}
