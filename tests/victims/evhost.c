/* SPDX-License-Identifier: MIT */
/* tests/victims/evhost.c: a libevent HTTP server that daemonizes with
 * daemon(3) right after start, as small servers built on libevent do.
 * Each request leaks one 100-byte block.
 *
 *   evhost PORTFILE PIDFILE
 *
 * The daemon writes its pid and its HTTP port (ephemeral); SIGTERM ends
 * it with exit(0). */
#define _GNU_SOURCE
#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned long served;
/* Where leaked pointers go, so the compiler cannot drop the mallocs. */
void *volatile evhost_sink;

static void write_file(const char *path, long v)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		_exit(3);
	fprintf(f, "%ld\n", v);
	fclose(f);
	rename(tmp, path);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	(void)arg;
	char *leak = malloc(100);
	if (leak)
		memset(leak, 'x', 100);
	evhost_sink = leak;
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "served %08lu pid %08d\n", ++served, (int)getpid());
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: evhost PORTFILE PIDFILE\n");
		return 2;
	}
	/* Allocate a little before the fork, as servers do while parsing
	 * their configuration. */
	char *conf = strdup(argv[1]);
	if (daemon(1, 0))
		return 3;
	write_file(argv[2], (long)getpid());
	struct event_base *base = event_base_new();
	struct evhttp *http = evhttp_new(base);
	evhttp_set_gencb(http, on_request, NULL);
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (!bs)
		return 4;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &len);
	struct event *term = evsignal_new(base, SIGTERM, on_term, base);
	event_add(term, NULL);
	write_file(conf, ntohs(sa.sin_port));
	event_base_dispatch(base);
	event_free(term);
	evhttp_free(http);
	event_base_free(base);
	free(conf);
	return 0;
}
