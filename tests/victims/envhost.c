/* SPDX-License-Identifier: MIT */
/* tests/victims/envhost.c: a master and a worker that rewrite their
 * environment area to set a process title, as nginx and PostgreSQL do:
 * the environment is copied elsewhere, then the original argv and
 * environment strings are zeroed and a title written over them. Then
 * the master forks one worker.
 *
 * Prints "master PID" and "worker PID". SIGUSR1 makes a process leak 100
 * blocks of 48 bytes (from leak_title); SIGTERM ends it with exit(0), so
 * LEAKSCOPE_REPORT is written at exit. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static volatile sig_atomic_t want_leak, stop;

static void on_usr1(int s) { (void)s; want_leak++; }
static void on_term(int s) { (void)s; stop = 1; }

/* Where leaked pointers go, so the compiler cannot drop the mallocs. */
void *volatile envhost_sink;

__attribute__((noinline)) static void leak_title(void)
{
	for (int i = 0; i < 100; i++) {
		char *p = malloc(48);
		if (p)
			memset(p, 't', 48);
		envhost_sink = p;
	}
}

static void set_title(int argc, char **argv, const char *title)
{
	char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
	size_t n = 0;
	while (environ[n])
		n++;
	char **copy = malloc((n + 1) * sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		if (environ[i] == end)
			end += strlen(environ[i]) + 1;
		copy[i] = strdup(environ[i]);
	}
	copy[n] = NULL;
	environ = copy;
	memset(start, 0, (size_t)(end - start));
	snprintf(start, (size_t)(end - start), "%s", title);
}

static void serve(void)
{
	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	while (!stop) {
		if (want_leak) {
			want_leak--;
			leak_title();
		}
		usleep(5000);
	}
}

int main(int argc, char **argv)
{
	set_title(argc, argv, "envhost: master process");
	printf("master %d\n", (int)getpid());
	fflush(stdout);
	pid_t w = fork();
	if (w == 0) {
		strcpy(argv[0], "envhost: worker process");
		printf("worker %d\n", (int)getpid());
		fflush(stdout);
		serve();
		exit(0);
	}
	serve();
	kill(w, SIGTERM);
	waitpid(w, NULL, 0);
	exit(0);
}
