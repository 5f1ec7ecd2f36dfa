/* SPDX-License-Identifier: MIT */
/* tests/victims/fdhost.c: a daemon that treats every descriptor as its
 * own, as real daemons do: at start it closes (or dup2s /dev/null over)
 * every inherited descriptor, then opens a log file, /dev/null, its
 * listening socket and an epoll set, which get the lowest numbers. It
 * serves HTTP/1.0 with epoll, leaking one block per request, and logs one
 * line per request. A preload that kept a descriptor in the host's table
 * (or waited on the host's epoll set) breaks it at the first request.
 *
 *   fdhost PORTFILE LOGFILE [-mode closefrom|loop|dup2] [-daemon PIDFILE]
 *
 * PORTFILE receives the HTTP port (ephemeral); with -daemon the process
 * forks twice, and the grandchild writes its pid to PIDFILE. SIGTERM
 * ends it with exit(0). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
/* Where leaked pointers go, so the compiler cannot drop the mallocs. */
void *volatile fdhost_sink;
static void on_term(int sig) { (void)sig; stop = 1; }

static void write_file(const char *path, long v)
{
	char tmp[4096], buf[32];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		_exit(3);
	int n = snprintf(buf, sizeof(buf), "%ld\n", v);
	if (write(fd, buf, (size_t)n) != n)
		_exit(3);
	close(fd);
	rename(tmp, path);
}

static void close_everything(const char *mode)
{
	if (!strcmp(mode, "closefrom")) {
		closefrom(3);
	} else if (!strcmp(mode, "loop")) {
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	} else { /* dup2: /dev/null over every number, then close them */
		int null = open("/dev/null", O_RDWR);
		for (int fd = 0; fd < 1024; fd++)
			if (fd != null)
				dup2(null, fd);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	}
}

int main(int argc, char **argv)
{
	const char *mode = "closefrom", *pidfile = NULL;

	if (argc < 3) {
		fprintf(stderr, "usage: fdhost PORTFILE LOGFILE [-mode M] [-daemon PIDFILE]\n");
		return 2;
	}
	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-mode"))
			mode = argv[i + 1];
		else if (!strcmp(argv[i], "-daemon"))
			pidfile = argv[i + 1];
	}
	char portfile[4096], logfile[4096];
	snprintf(portfile, sizeof(portfile), "%s", argv[1]);
	snprintf(logfile, sizeof(logfile), "%s", argv[2]);
	if (pidfile) {
		if (fork() > 0)
			_exit(0);
		setsid();
		if (fork() > 0)
			_exit(0);
		write_file(pidfile, (long)getpid());
	}
	close_everything(mode);
	int logfd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
	int null = open("/dev/null", O_RDWR);
	if (pidfile) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(logfd, 2);
	}
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 128))
		return 4;
	socklen_t len = sizeof(sa);
	getsockname(ls, (struct sockaddr *)&sa, &len);
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = ls };
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	dprintf(logfd, "fdhost %d: log %d null %d listen %d epoll %d mode %s\n", (int)getpid(),
		logfd, null, ls, ep, mode);
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	write_file(portfile, ntohs(sa.sin_port));

	unsigned long served = 0;
	while (!stop) {
		struct epoll_event got[16];
		int n = epoll_wait(ep, got, 16, 200);
		for (int i = 0; i < n; i++) {
			int fd = got[i].data.fd;
			if (fd == ls) {
				int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
				if (c < 0)
					continue;
				struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
				continue;
			}
			char req[4096];
			ssize_t r = read(fd, req, sizeof(req));
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r > 0) {
				/* One leaked block per request, named by its size. */
				char *leak = malloc(200);
				if (leak)
					memcpy(leak, req, r < 200 ? (size_t)r : 200);
				fdhost_sink = leak;
				char body[64], resp[256];
				int bl = snprintf(body, sizeof(body), "served %08lu pid %08d\n", ++served,
						  (int)getpid());
				int rl = snprintf(resp, sizeof(resp),
						  "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n"
						  "Content-Type: text/plain\r\n\r\n%s", bl, body);
				if (write(fd, resp, (size_t)rl) != rl)
					dprintf(logfd, "short write\n");
				dprintf(logfd, "request %lu\n", served);
			}
			epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
			close(fd);
		}
		if (n < 0 && errno != EINTR) {
			dprintf(logfd, "epoll_wait: %s\n", strerror(errno));
			return 5;
		}
	}
	dprintf(logfd, "fdhost %d: served %lu, exiting\n", (int)getpid(), served);
	return 0;
}
