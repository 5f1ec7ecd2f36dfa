/* SPDX-License-Identifier: MIT */
/* control/routes.c: the control endpoints. Every error is a 4xx with a
 * one-line plain-text reason; nothing here can stop the host. */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define TEXT "text/plain; charset=utf-8"
#define JSON "application/json"
#define BODY_MAX (64 * 1024) /* the largest request body read: symbol lookups */

enum MHD_Result ls_control_reply(struct MHD_Connection *c, unsigned status,
				 const char *type, const void *body, size_t len)
{
	struct MHD_Response *r = ls_mhd.from_buffer(len, (void *)body,
						    MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	ls_mhd.add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ls_mhd.add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_UNAUTHORIZED)
		ls_mhd.add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"leakscope\"");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		ls_mhd.add_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
	enum MHD_Result rc = ls_mhd.queue(c, status, r);
	ls_mhd.destroy(r);
	return rc;
}

enum MHD_Result ls_control_reply_text(struct MHD_Connection *c, unsigned status,
				      const char *line)
{
	return ls_control_reply(c, status, TEXT, line, strlen(line));
}

/* ---- query parameters ------------------------------------------------ */

struct params_check {
	const char *allowed;
	const char *bad;      /* first unknown name */
	char name[64];
};

static enum MHD_Result check_name(void *cls, enum MHD_ValueKind kind,
				  const char *key, const char *value)
{
	struct params_check *p = cls;
	(void)kind;
	(void)value;
	if (!key || !ls_query_name_in(key, p->allowed)) {
		struct ls_buf b;
		ls_buf_init(&b, p->name, sizeof(p->name) - 1);
		ls_buf_str(&b, key ? key : "");
		p->name[b.len] = '\0';
		p->bad = p->name;
		return MHD_NO;
	}
	return MHD_YES;
}

bool ls_control_only_params(struct MHD_Connection *c, const char *allowed,
			    enum MHD_Result *rc)
{
	struct params_check p = { .allowed = allowed };
	char line[160];
	struct ls_buf b;

	ls_mhd.get_values(c, MHD_GET_ARGUMENT_KIND, check_name, &p);
	if (!p.bad)
		return true;
	ls_buf_init(&b, line, sizeof(line) - 1);
	ls_buf_str(&b, "error: unknown parameter '");
	ls_buf_str(&b, p.bad);
	ls_buf_str(&b, "'; this endpoint takes: ");
	ls_buf_str(&b, *allowed ? allowed : "nothing");
	ls_buf_ch(&b, '\n');
	line[b.len] = '\0';
	*rc = ls_control_reply_text(c, MHD_HTTP_BAD_REQUEST, line);
	return false;
}

/* ---- reports ----------------------------------------------------------- */

static ssize_t report_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	size_t n = ls_report_read(cls, buf, max);
	(void)pos;
	return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void report_done(void *cls)
{
	ls_report_free(cls);
}

enum MHD_Result ls_control_report(struct MHD_Connection *c, bool close,
				  enum ls_report_format fmt, uint64_t min_age_ns)
{
	struct ls_window_info info;
	enum MHD_Result rc;

	ls_report_ref();
	if (close ? ls_window_off(&info) != 0 : (ls_window_get(&info), !info.on)) {
		ls_report_unref();
		return ls_control_reply_text(c, MHD_HTTP_CONFLICT,
					     "error: leak detection is off; GET /leak-on?sampling=N first\n");
	}
	struct ls_report *r = ls_report_build(&info, min_age_ns, fmt);
	if (!r)
		return ls_control_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
					     "error: out of memory while building the report\n");
	struct MHD_Response *resp = ls_mhd.from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
							 report_reader, r, report_done);
	if (!resp) {
		ls_report_free(r);
		return MHD_NO;
	}
	ls_mhd.add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, TEXT);
	ls_mhd.add_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = ls_mhd.queue(c, MHD_HTTP_OK, resp);
	ls_mhd.destroy(resp);
	return rc;
}

/* /leak-off and /leak-report: min_age and format (text or pprof). */
static enum MHD_Result leak_report(struct MHD_Connection *c, bool close)
{
	enum MHD_Result rc;
	uint64_t min_age = 0;
	enum ls_report_format fmt = LS_REPORT_TEXT;

	if (!ls_control_only_params(c, "min_age,format", &rc))
		return rc;
	const char *v = ls_mhd.lookup_value(c, MHD_GET_ARGUMENT_KIND, "min_age");
	if (v && ls_query_seconds(v, &min_age))
		return ls_control_reply_text(c, MHD_HTTP_BAD_REQUEST,
					     "error: min_age must be seconds, like 30 or 2.5\n");
	v = ls_mhd.lookup_value(c, MHD_GET_ARGUMENT_KIND, "format");
	if (v && !strcmp(v, "pprof"))
		fmt = LS_REPORT_PPROF;
	else if (v && strcmp(v, "text"))
		return ls_control_reply_text(c, MHD_HTTP_BAD_REQUEST,
					     "error: format must be text or pprof\n");
	return ls_control_report(c, close, fmt, min_age);
}

/* ---- endpoints ----------------------------------------------------------- */

/* /leak-on: sampling=N (one allocation in N) or bytes=B (one sample per B
 * bytes allocated, on average; K, M or G suffix), exactly one of them. */
static enum MHD_Result leak_on(struct MHD_Connection *c)
{
	enum MHD_Result rc;
	uint64_t n;
	char line[128];
	struct ls_buf b;

	if (!ls_control_only_params(c, "sampling,bytes", &rc))
		return rc;
	const char *v = ls_mhd.lookup_value(c, MHD_GET_ARGUMENT_KIND, "sampling");
	const char *vb = ls_mhd.lookup_value(c, MHD_GET_ARGUMENT_KIND, "bytes");
	if (v && vb)
		return ls_control_reply_text(c, MHD_HTTP_BAD_REQUEST,
					     "error: give sampling=N or bytes=B, not both\n");
	if (!v && !vb)
		return ls_control_reply_text(c, MHD_HTTP_BAD_REQUEST,
					     "error: missing sampling=N (1 to 1000000000) or "
					     "bytes=B (1 to 1G, suffix K, M or G)\n");
	if (v && ls_query_u64(v, 1, LS_SAMPLING_MAX, &n))
		return ls_control_reply_text(c, MHD_HTTP_BAD_REQUEST,
					     "error: sampling must be an integer from 1 to 1000000000\n");
	if (vb && (!ls_parse_size(vb, &n) || n < 1 || n > LS_SAMPLING_BYTES_MAX))
		return ls_control_reply_text(c, MHD_HTTP_BAD_REQUEST,
					     "error: bytes must be a size from 1 to 1G, like 524288 "
					     "or 512K\n");
	int err = ls_window_open(vb != NULL, n);
	if (err == -EALREADY)
		return ls_control_reply_text(c, MHD_HTTP_CONFLICT,
					     "error: leak detection is already on; GET /leak-off first\n");
	if (err)
		return ls_control_reply_text(c, MHD_HTTP_BAD_REQUEST, "error: cannot open a window\n");
	ls_buf_init(&b, line, sizeof(line) - 1);
	ls_buf_str(&b, vb ? "ok: leak detection on, sampling one allocation per " :
			    "ok: leak detection on, sampling one allocation in ");
	ls_buf_u64(&b, n);
	ls_buf_str(&b, vb ? " bytes allocated\n" : "\n");
	line[b.len] = '\0';
	return ls_control_reply_text(c, MHD_HTTP_OK, line);
}

static enum MHD_Result leak_status(struct MHD_Connection *c)
{
	enum MHD_Result rc;
	char mem[8192];
	struct ls_buf b;

	if (!ls_control_only_params(c, "", &rc))
		return rc;
	ls_buf_init(&b, mem, sizeof(mem));
	ls_status_json(&b);
	return ls_control_reply(c, MHD_HTTP_OK, JSON, mem, b.len);
}

enum route { R_NONE, R_ON, R_OFF, R_REPORT, R_STATUS, R_HEAP, R_SYMBOL };

static const struct {
	const char *path;
	enum route route;
} routes[] = {
	{ "/leak-on", R_ON }, { "/leak-off", R_OFF }, { "/leak-report", R_REPORT },
	{ "/leak-status", R_STATUS }, { "/debug/pprof/heap", R_HEAP },
	{ "/debug/pprof/symbol", R_SYMBOL },
};

static enum route route_of(const char *url)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (!strcmp(url, routes[i].path))
			return routes[i].route;
	return R_NONE;
}

/* A request body being read (only POST /debug/pprof/symbol has one). */
struct body {
	size_t len;
	bool too_big;
	char data[BODY_MAX];
};

/* *req_cls of requests answered at their first call. */
static char answered;

void ls_control_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			  enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	if (*req_cls && *req_cls != &answered)
		ls_mem_free(*req_cls, sizeof(struct body));
	*req_cls = NULL;
}

/* Reads POST data into the request's body. true when it is all there. */
static bool read_body(struct body *b, const char *upload, size_t *upload_size)
{
	if (*upload_size == 0)
		return true;
	size_t n = *upload_size;
	if (b->len + n > sizeof(b->data)) {
		b->too_big = true;
		n = sizeof(b->data) - b->len;
	}
	memcpy(b->data + b->len, upload, n);
	b->len += n;
	*upload_size = 0;
	return false;
}

enum MHD_Result ls_control_answer(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	(void)cls;
	(void)version;
	if (*req_cls && *req_cls != &answered) {
		struct body *b = *req_cls; /* a POST to /debug/pprof/symbol */
		if (!read_body(b, upload, upload_size))
			return MHD_YES;
		if (b->too_big)
			return ls_control_reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE,
						     "error: request body over 64 KiB\n");
		return ls_debug_symbol(c, b->data, b->len);
	}
	*req_cls = &answered;
	if (ls_cfg.token &&
	    !ls_query_auth_ok(ls_mhd.lookup_value(c, MHD_HEADER_KIND,
						  MHD_HTTP_HEADER_AUTHORIZATION),
			      ls_cfg.token))
		return ls_control_reply_text(c, MHD_HTTP_UNAUTHORIZED,
					     "error: missing or wrong 'Authorization: Bearer <token>'\n");
	enum route r = route_of(url ? url : "");
	if (r == R_NONE)
		return ls_control_reply_text(c, MHD_HTTP_NOT_FOUND,
					     "error: unknown path; endpoints: /leak-on?sampling=N "
					     "/leak-off /leak-report /leak-status /debug/pprof/heap "
					     "/debug/pprof/symbol\n");
	if (r == R_SYMBOL && !strcmp(method, MHD_HTTP_METHOD_POST)) {
		/* Answered once the body is in; any other request is answered
		 * on its first call and its body never read. */
		struct body *b = ls_mem_alloc(sizeof(*b), false);
		if (!b)
			return ls_control_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
						     "error: out of memory\n");
		b->len = 0;
		b->too_big = false;
		*req_cls = b;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET))
		return ls_control_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
					     "error: only GET is allowed here\n");
	switch (r) {
	case R_ON: return leak_on(c);
	case R_OFF: return leak_report(c, true);
	case R_REPORT: return leak_report(c, false);
	case R_STATUS: return leak_status(c);
	case R_HEAP: return ls_debug_heap(c);
	case R_SYMBOL: return ls_debug_symbol(c, NULL, 0);
	default: break;
	}
	return MHD_NO;
}
