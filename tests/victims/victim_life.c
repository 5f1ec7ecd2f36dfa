/* SPDX-License-Identifier: MIT */
/* tests/victims/victim_life.c: process life around leakscope: blocks
 * from a constructor that may run before leakscope's, a dlopen'd library
 * that leaks and is dlclose'd, atexit handlers and thread-key destructors
 * that allocate and free after leakscope's destructor. Commands, one a
 * line, answered "done":
 *   early          check and free libearly's constructor blocks
 *   dlopen PATH    load the library
 *   dlleak N SIZE  leak N blocks through its dl_leak
 *   dlclose        unload it
 *   atexit N       at exit, free N sampled blocks and allocate more
 *   tdtor N        run N threads whose key destructors malloc and free
 *   quit */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *early_blocks[64];
int early_check(void);

static void *lib;
static void **exit_blocks;
static long exit_n;

static void at_exit_handler(void)
{
	for (long i = 0; i < exit_n; i++)
		free(exit_blocks[i]);
	free(exit_blocks);
	for (int i = 0; i < 1000; i++)
		free(malloc((size_t)(i % 300) + 1));
	void *keep = malloc(123);
	(void)keep; /* a leak at exit, after leakscope's report */
}

static pthread_key_t key;

static void key_dtor(void *p)
{
	free(p);
	for (int i = 0; i < 50; i++)
		free(malloc((size_t)i * 7 + 1));
}

static void *thread_main(void *arg)
{
	(void)arg;
	pthread_setspecific(key, malloc(64));
	for (int i = 0; i < 100; i++)
		free(malloc(32));
	return NULL;
}

int main(void)
{
	char line[512], arg[400];
	long n, size;

	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_key_create(&key, key_dtor);
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "quit", 4))
			break;
		if (!strncmp(line, "early", 5)) {
			if (early_check()) {
				printf("error: constructor blocks corrupted\n");
				continue;
			}
			for (int i = 0; i < 64; i++)
				free(early_blocks[i]);
		} else if (sscanf(line, "dlopen %399s", arg) == 1) {
			lib = dlopen(arg, RTLD_NOW);
			if (!lib) {
				printf("error: %s\n", dlerror());
				continue;
			}
		} else if (sscanf(line, "dlleak %ld %ld", &n, &size) == 2) {
			void (*leak)(int, int) = (void (*)(int, int))dlsym(lib, "dl_leak");
			leak((int)n, (int)size);
		} else if (!strncmp(line, "dlclose", 7)) {
			dlclose(lib);
			lib = NULL;
		} else if (sscanf(line, "atexit %ld", &n) == 1) {
			exit_blocks = malloc((size_t)n * sizeof(void *));
			for (long i = 0; i < n; i++)
				exit_blocks[i] = malloc(40);
			exit_n = n;
			atexit(at_exit_handler);
		} else if (sscanf(line, "tdtor %ld", &n) == 1) {
			for (long i = 0; i < n; i++) {
				pthread_t t;
				pthread_create(&t, NULL, thread_main, NULL);
				pthread_join(t, NULL);
			}
		} else {
			printf("error: bad command\n");
			continue;
		}
		printf("done\n");
	}
	return 0;
}
