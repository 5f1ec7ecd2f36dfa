/* SPDX-License-Identifier: MIT */
/* preload/pprof.c: a report in the formats pprof reads. The gperftools
 * legacy heap text (lines for report.c to stream), and profile.proto,
 * encoded by hand and wrapped in gzip with stored blocks, so that the
 * preload needs neither protobuf nor zlib in the host's process. */
#include "internal.h"

#include <string.h>

/* ---- legacy heap text ------------------------------------------------ */

/* "N: BYTES [N: BYTES]" with the estimates already unbiased (each sampled
 * allocation weighted by 1/p, docs/weights.md): the "heapprofile" tag
 * tells pprof not to scale again. Its own unbiasing ("heap_v2/RATE")
 * scales a row's raw counts by the row's mean size, which is biased for
 * a stack of mixed sizes, so the weighted values are given instead. */
static void counts(struct ls_buf *b, unsigned __int128 n, unsigned __int128 bytes)
{
	for (int k = 0; k < 2; k++) {
		if (k)
			ls_buf_str(b, " [");
		ls_buf_u128(b, n);
		ls_buf_str(b, ": ");
		ls_buf_u128(b, bytes);
		if (k)
			ls_buf_ch(b, ']');
	}
}

void ls_pprof_header(const struct ls_report *r, struct ls_buf *b)
{
	unsigned __int128 n, bytes;

	ls_report_est_totals(r, &n, &bytes);
	ls_buf_str(b, "heap profile: ");
	counts(b, n, bytes);
	ls_buf_str(b, " @ heapprofile\n");
}

void ls_pprof_row(const struct ls_report *r, size_t i, struct ls_buf *b)
{
	struct ls_report_row row;

	ls_report_get_row(r, i, &row);
	counts(b, row.est_count, row.est_bytes);
	ls_buf_str(b, " @");
	/* As in the text report: the first address is the call site, the
	 * others return addresses, which is what pprof expects here. */
	for (unsigned k = 0; k < row.nframes; k++) {
		ls_buf_str(b, " 0x");
		ls_buf_hex(b, (uintptr_t)row.frames[k] - (k == 0));
	}
	ls_buf_ch(b, '\n');
}

/* ---- a growable byte buffer ------------------------------------------- */

struct bytes {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void put(struct bytes *o, const void *src, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n)
			cap *= 2;
		uint8_t *p = ls_mem_alloc(cap, false);
		if (!p) {
			o->oom = true;
			return;
		}
		if (o->p)
			memcpy(p, o->p, o->len);
		ls_mem_free(o->p, o->cap);
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, src, n);
	o->len += n;
}

static void drop(struct bytes *o)
{
	ls_mem_free(o->p, o->cap);
	*o = (struct bytes){ 0 };
}

/* ---- protobuf wire format --------------------------------------------- */

static void varint(struct bytes *o, uint64_t v)
{
	uint8_t tmp[10];
	int n = 0;

	do {
		tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	put(o, tmp, (size_t)n);
}

static void field_uint(struct bytes *o, unsigned field, uint64_t v)
{
	if (!v)
		return; /* proto3: zero is the default and is not written */
	varint(o, (uint64_t)field << 3);
	varint(o, v);
}

static void field_bytes(struct bytes *o, unsigned field, const void *p, size_t n)
{
	varint(o, (uint64_t)field << 3 | 2);
	varint(o, n);
	put(o, p, n);
}

static void field_msg(struct bytes *o, unsigned field, struct bytes *sub)
{
	field_bytes(o, field, sub->p, sub->len);
	o->oom |= sub->oom;
	sub->len = 0;
}

/* ---- profile.proto ---------------------------------------------------- */

enum {
	P_SAMPLE_TYPE = 1, P_SAMPLE = 2, P_MAPPING = 3, P_LOCATION = 4,
	P_STRING_TABLE = 6, P_TIME_NANOS = 9, P_DURATION_NANOS = 10,
	P_PERIOD_TYPE = 11, P_PERIOD = 12, P_DEFAULT_SAMPLE_TYPE = 14,
};

struct proto {
	struct bytes out, msg, sub;
	const char **strs;          /* the string table */
	unsigned nstrs, strs_cap;
	struct ls_module_info *mods;
	unsigned nmods;
	uint64_t *locs;             /* open addressing: address -> id */
	size_t locs_cap, nlocs;
};

/* Index of s in the string table, adding it. Modules' strings come from
 * the module list and are numbered after the fixed ones. */
static uint64_t str(struct proto *p, const char *s)
{
	for (unsigned i = 0; i < p->nstrs; i++)
		if (!strcmp(p->strs[i], s))
			return i;
	if (p->nstrs == p->strs_cap)
		return 0; /* cannot happen: sized for every module's two strings */
	p->strs[p->nstrs++] = s;
	return p->nstrs - 1;
}

static void value_type(struct proto *p, unsigned field, const char *type, const char *unit)
{
	field_uint(&p->sub, 1, str(p, type));
	field_uint(&p->sub, 2, str(p, unit));
	field_msg(&p->out, field, &p->sub);
}

static unsigned mapping_of(const struct proto *p, uint64_t pc)
{
	for (unsigned i = 0; i < p->nmods; i++)
		if (pc - p->mods[i].start < p->mods[i].end - p->mods[i].start)
			return i + 1;
	return 0;
}

/* The id of the location at pc, numbering it the first time. */
static uint64_t location(struct proto *p, uint64_t pc)
{
	size_t i = (size_t)(pc * 0x9e3779b97f4a7c15ull >> 20) & (p->locs_cap - 1);

	for (;; i = (i + 1) & (p->locs_cap - 1)) {
		if (p->locs[2 * i] == pc + 1)
			return p->locs[2 * i + 1];
		if (!p->locs[2 * i])
			break;
	}
	p->locs[2 * i] = pc + 1;
	p->locs[2 * i + 1] = ++p->nlocs;
	field_uint(&p->sub, 1, p->nlocs);
	field_uint(&p->sub, 2, mapping_of(p, pc));
	field_uint(&p->sub, 3, pc);
	field_msg(&p->msg, P_LOCATION, &p->sub);
	return p->nlocs;
}

static bool collect_module(void *ctx, const struct ls_module_info *m)
{
	struct proto *p = ctx;
	if (p->nmods < LS_PPROF_MAX_MODULES)
		p->mods[p->nmods++] = *m;
	return true;
}

/* Builds the uncompressed profile into p->out. false on out of memory. */
static bool encode(struct proto *p, const struct ls_report *r)
{
	const struct ls_window_info *w = ls_report_info(r);
	size_t rows = ls_report_nrows(r), frames = 0;
	struct ls_report_row row;

	for (size_t i = 0; i < rows; i++) {
		ls_report_get_row(r, i, &row);
		frames += row.nframes;
	}
	p->locs_cap = 64;
	while (p->locs_cap < 2 * frames + 2)
		p->locs_cap *= 2;
	p->locs = ls_mem_calloc(2 * p->locs_cap * sizeof(uint64_t), false);
	p->mods = ls_mem_alloc(LS_PPROF_MAX_MODULES * sizeof(*p->mods), false);
	p->strs_cap = 16 + 2 * LS_PPROF_MAX_MODULES;
	p->strs = ls_mem_alloc(p->strs_cap * sizeof(*p->strs), false);
	if (!p->locs || !p->mods || !p->strs)
		return false;
	ls_modules_each(collect_module, p);

	str(p, "");
	value_type(p, P_SAMPLE_TYPE, "inuse_objects", "count");
	value_type(p, P_SAMPLE_TYPE, "inuse_space", "bytes");
	/* Samples, with their locations gathered in p->msg meanwhile. */
	for (size_t i = 0; i < rows; i++) {
		struct bytes ids = { 0 }, vals = { 0 };
		ls_report_get_row(r, i, &row);
		for (unsigned k = 0; k < row.nframes; k++)
			varint(&ids, location(p, (uintptr_t)row.frames[k] - 1));
		varint(&vals, row.est_count > UINT64_MAX ? UINT64_MAX : (uint64_t)row.est_count);
		varint(&vals, row.est_bytes > UINT64_MAX ? UINT64_MAX : (uint64_t)row.est_bytes);
		field_bytes(&p->sub, 1, ids.p, ids.len);
		field_bytes(&p->sub, 2, vals.p, vals.len);
		p->sub.oom |= ids.oom | vals.oom;
		drop(&ids);
		drop(&vals);
		field_msg(&p->out, P_SAMPLE, &p->sub);
	}
	for (unsigned i = 0; i < p->nmods; i++) {
		const struct ls_module_info *m = &p->mods[i];
		field_uint(&p->sub, 1, i + 1);
		field_uint(&p->sub, 2, m->start);
		field_uint(&p->sub, 3, m->end);
		field_uint(&p->sub, 4, m->offset);
		field_uint(&p->sub, 5, str(p, m->path));
		if (m->build_id[0])
			field_uint(&p->sub, 6, str(p, m->build_id));
		field_msg(&p->out, P_MAPPING, &p->sub);
	}
	put(&p->out, p->msg.p, p->msg.len);
	field_uint(&p->out, P_TIME_NANOS, w->start_real_ns);
	field_uint(&p->out, P_DURATION_NANOS, (w->on ? ls_now_mono_ns() : w->end_mono_ns) -
						     w->start_mono_ns);
	/* As Go's heap profiles: values already scaled, the period the
	 * sampling parameter. */
	if (w->sampling_bytes) {
		value_type(p, P_PERIOD_TYPE, "space", "bytes");
		field_uint(&p->out, P_PERIOD, w->sampling_bytes);
	} else {
		value_type(p, P_PERIOD_TYPE, "objects", "count");
		field_uint(&p->out, P_PERIOD, w->sampling);
	}
	field_uint(&p->out, P_DEFAULT_SAMPLE_TYPE, str(p, "inuse_space"));
	/* The string table goes last: every index above is assigned now. */
	for (unsigned i = 0; i < p->nstrs; i++)
		field_bytes(&p->out, P_STRING_TABLE, p->strs[i], strlen(p->strs[i]));
	return !p->out.oom && !p->msg.oom && !p->sub.oom;
}

/* ---- gzip with stored blocks ------------------------------------------ */

static uint32_t crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

static void le32(struct bytes *o, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	put(o, b, 4);
}

/* RFC 1952 around RFC 1951 stored blocks: valid gzip for every reader,
 * at the size of the data; profiles are small. */
static void gzip(struct bytes *o, const uint8_t *data, size_t n)
{
	static const uint8_t head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff };

	put(o, head, sizeof(head));
	size_t at = 0;
	do {
		size_t len = n - at > 65535 ? 65535 : n - at;
		uint8_t bh[5] = { at + len == n, (uint8_t)len, (uint8_t)(len >> 8),
				  (uint8_t)~len, (uint8_t)(~len >> 8) };
		put(o, bh, sizeof(bh));
		put(o, data + at, len);
		at += len;
	} while (at < n);
	le32(o, crc32(0, data, n));
	le32(o, (uint32_t)n);
}

int ls_pprof_proto(const struct ls_report *r, uint8_t **out, size_t *len, size_t *cap)
{
	struct proto *p = ls_mem_calloc(sizeof(*p), false);
	struct bytes z = { 0 };
	int rc = -1;

	if (!p)
		return -1;
	if (encode(p, r)) {
		gzip(&z, p->out.p, p->out.len);
		if (!z.oom) {
			*out = z.p;
			*len = z.len;
			*cap = z.cap;
			z.p = NULL;
			rc = 0;
		}
	}
	drop(&z);
	drop(&p->out);
	drop(&p->msg);
	drop(&p->sub);
	ls_mem_free(p->locs, 2 * p->locs_cap * sizeof(uint64_t));
	ls_mem_free(p->mods, LS_PPROF_MAX_MODULES * sizeof(*p->mods));
	ls_mem_free(p->strs, p->strs_cap * sizeof(*p->strs));
	ls_mem_free(p, sizeof(*p));
	return rc;
}
