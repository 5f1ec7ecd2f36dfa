/* SPDX-License-Identifier: MIT */
/* control/internal.h: the HTTP control port's cross-file declarations. */
#ifndef LS_CONTROL_INTERNAL_H
#define LS_CONTROL_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <microhttpd.h>

#include "../preload/internal.h"

/* ---- query.c: request parsing, no I/O (fuzzed on its own) ---------- */

/* Parses a decimal integer in [lo, hi], digits only. 0 or -EINVAL. */
int ls_query_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* Parses non-negative seconds ("30", "2.5", up to 9 decimals, at most
 * ten years) into nanoseconds. 0 or -EINVAL. */
int ls_query_seconds(const char *s, uint64_t *ns);
/* True when an Authorization header value carries "Bearer <token>".
 * Takes the same time whatever the header holds. */
bool ls_query_auth_ok(const char *header, const char *token);
/* True when name is one of the comma-separated names in allowed. */
bool ls_query_name_in(const char *name, const char *allowed);

/* ---- server.c ------------------------------------------------------ */

/* libmicrohttpd, dlopen'd RTLD_LOCAL in the control thread so neither it
 * nor GnuTLS enters the host's global symbol scope. */
struct ls_mhd_api {
	struct MHD_Daemon *(*start_daemon)(unsigned int, uint16_t,
					   MHD_AcceptPolicyCallback, void *,
					   MHD_AccessHandlerCallback, void *, ...);
	enum MHD_Result (*run)(struct MHD_Daemon *);
	enum MHD_Result (*add_connection)(struct MHD_Daemon *, MHD_socket,
					  const struct sockaddr *, socklen_t);
	enum MHD_Result (*get_timeout)(struct MHD_Daemon *, MHD_UNSIGNED_LONG_LONG *);
	const union MHD_DaemonInfo *(*daemon_info)(struct MHD_Daemon *,
						   enum MHD_DaemonInfoType, ...);
	const char *(*lookup_value)(struct MHD_Connection *, enum MHD_ValueKind,
				    const char *);
	int (*get_values)(struct MHD_Connection *, enum MHD_ValueKind,
			  MHD_KeyValueIterator, void *);
	struct MHD_Response *(*from_buffer)(size_t, void *, enum MHD_ResponseMemoryMode);
	struct MHD_Response *(*from_callback)(uint64_t, size_t,
					      MHD_ContentReaderCallback, void *,
					      MHD_ContentReaderFreeCallback);
	enum MHD_Result (*add_header)(struct MHD_Response *, const char *, const char *);
	enum MHD_Result (*queue)(struct MHD_Connection *, unsigned int,
				 struct MHD_Response *);
	void (*destroy)(struct MHD_Response *);
	const union MHD_ConnectionInfo *(*conn_info)(struct MHD_Connection *,
						     enum MHD_ConnectionInfoType, ...);
};
extern struct ls_mhd_api ls_mhd;

/* At most this many control connections, each a descriptor taken from
 * the host's budget. */
#define LS_CONTROL_MAX_CONNECTIONS 128u

/* ---- conns.c: flood control --------------------------------------- */

/* libmicrohttpd's connection-notify callback: tracks open connections. */
void ls_conns_notify(void *cls, struct MHD_Connection *c, void **ctx,
		     enum MHD_ConnectionNotificationCode toe);
/* Cuts connections that are too old, and the oldest when the table is
 * nearly full. Call on the control thread between libmicrohttpd steps. */
void ls_conns_trim(void);
/* True when the table is nearly full: poll more often. */
bool ls_conns_crowded(void);

/* Who starts a control thread, and so which sockets it listens on. */
enum ls_control_role {
	LS_CONTROL_TOP,        /* first process: TCP port (or LEAKSCOPE_SOCKET)
				* and its runtime-directory socket; waits */
	LS_CONTROL_FORK_CHILD, /* runtime-directory socket (and with
				* LEAKSCOPE_FOLLOW_FORK a TCP port 0) */
	LS_CONTROL_EXEC_CHILD, /* runtime-directory socket; libmicrohttpd
				* loaded on first use */
};
/* Starts the control thread. 0 or -errno; for LS_CONTROL_TOP it waits
 * until the thread listens, and on failure it has logged one line and
 * written the port file. */
int ls_control_start(enum ls_control_role role);
/* Fork hooks: fork waits for a load of libmicrohttpd in progress; the
 * child forgets the parent's thread, sockets and port file. */
void ls_control_prefork(void);
void ls_control_postfork_parent(void);
void ls_control_postfork_child(void);
/* At exit: removes this process's runtime-directory socket and its
 * per-process port file. */
void ls_control_exit(void);

/* In a quiet exec'd child: rewrites this pid's port file, if it has one
 * from before the exec, to say it has no port. */
void ls_control_quiet(void);

/* ---- routes.c ------------------------------------------------------ */

/* libmicrohttpd's access handler: every control endpoint. */
enum MHD_Result ls_control_answer(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **req_cls);
/* libmicrohttpd's request-completed callback: frees a request's state. */
void ls_control_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			  enum MHD_RequestTerminationCode toe);
/* Queues a copied body. MHD_NO only when the connection must be dropped. */
enum MHD_Result ls_control_reply(struct MHD_Connection *c, unsigned status,
				 const char *type, const void *body, size_t len);
/* Queues a one-line text body. */
enum MHD_Result ls_control_reply_text(struct MHD_Connection *c, unsigned status,
				      const char *line);
/* Answers 400 and returns false when the query has a parameter not in
 * allowed (comma-separated). */
bool ls_control_only_params(struct MHD_Connection *c, const char *allowed,
			    enum MHD_Result *rc);
/* Streams a report of the window, closing it first when close is set. */
enum MHD_Result ls_control_report(struct MHD_Connection *c, bool close,
				  enum ls_report_format fmt, uint64_t min_age_ns);

/* ---- debug.c: Go's net/http/pprof endpoints ------------------------- */

/* GET /debug/pprof/heap: the open window as a gzipped profile.proto, or
 * with ?debug=1 as legacy heap text. */
enum MHD_Result ls_debug_heap(struct MHD_Connection *c);
/* /debug/pprof/symbol: GET says how many symbols it knows, POST (or a
 * query) of addresses joined by '+' gets "0xADDR name" lines. */
enum MHD_Result ls_debug_symbol(struct MHD_Connection *c, const char *body, size_t len);

#endif
