/* SPDX-License-Identifier: MIT */
/* examples/leaky-server.c: a small HTTP server with two deliberate leaks,
 * for `make demo`. Four worker threads share one listening socket.
 *
 *   GET /user?id=N    caches a session per request and never evicts it
 *                     (leak 1: an unbounded cache)
 *   GET /search?q=S   parses the query; when S contains "bad" the error
 *                     path forgets to free the parsed terms (leak 2)
 *   GET /page?n=N     builds an N-line page and frees it (no leak)
 *
 * Usage: leaky-server PORT_FILE   (binds 127.0.0.1 on an ephemeral port
 * and writes the port number to PORT_FILE) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct session {
	long user_id;
	char *name;
	char token[48];
	struct session *next;
};

static struct session *sessions; /* grows forever: leak 1 */
static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;

static struct session *session_create(long id)
{
	struct session *s = calloc(1, sizeof(*s));
	char name[64];

	snprintf(name, sizeof(name), "user-%ld", id);
	s->user_id = id;
	s->name = strdup(name);
	snprintf(s->token, sizeof(s->token), "%08lx%08lx", (unsigned long)id * 2654435761u,
		 (unsigned long)random());
	return s;
}

static void session_cache_put(struct session *s)
{
	pthread_mutex_lock(&sessions_lock);
	s->next = sessions;
	sessions = s;
	pthread_mutex_unlock(&sessions_lock);
}

static int handle_user(const char *query, char *out, size_t cap)
{
	long id = query ? strtol(query + (strncmp(query, "id=", 3) ? 0 : 3), NULL, 10) : 0;
	struct session *s = session_create(id);
	session_cache_put(s);
	return snprintf(out, cap, "hello %s, token %s\n", s->name, s->token);
}

struct terms {
	char **words;
	size_t n;
};

static struct terms *parse_terms(const char *q)
{
	struct terms *t = malloc(sizeof(*t));
	char *copy = strdup(q), *save = NULL;

	t->n = 0;
	t->words = malloc(16 * sizeof(char *));
	for (char *w = strtok_r(copy, "+", &save); w && t->n < 16; w = strtok_r(NULL, "+", &save))
		t->words[t->n++] = strdup(w);
	free(copy);
	return t;
}

static void free_terms(struct terms *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->words[i]);
	free(t->words);
	free(t);
}

static int handle_search(const char *query, char *out, size_t cap)
{
	struct terms *t = parse_terms(query ? query : "");
	for (size_t i = 0; i < t->n; i++)
		if (strstr(t->words[i], "bad"))
			return snprintf(out, cap, "error: bad term\n"); /* leak 2: t is lost */
	int n = snprintf(out, cap, "%zu terms\n", t->n);
	free_terms(t);
	return n;
}

static int handle_page(const char *query, char *out, size_t cap)
{
	long n = query ? strtol(query + (strncmp(query, "n=", 2) ? 0 : 2), NULL, 10) : 10;
	if (n < 1 || n > 200)
		n = 10;
	char *page = malloc((size_t)n * 32 + 1), *p = page;
	for (long i = 0; i < n; i++)
		p += sprintf(p, "line %ld of the page\n", i);
	int len = snprintf(out, cap, "%s", page);
	free(page);
	return len;
}

static void serve(int fd)
{
	char req[2048], body[8192], head[256];
	ssize_t n = read(fd, req, sizeof(req) - 1);
	if (n <= 0)
		return;
	req[n] = '\0';
	char *path = strchr(req, ' '), *end, *query;
	if (!path)
		return;
	path++;
	end = strchr(path, ' ');
	if (end)
		*end = '\0';
	query = strchr(path, '?');
	if (query)
		*query++ = '\0';
	int len;
	if (!strcmp(path, "/user"))
		len = handle_user(query, body, sizeof(body));
	else if (!strcmp(path, "/search"))
		len = handle_search(query, body, sizeof(body));
	else if (!strcmp(path, "/page"))
		len = handle_page(query, body, sizeof(body));
	else
		len = snprintf(body, sizeof(body), "not found\n");
	if (len < 0 || (size_t)len >= sizeof(body))
		len = (int)strlen(body);
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n",
			  len);
	if (write(fd, head, (size_t)hl) < 0 || write(fd, body, (size_t)len) < 0)
		return;
}

static void *worker(void *arg)
{
	int lfd = *(int *)arg;
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		serve(fd);
		close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	pthread_t t[4];
	int one = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT_FILE\n", argv[0]);
		return 2;
	}
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 128) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len)) {
		perror("leaky-server: listen");
		return 1;
	}
	FILE *f = fopen(argv[1], "w");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	fprintf(f, "%d\n", ntohs(sa.sin_port));
	fclose(f);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, &lfd);
	pthread_join(t[0], NULL);
	return 0;
}
