/* SPDX-License-Identifier: MIT */
/* control/routes.c: the control endpoints. Every error is a 4xx with a
 * one-line plain-text reason; nothing here can stop the host. */
#include "internal.h"
#include "../preload/internal.h"

#include <errno.h>
#include <string.h>

#define TEXT "text/plain; charset=utf-8"
#define JSON "application/json"

/* Queues a copied body. MHD_NO only when the connection must be dropped. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     const char *type, const char *body, size_t len)
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

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status,
				  const char *line)
{
	return reply(c, status, TEXT, line, strlen(line));
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

/* Answers 400 and returns false when the query has a parameter that is
 * not in allowed (comma-separated). */
static bool only_params(struct MHD_Connection *c, const char *allowed,
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
	*rc = reply_text(c, MHD_HTTP_BAD_REQUEST, line);
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

/* Streams a report of the window (closing it first when close is set). */
static enum MHD_Result serve_report(struct MHD_Connection *c, bool close)
{
	struct ls_window_info info;
	enum MHD_Result rc;
	uint64_t min_age = 0;

	if (!only_params(c, "min_age,format", &rc))
		return rc;
	const char *v = ls_mhd.lookup_value(c, MHD_GET_ARGUMENT_KIND, "min_age");
	if (v && ls_query_seconds(v, &min_age))
		return reply_text(c, MHD_HTTP_BAD_REQUEST,
				  "error: min_age must be seconds, like 30 or 2.5\n");
	v = ls_mhd.lookup_value(c, MHD_GET_ARGUMENT_KIND, "format");
	if (v && strcmp(v, "text"))
		return reply_text(c, MHD_HTTP_BAD_REQUEST,
				  "error: format must be text\n");

	ls_report_ref();
	if (close) {
		if (ls_window_off(&info)) {
			ls_report_unref();
			return reply_text(c, MHD_HTTP_CONFLICT,
					  "error: leak detection is off; GET /leak-on?sampling=N first\n");
		}
	} else {
		ls_window_get(&info);
		if (!info.on) {
			ls_report_unref();
			return reply_text(c, MHD_HTTP_CONFLICT,
					  "error: leak detection is off; GET /leak-on?sampling=N first\n");
		}
	}
	struct ls_report *r = ls_report_build(&info, min_age);
	if (!r)
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
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

/* ---- endpoints ----------------------------------------------------------- */

static enum MHD_Result leak_on(struct MHD_Connection *c)
{
	enum MHD_Result rc;
	uint64_t n;
	char line[128];
	struct ls_buf b;

	if (!only_params(c, "sampling", &rc))
		return rc;
	const char *v = ls_mhd.lookup_value(c, MHD_GET_ARGUMENT_KIND, "sampling");
	if (!v)
		return reply_text(c, MHD_HTTP_BAD_REQUEST,
				  "error: missing sampling=N (1 to 1000000000)\n");
	if (ls_query_u64(v, 1, LS_SAMPLING_MAX, &n))
		return reply_text(c, MHD_HTTP_BAD_REQUEST,
				  "error: sampling must be an integer from 1 to 1000000000\n");
	int err = ls_window_on(n);
	if (err == -EALREADY)
		return reply_text(c, MHD_HTTP_CONFLICT,
				  "error: leak detection is already on; GET /leak-off first\n");
	if (err)
		return reply_text(c, MHD_HTTP_BAD_REQUEST, "error: cannot open a window\n");
	ls_buf_init(&b, line, sizeof(line) - 1);
	ls_buf_str(&b, "ok: leak detection on, sampling one allocation in ");
	ls_buf_u64(&b, n);
	ls_buf_ch(&b, '\n');
	line[b.len] = '\0';
	return reply_text(c, MHD_HTTP_OK, line);
}

static enum MHD_Result leak_status(struct MHD_Connection *c)
{
	enum MHD_Result rc;
	char mem[1024];
	struct ls_buf b;

	if (!only_params(c, "", &rc))
		return rc;
	ls_buf_init(&b, mem, sizeof(mem));
	ls_status_json(&b);
	return reply(c, MHD_HTTP_OK, JSON, mem, b.len);
}

enum route { R_NONE, R_ON, R_OFF, R_REPORT, R_STATUS };

static enum route route_of(const char *url)
{
	if (!strcmp(url, "/leak-on"))
		return R_ON;
	if (!strcmp(url, "/leak-off"))
		return R_OFF;
	if (!strcmp(url, "/leak-report"))
		return R_REPORT;
	if (!strcmp(url, "/leak-status"))
		return R_STATUS;
	return R_NONE;
}

enum MHD_Result ls_control_answer(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	(void)cls;
	(void)version;
	(void)upload;
	(void)upload_size;
	/* Answer on the first call: no endpoint takes a body, and a body is
	 * never read into memory. */
	*req_cls = (void *)1;
	if (ls_cfg.token &&
	    !ls_query_auth_ok(ls_mhd.lookup_value(c, MHD_HEADER_KIND,
						  MHD_HTTP_HEADER_AUTHORIZATION),
			      ls_cfg.token))
		return reply_text(c, MHD_HTTP_UNAUTHORIZED,
				  "error: missing or wrong 'Authorization: Bearer <token>'\n");
	enum route r = route_of(url ? url : "");
	if (r == R_NONE)
		return reply_text(c, MHD_HTTP_NOT_FOUND,
				  "error: unknown path; endpoints: /leak-on?sampling=N "
				  "/leak-off /leak-report /leak-status\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "error: only GET is allowed\n");
	switch (r) {
	case R_ON: return leak_on(c);
	case R_OFF: return serve_report(c, true);
	case R_REPORT: return serve_report(c, false);
	case R_STATUS: return leak_status(c);
	default: break;
	}
	return MHD_NO;
}
