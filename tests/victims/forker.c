/* SPDX-License-Identifier: MIT */
/* tests/victims/forker.c: process trees for tests/integration/test_tree_preload.py.
 *
 *   forker now K          fork K workers first thing in main (while
 *                         leakscope's start-up may still be under way);
 *                         print their pids, then wait; workers wait too
 *   forker leak M K C     leak M blocks of 64 bytes, then fork K
 *                         children one after another, each leaking C
 *                         blocks of 96 bytes and ending with exit(0);
 *                         print "done", then wait for a line on stdin
 *   forker daemon         daemon(3), write "PID\n" to stdout before it,
 *                         then wait for SIGTERM
 *
 * Everything waits in pause() or read(), so the test ends it with
 * SIGTERM (or a line on stdin for `leak`). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

/* Separate functions, so each leak has a stack of its own. */
__attribute__((noinline)) static void leak_master(int n)
{
	for (int i = 0; i < n; i++) {
		char *p = malloc(64);
		memset(p, 1, 64);
		sink = p;
	}
}

__attribute__((noinline)) static void leak_child(int n)
{
	for (int i = 0; i < n; i++) {
		char *p = malloc(96);
		memset(p, 2, 96);
		sink = p;
	}
}

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	signal(SIGTERM, on_term);
	if (!strcmp(argv[1], "now") && argc == 3) {
		int k = atoi(argv[2]);
		pid_t kids[64];
		for (int i = 0; i < k && i < 64; i++) {
			kids[i] = fork();
			if (kids[i] == 0) {
				for (;;)
					pause();
			}
		}
		for (int i = 0; i < k && i < 64; i++)
			printf("%d\n", (int)kids[i]);
		fflush(stdout);
		for (;;)
			pause();
	}
	if (!strcmp(argv[1], "leak") && argc == 5) {
		int m = atoi(argv[2]), k = atoi(argv[3]), c = atoi(argv[4]);
		leak_master(m);
		for (int i = 0; i < k; i++) {
			pid_t p = fork();
			if (p == 0) {
				leak_child(c);
				exit(0);
			}
			waitpid(p, NULL, 0);
		}
		printf("done\n");
		fflush(stdout);
		char line[16];
		if (!fgets(line, sizeof(line), stdin))
			return 0;
		return 0;
	}
	if (!strcmp(argv[1], "daemon")) {
		fflush(stdout);
		if (daemon(1, 1))
			return 1;
		printf("%d\n", (int)getpid());
		fflush(stdout);
		for (;;)
			pause();
	}
	return 2;
}
