/* SPDX-License-Identifier: MIT */
/* preload/report.c: builds the text report (docs/report-format.md) and
 * streams it out. The build scans the arena's records without stripe
 * locks and aggregates them per stack in a private table; streaming then
 * reads only that table and immutable stacks, so the host's threads keep
 * allocating while a large report goes out. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h> /* rename() only; no stdio streams in the preload */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A record: 128 frames of 19 characters, and a series of 32 buckets of
 * four numbers up to 39 digits each. */
#define LINE_CAP 8192

struct agg {
	struct ls_stack *st;     /* key; opaque until validated */
	uint64_t count, bytes;
	uint64_t t_min, t_max;
	struct ls_weights w;     /* Horvitz-Thompson sums (docs/weights.md) */
	bool valid;              /* st is a real stack of the window */
	struct ls_series_data series; /* copied when valid (series.c) */
};

enum phase { PH_HEADER, PH_MAPS, PH_ROWS, PH_END, PH_DONE };

struct ls_report {
	struct ls_window_info info;
	uint64_t min_age_ns, now;
	enum ls_report_format fmt;
	bool failed;
	const char *extra;       /* header lines after pid:, or NULL */

	struct agg *tab;         /* open addressing, keyed by stack */
	size_t cap, used;
	struct agg **rows;       /* valid aggregates, sorted */
	size_t nrows;
	uint64_t live_count, live_bytes;
	struct ls_weights total;
	unsigned series_level, series_n; /* the rows' common bucket width, count */

	char *maps;              /* map: lines (pprof: /proc/self/maps), */
	size_t maps_len, maps_cap; /* a snapshot at build time */
	unsigned nmaps;
	enum phase maps_at;      /* copied out when this phase is reached */

	enum phase phase;
	size_t row, maps_off;
	char line[LINE_CAP];
	size_t line_len, line_off;
};

/* ---- references keeping closed stacks alive ------------------------- */

static pthread_mutex_t ref_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned refs;

void ls_report_ref(void)
{
	pthread_mutex_lock(&ref_lock);
	refs++;
	pthread_mutex_unlock(&ref_lock);
}

void ls_report_unref(void)
{
	/* Collect under ref_lock: a window closed after a new reference
	 * must not lose its stacks to this collection. */
	pthread_mutex_lock(&ref_lock);
	if (--refs == 0)
		ls_stacks_collect();
	pthread_mutex_unlock(&ref_lock);
}

void ls_report_lock_refs(void)
{
	pthread_mutex_lock(&ref_lock);
}

void ls_report_unlock_refs(void)
{
	pthread_mutex_unlock(&ref_lock);
}

void ls_report_reset_refs(void)
{
	pthread_mutex_init(&ref_lock, NULL);
	refs = 0;
}

/* ---- aggregation ----------------------------------------------------- */

static size_t slot_of(const struct ls_report *r, const struct ls_stack *st)
{
	uint64_t h = (uint64_t)(uintptr_t)st * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 17) & (r->cap - 1);
}

static struct agg *agg_lookup(struct ls_report *r, struct ls_stack *st, bool add)
{
	for (size_t i = slot_of(r, st);; i = (i + 1) & (r->cap - 1)) {
		struct agg *a = &r->tab[i];
		if (a->st == st)
			return a;
		if (!a->st) {
			if (!add)
				return NULL;
			a->st = st;
			a->t_min = UINT64_MAX;
			r->used++;
			return a;
		}
	}
}

static bool agg_grow(struct ls_report *r, size_t cap)
{
	struct agg *old = r->tab;
	size_t old_cap = r->cap;

	r->tab = ls_mem_calloc(cap * sizeof(struct agg), false);
	if (!r->tab) {
		r->tab = old;
		return false;
	}
	r->cap = cap;
	r->used = 0;
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].st)
			continue;
		*agg_lookup(r, old[i].st, true) = old[i];
	}
	ls_mem_free(old, old_cap * sizeof(struct agg));
	return true;
}

static void on_record(void *ctx, struct ls_stack *st, uint64_t size, uint64_t t_ns)
{
	struct ls_report *r = ctx;

	if (r->failed || !st)
		return;
	if (r->now > t_ns && r->now - t_ns < r->min_age_ns)
		return;
	if (r->now <= t_ns && r->min_age_ns > 0)
		return;
	if ((r->used + 1) * 10 > r->cap * 7 && !agg_grow(r, r->cap * 2)) {
		r->failed = true;
		return;
	}
	struct agg *a = agg_lookup(r, st, true);
	a->count++;
	a->bytes += size;
	ls_weights_add(&a->w, &r->info, size);
	if (t_ns < a->t_min)
		a->t_min = t_ns;
	if (t_ns > a->t_max)
		a->t_max = t_ns;
}

static void on_stack(void *ctx, struct ls_stack *st)
{
	struct ls_report *r = ctx;
	struct agg *a = agg_lookup(r, st, false);

	if (a) {
		a->valid = true;
		ls_series_copy(ls_stack_series(st), &a->series);
		if (a->series.level > r->series_level)
			r->series_level = a->series.level;
	}
}

static int by_bytes_desc(const void *x, const void *y)
{
	const struct agg *a = *(struct agg *const *)x, *b = *(struct agg *const *)y;

	if (a->w.est_bytes != b->w.est_bytes)
		return a->w.est_bytes < b->w.est_bytes ? 1 : -1;
	if (a->bytes != b->bytes)
		return a->bytes < b->bytes ? 1 : -1;
	if (a->count != b->count)
		return a->count < b->count ? 1 : -1;
	return (uintptr_t)a->st < (uintptr_t)b->st ? -1 : (uintptr_t)a->st > (uintptr_t)b->st;
}

static bool append_map(void *ctx, const char *line, size_t len)
{
	struct ls_report *r = ctx;

	if (r->maps_len + len > r->maps_cap) {
		size_t cap = (r->maps_cap + len) * 2;
		char *m = ls_mem_alloc(cap, false);
		if (!m)
			return false;
		if (r->maps)
			memcpy(m, r->maps, r->maps_len);
		ls_mem_free(r->maps, r->maps_cap);
		r->maps = m;
		r->maps_cap = cap;
	}
	memcpy(r->maps + r->maps_len, line, len);
	r->maps_len += len;
	r->nmaps++;
	return true;
}

/* pprof wants the process's whole map after its records. */
static bool snapshot_proc_maps(struct ls_report *r)
{
	char buf[8192];
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (!append_map(r, buf, (size_t)n))
			break;
	close(fd);
	return n == 0;
}

struct ls_report *ls_report_build(const struct ls_window_info *info, uint64_t min_age_ns,
				  enum ls_report_format fmt)
{
	struct ls_report *r = ls_mem_calloc(sizeof(*r), false);
	size_t cap = 64;

	if (!r)
		goto fail;
	ls_sample_drain(); /* frees deferred by signal handlers are not leaks */
	r->info = *info;
	r->min_age_ns = min_age_ns;
	r->fmt = fmt;
	r->maps_at = fmt == LS_REPORT_PPROF ? PH_DONE : PH_ROWS;
	r->now = ls_now_mono_ns();
	while (cap < info->stacks * 2 && cap < ((size_t)1 << 40))
		cap *= 2;
	r->tab = ls_mem_calloc(cap * sizeof(struct agg), false);
	if (!r->tab)
		goto fail;
	r->cap = cap;

	ls_arena_scan(info->gen, on_record, r);
	if (r->failed)
		goto fail;
	uint64_t end = info->on ? r->now : info->end_mono_ns;
	r->series_level = ls_series_level(info->start_mono_ns, end);
	ls_stacks_each(info->gen, on_stack, r);
	r->series_n = ls_series_buckets(info->start_mono_ns, end, r->series_level);

	r->rows = ls_mem_alloc((r->used + 1) * sizeof(struct agg *), false);
	if (!r->rows)
		goto fail;
	for (size_t i = 0; i < r->cap; i++) {
		struct agg *a = &r->tab[i];
		if (a->st && a->valid && a->count) {
			ls_series_coarsen(&a->series, r->series_level);
			r->rows[r->nrows++] = a;
			r->live_count += a->count;
			r->live_bytes += a->bytes;
			ls_weights_sum(&r->total, &a->w);
		}
	}
	qsort(r->rows, r->nrows, sizeof(*r->rows), by_bytes_desc);

	ls_modules_refresh();
	if (fmt == LS_REPORT_PPROF) {
		if (!snapshot_proc_maps(r))
			goto fail;
	} else {
		ls_modules_emit(append_map, r);
	}
	return r;
fail:
	ls_report_free(r);
	if (!r)
		ls_report_unref();
	return NULL;
}

void ls_report_free(struct ls_report *r)
{
	if (!r)
		return;
	ls_mem_free(r->tab, r->cap * sizeof(struct agg));
	ls_mem_free(r->rows, (r->used + 1) * sizeof(struct agg *));
	ls_mem_free(r->maps, r->maps_cap);
	ls_mem_free(r, sizeof(*r));
	ls_report_unref();
}

/* ---- text ------------------------------------------------------------ */

static void kv_u64(struct ls_buf *b, const char *key, uint64_t v)
{
	ls_buf_str(b, key);
	ls_buf_u64(b, v);
	ls_buf_ch(b, '\n');
}

static void header(struct ls_report *r, struct ls_buf *b)
{
	const struct ls_window_info *w = &r->info;
	char exe[1024];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	uint64_t end = w->on ? r->now : w->end_mono_ns;

	exe[n > 0 ? n : 0] = '\0';
	ls_buf_str(b, "format: leakscope-report " LS_REPORT_FORMAT "\nversion: " LS_VERSION "\n");
	kv_u64(b, "pid: ", (uint64_t)getpid());
	if (r->extra)
		ls_buf_str(b, r->extra);
	ls_buf_str(b, "exe: ");
	ls_buf_str(b, exe);
	if (w->sampling_bytes) {
		ls_buf_str(b, "\nmode: bytes\n");
		kv_u64(b, "sampling_bytes: ", w->sampling_bytes);
	} else {
		ls_buf_str(b, "\nmode: count\n");
		kv_u64(b, "sampling: ", w->sampling);
	}
	ls_buf_str(b, "window_start: ");
	ls_buf_fixed(b, w->start_real_ns, 6, 1000000000ull);
	ls_buf_str(b, "\nwindow_seconds: ");
	ls_buf_fixed(b, end > w->start_mono_ns ? end - w->start_mono_ns : 0, 3, 1000000000ull);
	ls_buf_str(b, w->on ? "\nwindow_open: yes\nmin_age: " : "\nwindow_open: no\nmin_age: ");
	ls_buf_fixed(b, r->min_age_ns, 3, 1000000000ull);
	ls_buf_ch(b, '\n');
	kv_u64(b, "max_frames: ", ls_cfg.max_frames);
	ls_buf_str(b, "unwinder: ");
	ls_buf_str(b, ls_unwind_name());
	ls_buf_ch(b, '\n');
	kv_u64(b, "sampled: ", w->sampled);
	kv_u64(b, "dropped: ", w->dropped);
	ls_buf_str(b, "live: ");
	ls_buf_u64(b, r->live_count);
	ls_buf_ch(b, ' ');
	ls_buf_u64(b, r->live_bytes);
	ls_buf_str(b, "\nestimated: ");
	ls_buf_u128(b, ls_weights_count(&r->total, w, r->live_count));
	ls_buf_ch(b, ' ');
	ls_buf_u128(b, ls_weights_bytes(&r->total, w, r->live_bytes));
	ls_buf_str(b, "\nvariance: ");
	ls_buf_u128(b, ls_weights_round(r->total.var_count));
	ls_buf_ch(b, ' ');
	ls_buf_u128(b, ls_weights_round(r->total.var_bytes));
	ls_buf_ch(b, '\n');
	ls_buf_str(b, "series_bucket: ");
	ls_buf_fixed(b, (uint64_t)1 << (LS_SERIES_SHIFT0 + r->series_level), 9, 1000000000ull);
	ls_buf_ch(b, '\n');
	kv_u64(b, "stacks: ", r->nrows);
	kv_u64(b, "maps: ", r->nmaps);
}

static void row(struct ls_report *r, const struct agg *a, struct ls_buf *b)
{
	void *const *frames;
	unsigned n = ls_stack_frames(a->st, &frames);

	ls_buf_str(b, "leak: count=");
	ls_buf_u64(b, a->count);
	ls_buf_str(b, " bytes=");
	ls_buf_u64(b, a->bytes);
	ls_buf_str(b, " est_count=");
	ls_buf_u128(b, ls_weights_count(&a->w, &r->info, a->count));
	ls_buf_str(b, " est_bytes=");
	ls_buf_u128(b, ls_weights_bytes(&a->w, &r->info, a->bytes));
	ls_buf_str(b, " var_count=");
	ls_buf_u128(b, ls_weights_round(a->w.var_count));
	ls_buf_str(b, " var_bytes=");
	ls_buf_u128(b, ls_weights_round(a->w.var_bytes));
	ls_buf_str(b, " max_age=");
	ls_buf_fixed(b, r->now > a->t_min ? r->now - a->t_min : 0, 3, 1000000000ull);
	ls_buf_str(b, " min_age=");
	ls_buf_fixed(b, r->now > a->t_max ? r->now - a->t_max : 0, 3, 1000000000ull);
	ls_buf_str(b, " via=");
	ls_buf_str(b, ls_api_name(ls_stack_api(a->st)));
	ls_buf_str(b, " allocs=");
	ls_buf_u64(b, a->series.allocs);
	ls_buf_str(b, " frees=");
	ls_buf_u64(b, a->series.frees);
	ls_buf_str(b, " series=");
	for (unsigned i = 0; i < r->series_n; i++) {
		if (i)
			ls_buf_ch(b, ',');
		ls_buf_u128(b, ls_weights_round(a->series.b[i]));
		ls_buf_ch(b, '/');
		ls_buf_u128(b, ls_weights_round(a->series.d[i]));
		ls_buf_ch(b, '/');
		ls_buf_u128(b, ls_weights_round(a->series.vb[i]));
		ls_buf_ch(b, '/');
		ls_buf_u128(b, ls_weights_round(a->series.vd[i]));
	}
	ls_buf_str(b, " @");
	for (unsigned i = 0; i < n; i++) {
		/* The innermost frame is a return address into the caller of
		 * malloc; step back into the call instruction. */
		uintptr_t pc = (uintptr_t)frames[i] - (i == 0);
		ls_buf_str(b, " 0x");
		ls_buf_hex(b, pc);
	}
	ls_buf_ch(b, '\n');
}

/* Produces the next line(s) into r->line. false at the end. */
static bool next_line(struct ls_report *r)
{
	struct ls_buf b;

	if (r->phase == PH_DONE)
		return false;
	ls_buf_init(&b, r->line, sizeof(r->line));
	switch (r->phase) {
	case PH_HEADER:
		if (r->fmt == LS_REPORT_PPROF)
			ls_pprof_header(r, &b);
		else
			header(r, &b);
		r->phase = PH_MAPS;
		break;
	case PH_MAPS:
		/* map lines are copied straight from the snapshot */
		r->phase = PH_ROWS;
		break;
	case PH_ROWS:
		if (r->row < r->nrows) {
			if (r->fmt == LS_REPORT_PPROF)
				ls_pprof_row(r, r->row++, &b);
			else
				row(r, r->rows[r->row++], &b);
			break;
		}
		r->phase = PH_END;
		/* fall through */
	case PH_END:
		if (r->fmt == LS_REPORT_PPROF) {
			ls_buf_str(&b, "\nMAPPED_LIBRARIES:\n");
		} else {
			ls_buf_str(&b, "end: ");
			ls_buf_u64(&b, r->nrows);
			ls_buf_str(&b, " stacks\n");
		}
		r->phase = PH_DONE;
		break;
	case PH_DONE:
		break;
	}
	r->line_off = 0;
	r->line_len = b.len;
	return true;
}

size_t ls_report_read(struct ls_report *r, char *buf, size_t cap)
{
	size_t out = 0;

	while (out < cap) {
		if (r->phase == r->maps_at && r->line_off == r->line_len &&
		    r->maps_off < r->maps_len) {
			size_t n = r->maps_len - r->maps_off;
			n = n < cap - out ? n : cap - out;
			memcpy(buf + out, r->maps + r->maps_off, n);
			r->maps_off += n;
			out += n;
			continue;
		}
		if (r->line_off == r->line_len && !next_line(r))
			break;
		size_t n = r->line_len - r->line_off;
		n = n < cap - out ? n : cap - out;
		memcpy(buf + out, r->line + r->line_off, n);
		r->line_off += n;
		out += n;
	}
	return out;
}

void ls_report_set_extra(struct ls_report *r, const char *lines)
{
	r->extra = lines;
}

void ls_report_rewind(struct ls_report *r)
{
	r->phase = PH_HEADER;
	r->row = r->maps_off = r->line_len = r->line_off = 0;
}

size_t ls_report_nrows(const struct ls_report *r)
{
	return r->nrows;
}

void ls_report_get_row(const struct ls_report *r, size_t i, struct ls_report_row *out)
{
	const struct agg *a = r->rows[i];
	out->count = a->count;
	out->bytes = a->bytes;
	out->est_count = ls_weights_count(&a->w, &r->info, a->count);
	out->est_bytes = ls_weights_bytes(&a->w, &r->info, a->bytes);
	out->nframes = ls_stack_frames(a->st, &out->frames);
	out->api = ls_stack_api(a->st);
}

const struct ls_window_info *ls_report_info(const struct ls_report *r)
{
	return &r->info;
}

void ls_report_totals(const struct ls_report *r, uint64_t *count, uint64_t *bytes)
{
	*count = r->live_count;
	*bytes = r->live_bytes;
}

void ls_report_est_totals(const struct ls_report *r, unsigned __int128 *count,
			  unsigned __int128 *bytes)
{
	*count = ls_weights_count(&r->total, &r->info, r->live_count);
	*bytes = ls_weights_bytes(&r->total, &r->info, r->live_bytes);
}

int ls_report_write_file(struct ls_report *r, const char *pattern)
{
	char path[4096], tmp[4096 + 64], chunk[16384];
	struct ls_buf b;
	int fd = -1, rc = 0;

	if (!ls_expand_pid(pattern, path, sizeof(path)))
		return -ENAMETOOLONG;
	/* A fresh temporary file (O_EXCL, never through a symlink), renamed
	 * over the target: an existing file or link is replaced, never
	 * written through. */
	for (unsigned k = 0; k < 16 && fd < 0; k++) {
		ls_buf_init(&b, tmp, sizeof(tmp) - 1);
		ls_buf_str(&b, path);
		ls_buf_str(&b, ".tmp.");
		ls_buf_u64(&b, (uint64_t)getpid());
		ls_buf_ch(&b, '.');
		ls_buf_u64(&b, k);
		tmp[b.len] = '\0';
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			return -errno;
	}
	if (fd < 0)
		return -EEXIST;
	size_t n;
	while ((n = ls_report_read(r, chunk, sizeof(chunk))) > 0)
		if ((rc = ls_write_all(fd, chunk, n)))
			break;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}
