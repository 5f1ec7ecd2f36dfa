/* SPDX-License-Identifier: MIT */
/* tests/victims/prefork.c: a pre-forking server in miniature. The master
 * forks its workers at once at start (WORKERS, default 3), respawns a
 * worker that exits, and forks more on demand; each worker leaks a known
 * number of blocks on command and may then end with exit(), as a worker
 * recycled after N requests does. The test driver writes one command a
 * line on the master's stdin; the master relays what is for the workers
 * over a pipe per worker and answers "done" on stdout:
 *
 *   workers                 print the live workers' pids, one a line
 *   leak all|PID COUNT SIZE each worker (or worker PID) leaks COUNT blocks
 *                           of SIZE bytes (worker_leak)
 *   mleak COUNT SIZE        the master leaks COUNT blocks (master_leak)
 *   exit PID                worker PID calls exit(0); the master reaps it
 *                           and forks a new worker: "respawned NEWPID"
 *   spawn N                 fork N more workers: their pids
 *   reap                    reap workers that died some other way (a
 *                           signal) and respawn them: "respawned NEWPID"
 *   quit                    every worker exits, then the master
 *
 * Leaked blocks stay reachable (a sink per process): leaks in the
 * "still live" sense leakscope reports. A worker allocates nothing but
 * its leaks, so its live bytes are exactly what it leaked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define MAX_WORKERS 64

struct worker {
	pid_t pid;
	int cmd;  /* the master writes commands here */
	int ack;  /* the worker answers one line here */
};

static struct worker workers[MAX_WORKERS];
static int nworkers;

/* A static sink: growing one with realloc inside a window would add
 * blocks of its own to the worker's live bytes. */
#define SINK_CAP (1 << 17)
static void *sink[SINK_CAP];
static size_t sink_n;

static void keep(void *p)
{
	if (sink_n == SINK_CAP)
		abort();
	sink[sink_n++] = p;
}

static NOINLINE void worker_leak(long count, size_t size)
{
	for (long i = 0; i < count; i++) {
		char *p = malloc(size);
		if (!p)
			abort();
		memset(p, 0x5a, size);
		keep(p);
	}
}

static NOINLINE void master_leak(long count, size_t size)
{
	for (long i = 0; i < count; i++) {
		char *p = malloc(size);
		if (!p)
			abort();
		memset(p, 0xa5, size);
		keep(p);
	}
}

/* One line from fd into buf (without the newline); false at EOF. */
static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return n > 0 ? (buf[n] = '\0', 1) : 0;
		if (c == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = c;
	}
	buf[n] = '\0';
	return 1;
}

static void write_str(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t w = write(fd, s, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

static NOINLINE void worker_main(int cmd, int ack)
{
	char line[128];
	long count;
	size_t size;

	while (read_line(cmd, line, sizeof(line))) {
		if (!strcmp(line, "exit"))
			exit(0);
		if (sscanf(line, "leak %ld %zu", &count, &size) == 2)
			worker_leak(count, size);
		write_str(ack, "ok\n");
	}
	exit(0); /* the master is gone */
}

/* Forks one worker; its pid, or -1. */
static pid_t spawn_worker(void)
{
	int c[2], a[2];

	if (nworkers == MAX_WORKERS || pipe2(c, O_CLOEXEC) || pipe2(a, O_CLOEXEC))
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Nothing of the master's: not the driver's pipes (a worker that
		 * outlives the master must not hold its stdout), not the other
		 * workers' pipes. */
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		close(null);
		for (int i = 0; i < nworkers; i++) {
			close(workers[i].cmd);
			close(workers[i].ack);
		}
		close(c[1]);
		close(a[0]);
		worker_main(c[0], a[1]);
	}
	close(c[0]);
	close(a[1]);
	workers[nworkers++] = (struct worker){ pid, c[1], a[0] };
	return pid;
}

static int find(pid_t pid)
{
	for (int i = 0; i < nworkers; i++)
		if (workers[i].pid == pid)
			return i;
	return -1;
}

static void drop(int i)
{
	close(workers[i].cmd);
	close(workers[i].ack);
	workers[i] = workers[--nworkers];
}

/* Sends one command to worker i and waits for its answer; false when the
 * worker is gone. */
static int ask(int i, const char *line)
{
	char ans[16];

	write_str(workers[i].cmd, line);
	return read_line(workers[i].ack, ans, sizeof(ans)) && !strcmp(ans, "ok");
}

int main(int argc, char **argv)
{
	const char *env = getenv("WORKERS");
	int n = env ? atoi(env) : 3;
	char line[256], arg[32];
	long count;
	size_t size;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < n; i++)
		if (spawn_worker() < 0)
			return 1;
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line, "quit"))
			break;
		if (!strcmp(line, "workers")) {
			for (int i = 0; i < nworkers; i++)
				printf("%d\n", (int)workers[i].pid);
		} else if (sscanf(line, "leak %31s %ld %zu", arg, &count, &size) == 3) {
			char cmd[64];
			snprintf(cmd, sizeof(cmd), "leak %ld %zu\n", count, size);
			int all = !strcmp(arg, "all"), hit = 0;
			for (int i = 0; i < nworkers; i++) {
				if (!all && workers[i].pid != (pid_t)atoi(arg))
					continue;
				hit++;
				if (!ask(i, cmd))
					printf("error: worker %d did not answer\n", (int)workers[i].pid);
			}
			if (!hit)
				printf("error: no worker %s\n", arg);
		} else if (sscanf(line, "mleak %ld %zu", &count, &size) == 2) {
			master_leak(count, size);
		} else if (sscanf(line, "exit %31s", arg) == 1) {
			int i = find((pid_t)atoi(arg));
			if (i < 0) {
				printf("error: no worker %s\n", arg);
			} else {
				pid_t pid = workers[i].pid;
				write_str(workers[i].cmd, "exit\n");
				drop(i);
				int st;
				while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
					;
				if (!WIFEXITED(st) || WEXITSTATUS(st))
					printf("error: worker %d ended with status %d\n", (int)pid, st);
				printf("respawned %d\n", (int)spawn_worker());
			}
		} else if (sscanf(line, "spawn %ld", &count) == 1) {
			for (long k = 0; k < count; k++)
				printf("%d\n", (int)spawn_worker());
		} else if (!strcmp(line, "reap")) {
			pid_t pid;
			int st;
			while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
				int i = find(pid);
				if (i >= 0) {
					drop(i);
					printf("respawned %d\n", (int)spawn_worker());
				}
			}
		} else {
			printf("error: unknown command %s\n", line);
		}
		printf("done\n");
	}
	for (int i = 0; i < nworkers; i++)
		write_str(workers[i].cmd, "exit\n");
	while (nworkers) {
		pid_t pid = workers[0].pid;
		drop(0);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	return 0;
}
