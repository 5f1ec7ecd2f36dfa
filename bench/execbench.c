/* SPDX-License-Identifier: MIT */
/* bench/execbench.c: what a short-lived exec'd child costs. Spawns
 * PROGRAM (default /bin/true) COUNT times, one after another, and prints
 * the median and quartiles of spawn-to-exit in microseconds. Run it under
 * the preload to time children of a process running leakscope (they
 * inherit LD_PRELOAD and its settings), and without it as the baseline.
 *
 *   execbench COUNT [PROGRAM]   ->  "median_us Q1_us Q3_us" */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 300;
	char *prog = argc > 2 ? argv[2] : "/bin/true";
	char *args[] = { prog, NULL };
	double *t = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));

	if (n <= 0 || !t)
		return 2;
	for (int i = 0; i < n; i++) {
		pid_t pid;
		int st;
		double t0 = now_us();
		if (posix_spawn(&pid, prog, NULL, NULL, args, environ))
			return 1;
		waitpid(pid, &st, 0);
		t[i] = now_us() - t0;
	}
	qsort(t, (size_t)n, sizeof(double), cmp);
	printf("%.1f %.1f %.1f\n", t[n / 2], t[n / 4], t[3 * n / 4]);
	free(t);
	return 0;
}
