/* SPDX-License-Identifier: MIT */
/* control/debug.c: the endpoints of Go's net/http/pprof, so that `pprof
 * http://host:port/debug/pprof/heap` and continuous-profiling scrapers
 * (Parca, Pyroscope) read leakscope without glue. */
#include "internal.h"

#include <dlfcn.h>
#include <string.h>

#define PROTO "application/octet-stream"

static enum MHD_Result proto_reply(struct MHD_Connection *c, const uint8_t *p, size_t len)
{
	struct MHD_Response *r = ls_mhd.from_buffer(len, (void *)p, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	ls_mhd.add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, PROTO);
	ls_mhd.add_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, "attachment; filename=\"heap\"");
	ls_mhd.add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result rc = ls_mhd.queue(c, MHD_HTTP_OK, r);
	ls_mhd.destroy(r);
	return rc;
}

/* The open window, or an empty profile when none is open: a scraper
 * polling a quiet host should see no samples, not an error. */
enum MHD_Result ls_debug_heap(struct MHD_Connection *c)
{
	enum MHD_Result rc;
	struct ls_window_info info;
	uint64_t debug = 0;

	/* gc and seconds are Go's; accepted and ignored, as leakscope
	 * reports live blocks of the window as they are. */
	if (!ls_control_only_params(c, "debug,gc,seconds", &rc))
		return rc;
	const char *v = ls_mhd.lookup_value(c, MHD_GET_ARGUMENT_KIND, "debug");
	if (v && ls_query_u64(v, 0, 2, &debug))
		return ls_control_reply_text(c, MHD_HTTP_BAD_REQUEST,
					     "error: debug must be 0, 1 or 2\n");
	if (debug)
		return ls_control_report(c, false, LS_REPORT_PPROF, 0);

	ls_report_ref();
	ls_window_get(&info);
	if (!info.on) {
		/* generation 0 holds no block: an empty profile */
		info.gen = 0;
		info.sampling = 1;
	}
	struct ls_report *r = ls_report_build(&info, 0, LS_REPORT_TEXT);
	uint8_t *p = NULL;
	size_t len = 0, cap = 0;
	if (!r || ls_pprof_proto(r, &p, &len, &cap)) {
		ls_report_free(r);
		if (!r)
			return ls_control_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
						     "error: out of memory while building the profile\n");
		return ls_control_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
					     "error: out of memory while encoding the profile\n");
	}
	ls_report_free(r);
	rc = proto_reply(c, p, len);
	ls_mem_free(p, cap);
	return rc;
}

/* Resolves one address with the process's own dynamic symbols. */
static void symbol_line(struct ls_buf *b, const char *tok, size_t len)
{
	char hex[24];
	uint64_t addr = 0;
	Dl_info di;

	if (len < 3 || len > 18 || tok[0] != '0' || (tok[1] != 'x' && tok[1] != 'X'))
		return;
	for (size_t i = 2; i < len; i++) {
		char ch = tok[i];
		unsigned d = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0') :
			     ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10) :
			     ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10) : 16;
		if (d == 16)
			return;
		addr = addr << 4 | d;
	}
	if (!dladdr((void *)(uintptr_t)addr, &di) || !di.dli_sname)
		return;
	memcpy(hex, tok, len);
	hex[len] = '\0';
	ls_buf_str(b, hex);
	ls_buf_ch(b, ' ');
	ls_buf_str(b, di.dli_sname);
	ls_buf_ch(b, '\n');
}

/* Gathers the query's argument names: "?0x1+0x2" arrives as one name,
 * "0x1 0x2", since '+' decodes to a space. */
static enum MHD_Result gather(void *cls, enum MHD_ValueKind kind, const char *key,
			      const char *value)
{
	struct ls_buf *b = cls;
	(void)kind;
	(void)value;
	if (key) {
		ls_buf_str(b, key);
		ls_buf_ch(b, ' ');
	}
	return MHD_YES;
}

/* Both buffers live on the control thread, which serves one request at
 * a time. */
static char query[64 * 1024], out[256 * 1024];

enum MHD_Result ls_debug_symbol(struct MHD_Connection *c, const char *body, size_t len)
{
	struct ls_buf b;

	if (!body) {
		/* GET: addresses in the query, as a POST body would have them;
		 * none: the count pprof asks for first. */
		ls_buf_init(&b, query, sizeof(query));
		ls_mhd.get_values(c, MHD_GET_ARGUMENT_KIND, gather, &b);
		if (!b.len)
			return ls_control_reply_text(c, MHD_HTTP_OK, "num_symbols: 1\n");
		body = query;
		len = b.len;
	}
	ls_buf_init(&b, out, sizeof(out));
	for (size_t at = 0; at < len;) {
		size_t end = at;
		while (end < len && body[end] != '+' && body[end] != ' ' && body[end] != '\n')
			end++;
		symbol_line(&b, body + at, end - at);
		at = end + 1;
	}
	return ls_control_reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", out, b.len);
}
