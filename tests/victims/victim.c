/* SPDX-License-Identifier: MIT */
/* tests/victims/victim.c: a C program that leaks on command, with known
 * counts, through every hooked API and from threads. The test driver
 * writes one command a line on stdin; the victim answers "done" on stdout.
 *
 *   leak API COUNT SIZE   leak COUNT blocks of SIZE through API:
 *                         malloc calloc realloc reallocarray posix_memalign
 *                         aligned_alloc memalign valloc pvalloc strdup
 *   threads T COUNT SIZE  T threads each leak COUNT malloc blocks
 *   keep COUNT SIZE       allocate and keep blocks (freed by 'release')
 *   release               free what 'keep' kept
 *   churn COUNT SIZE      allocate and free at once, mixing every API
 *   xfree COUNT SIZE      allocate on one thread, free on another
 *   usable COUNT SIZE     check malloc_usable_size >= SIZE and write it all
 *   bg on [N]|off         start/stop N (default 2, at most 8) threads
 *                         that allocate and free without pause
 *   fork COUNT            fork COUNT children one after another; each
 *                         frees inherited blocks, allocates, and every
 *                         tenth execs /bin/true; prints the failures
 *   spawn N               run N short threads, 16 at a time, each
 *                         allocating 300 blocks and freeing them all
 *   sigleak N             leak N blocks from inside a SIGUSR2 handler
 *                         (sig_leak), raised from sig_raiser
 *   signals COUNT         allocate and free COUNT times while another
 *                         thread keeps signalling this one; the handler
 *                         frees blocks (not async-signal-safe, but real
 *                         programs do it)
 *   quit                  (and mixed S:K[,S:K...], described at mixed())
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

/* Leaked blocks stay reachable from here, so they are leaks only in the
 * "still live" sense leakscope reports. */
static void **sink;
static size_t sink_n, sink_cap;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;

static void keep_ptr(void *p)
{
	pthread_mutex_lock(&sink_lock);
	if (sink_n == sink_cap) {
		sink_cap = sink_cap ? sink_cap * 2 : 1024;
		sink = realloc(sink, sink_cap * sizeof(*sink));
	}
	sink[sink_n++] = p;
	pthread_mutex_unlock(&sink_lock);
}

static void fill(void *p, size_t size)
{
	if (p)
		memset(p, 0xa5, size);
}

NOINLINE static void leak_malloc(size_t s) { void *p = malloc(s); fill(p, s); keep_ptr(p); }
NOINLINE static void leak_calloc(size_t s)
{
	unsigned char *p = calloc(1, s);
	for (size_t i = 0; i < s; i++)
		if (p[i]) {
			fprintf(stderr, "calloc returned dirty memory\n");
			exit(3);
		}
	keep_ptr(p);
}
NOINLINE static void leak_realloc(size_t s)
{
	void *p = malloc(8);
	fill(p, 8);
	p = realloc(p, s);
	fill(p, s);
	keep_ptr(p);
}
NOINLINE static void leak_reallocarray(size_t s)
{
	void *p = reallocarray(NULL, s, 1);
	fill(p, s);
	keep_ptr(p);
}
NOINLINE static void leak_posix_memalign(size_t s)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, s) || ((unsigned long)p & 63)) {
		fprintf(stderr, "posix_memalign misaligned\n");
		exit(3);
	}
	fill(p, s);
	keep_ptr(p);
}
NOINLINE static void leak_aligned_alloc(size_t s)
{
	void *p = aligned_alloc(256, (s + 255) & ~(size_t)255);
	if ((unsigned long)p & 255) {
		fprintf(stderr, "aligned_alloc misaligned\n");
		exit(3);
	}
	fill(p, s);
	keep_ptr(p);
}
NOINLINE static void leak_memalign(size_t s)
{
	void *p = memalign(32, s);
	if ((unsigned long)p & 31) {
		fprintf(stderr, "memalign misaligned\n");
		exit(3);
	}
	fill(p, s);
	keep_ptr(p);
}
NOINLINE static void leak_valloc(size_t s)
{
	void *p = valloc(s);
	if ((unsigned long)p & 4095) {
		fprintf(stderr, "valloc misaligned\n");
		exit(3);
	}
	fill(p, s);
	keep_ptr(p);
}
NOINLINE static void leak_pvalloc(size_t s)
{
	void *p = pvalloc(s);
	if ((unsigned long)p & 4095) {
		fprintf(stderr, "pvalloc misaligned\n");
		exit(3);
	}
	fill(p, s);
	keep_ptr(p);
}
NOINLINE static void leak_strdup(size_t s)
{
	char buf[4096];
	size_t n = s < sizeof(buf) ? s : sizeof(buf) - 1;
	memset(buf, 'x', n);
	buf[n] = '\0';
	keep_ptr(strdup(buf));
}

struct api {
	const char *name;
	void (*fn)(size_t);
} apis[] = {
	{ "malloc", leak_malloc }, { "calloc", leak_calloc },
	{ "realloc", leak_realloc }, { "reallocarray", leak_reallocarray },
	{ "posix_memalign", leak_posix_memalign }, { "aligned_alloc", leak_aligned_alloc },
	{ "memalign", leak_memalign }, { "valloc", leak_valloc },
	{ "pvalloc", leak_pvalloc }, { "strdup", leak_strdup },
};

struct job {
	long count;
	size_t size;
};

NOINLINE static void leak_in_thread(size_t s) { void *p = malloc(s); fill(p, s); keep_ptr(p); }

static void *thread_main(void *arg)
{
	struct job *j = arg;
	for (long i = 0; i < j->count; i++)
		leak_in_thread(j->size);
	return NULL;
}

static void **kept;
static long kept_n;

NOINLINE static void keep_before(long count, size_t size)
{
	kept = realloc(kept, (size_t)(kept_n + count) * sizeof(*kept));
	for (long i = 0; i < count; i++) {
		kept[kept_n] = malloc(size);
		fill(kept[kept_n++], size);
	}
}

NOINLINE static void churn(long count, size_t size)
{
	for (long i = 0; i < count; i++) {
		void *a = malloc(size), *b = calloc(2, size), *c = NULL, *d;
		fill(a, size);
		a = realloc(a, size * 2 + 1);
		fill(a, size * 2 + 1);
		if (posix_memalign(&c, 128, size))
			c = NULL;
		d = memalign(64, size);
		free(a);
		free(b);
		free(c);
		free(d);
		free(aligned_alloc(32, 64));
		free(valloc(size));
		free(strdup("churn"));
		free(reallocarray(NULL, 3, size));
	}
}

struct xjob {
	void **ptrs;
	long n;
};

static void *xfree_main(void *arg)
{
	struct xjob *x = arg;
	for (long i = 0; i < x->n; i++)
		free(x->ptrs[i]);
	return NULL;
}

NOINLINE static void cross_thread_free(long count, size_t size)
{
	struct xjob x = { malloc((size_t)count * sizeof(void *)), count };
	pthread_t t;
	for (long i = 0; i < count; i++) {
		x.ptrs[i] = malloc(size);
		fill(x.ptrs[i], size);
	}
	pthread_create(&t, NULL, xfree_main, &x);
	pthread_join(t, NULL);
	free(x.ptrs);
}

static int usable_check(long count, size_t size)
{
	for (long i = 0; i < count; i++) {
		void *p = malloc(size);
		size_t u = malloc_usable_size(p);
		if (u < size)
			return 1;
		memset(p, 0x5a, u); /* the whole usable size is ours to write */
		p = realloc(p, size + 100);
		if (malloc_usable_size(p) < size + 100)
			return 1;
		free(p);
	}
	return 0;
}

static atomic_int bg_stop;
static pthread_t bg_threads[8];
static long bg_n;

static void *bg_main(void *arg)
{
	size_t salt = (size_t)arg;
	void *ring[64] = { 0 };
	for (unsigned long i = 0; !atomic_load(&bg_stop); i++) {
		unsigned k = (unsigned)(i % 64);
		free(ring[k]);
		ring[k] = (i & 7) ? malloc(16 + (i * salt) % 500) : calloc(1, 64);
		if ((i & 15) == 0)
			ring[k] = realloc(ring[k], 700);
	}
	for (unsigned k = 0; k < 64; k++)
		free(ring[k]);
	return NULL;
}

/* Runs in the child: the inherited heap must work, sampled blocks too. */
static int child_work(long i)
{
	pthread_mutex_lock(&sink_lock); /* must not be held by a vanished thread */
	size_t n = sink_n;
	pthread_mutex_unlock(&sink_lock);
	for (size_t k = 0; k < n; k += 2)
		free(sink[k]);
	for (int k = 0; k < 200; k++) {
		void *p = malloc((size_t)k * 3 + 1);
		if (!p)
			return 1;
		memset(p, 1, (size_t)k * 3 + 1);
		free(p);
	}
	if (i % 10 == 0) {
		execl("/bin/true", "true", (char *)NULL);
		return 2;
	}
	return 0;
}

static long fork_loop(long count)
{
	long bad = 0;
	for (long i = 0; i < count; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			bad++;
			continue;
		}
		if (pid == 0)
			_exit(child_work(i));
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	return bad;
}

#define POOL 1024
static void *_Atomic sig_pool[POOL];
static atomic_long sig_seen;
static atomic_int sig_stop;

static void on_signal(int sig)
{
	(void)sig;
	long i = atomic_fetch_add(&sig_seen, 1) % POOL;
	free(atomic_exchange(&sig_pool[i], NULL));
}

struct sig_target {
	pthread_t thread;
};

static void *signaller(void *arg)
{
	struct sig_target *t = arg;
	struct timespec pause = { 0, 20000 };
	while (!atomic_load(&sig_stop)) {
		pthread_kill(t->thread, SIGUSR1);
		nanosleep(&pause, NULL);
	}
	return NULL;
}

NOINLINE static long signal_storm(long count)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct sig_target target = { pthread_self() };
	pthread_t t;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	atomic_store(&sig_stop, 0);
	pthread_create(&t, NULL, signaller, &target);
	for (long i = 0; i < count; i++) {
		void *p = malloc(48 + (size_t)(i % 16));
		void *old = atomic_exchange(&sig_pool[i % POOL], p);
		free(old);
		free(malloc(40));
	}
	atomic_store(&sig_stop, 1);
	pthread_join(t, NULL);
	signal(SIGUSR1, SIG_IGN);
	for (long i = 0; i < POOL; i++)
		free(atomic_exchange(&sig_pool[i], NULL));
	return atomic_load(&sig_seen);
}

static void *spawn_main(void *arg)
{
	void *v[300];
	(void)arg;
	for (int i = 0; i < 300; i++)
		v[i] = i % 5 ? malloc((size_t)(16 + i % 200)) : calloc(1, 300);
	for (int i = 0; i < 300; i++)
		free(v[i]);
	return NULL;
}

static void spawn(long n)
{
	for (long done = 0; done < n; done += 16) {
		pthread_t t[16];
		for (int k = 0; k < 16; k++)
			pthread_create(&t[k], NULL, spawn_main, NULL);
		for (int k = 0; k < 16; k++)
			pthread_join(t[k], NULL);
	}
}

#define MIXED_MAX 400000
static void *mixed_sink[MIXED_MAX];
static long mixed_n;

NOINLINE static void leak_mixed(size_t s)
{
	void *p = malloc(s);
	fill(p, s < 64 ? s : 64);
	mixed_sink[mixed_n++] = p;
}

/* mixed S:K[,S:K...]: leak K blocks of S bytes for each pair, interleaved
 * (one of each size in turn while any remain), all from one stack
 * (leak_mixed); the pointers are kept in a static array (at most 400000
 * blocks in all), so the command itself allocates nothing else. */
static int mixed(const char *spec)
{
	size_t size[16];
	long left[16], total = 0, most = 0;
	int n = 0;
	const char *q = spec;

	while (*q) {
		char *end;
		if (n == 16)
			return 1;
		size[n] = strtoull(q, &end, 10);
		if (*end != ':' || size[n] == 0)
			return 1;
		left[n] = strtol(end + 1, &end, 10);
		if (left[n] < 0 || (*end && *end != ','))
			return 1;
		total += left[n];
		if (left[n] > most)
			most = left[n];
		n++;
		q = *end ? end + 1 : end;
	}
	if (n == 0 || mixed_n + total > MIXED_MAX)
		return 1;
	for (long t = 0; t < most; t++)
		for (int i = 0; i < n; i++)
			if (t < left[i])
				leak_mixed(size[i]);
	return 0;
}

static void sig_leak(int sig)
{
	(void)sig;
	keep_ptr(malloc(72));
}

NOINLINE static void sig_raiser(long n)
{
	signal(SIGUSR2, sig_leak);
	for (long i = 0; i < n; i++)
		raise(SIGUSR2);
	signal(SIGUSR2, SIG_DFL);
}

int main(void)
{
	char line[256], cmd[32], api[32], spec[201];
	long count, threads;
	size_t size;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "%31s", cmd) != 1)
			continue;
		if (!strcmp(cmd, "quit"))
			break;
		if (!strcmp(cmd, "leak") && sscanf(line, "%*s %31s %ld %zu", api, &count, &size) == 3) {
			size_t i;
			for (i = 0; i < sizeof(apis) / sizeof(apis[0]); i++)
				if (!strcmp(apis[i].name, api))
					break;
			if (i == sizeof(apis) / sizeof(apis[0])) {
				printf("error: unknown api %s\n", api);
				continue;
			}
			for (long k = 0; k < count; k++)
				apis[i].fn(size);
		} else if (!strcmp(cmd, "threads") &&
			   sscanf(line, "%*s %ld %ld %zu", &threads, &count, &size) == 3) {
			pthread_t t[64];
			struct job j = { count, size };
			for (long k = 0; k < threads && k < 64; k++)
				pthread_create(&t[k], NULL, thread_main, &j);
			for (long k = 0; k < threads && k < 64; k++)
				pthread_join(t[k], NULL);
		} else if (!strcmp(cmd, "keep") && sscanf(line, "%*s %ld %zu", &count, &size) == 2) {
			keep_before(count, size);
		} else if (!strcmp(cmd, "release")) {
			for (long k = 0; k < kept_n; k++)
				free(kept[k]);
			kept_n = 0;
		} else if (!strcmp(cmd, "churn") && sscanf(line, "%*s %ld %zu", &count, &size) == 2) {
			churn(count, size);
		} else if (!strcmp(cmd, "xfree") && sscanf(line, "%*s %ld %zu", &count, &size) == 2) {
			cross_thread_free(count, size);
		} else if (!strcmp(cmd, "usable") && sscanf(line, "%*s %ld %zu", &count, &size) == 2) {
			if (usable_check(count, size)) {
				printf("error: malloc_usable_size too small\n");
				continue;
			}
		} else if (!strcmp(cmd, "bg") && strstr(line, " on")) {
			if (sscanf(line, "%*s %*s %ld", &bg_n) != 1 || bg_n < 1 || bg_n > 8)
				bg_n = 2;
			atomic_store(&bg_stop, 0);
			for (long k = 0; k < bg_n; k++)
				pthread_create(&bg_threads[k], NULL, bg_main, (void *)(k + 3));
		} else if (!strcmp(cmd, "bg")) {
			atomic_store(&bg_stop, 1);
			for (long k = 0; k < bg_n; k++)
				pthread_join(bg_threads[k], NULL);
			bg_n = 0;
		} else if (!strcmp(cmd, "spawn") && sscanf(line, "%*s %ld", &count) == 1) {
			spawn(count);
		} else if (!strcmp(cmd, "sigleak") && sscanf(line, "%*s %ld", &count) == 1) {
			sig_raiser(count);
		} else if (!strcmp(cmd, "signals") && sscanf(line, "%*s %ld", &count) == 1) {
			printf("signals handled: %ld\n", signal_storm(count));
		} else if (!strcmp(cmd, "mixed") && sscanf(line, "%*s %200s", spec) == 1) {
			if (mixed(spec)) {
				printf("error: bad mixed spec %s\n", spec);
				continue;
			}
		} else if (!strcmp(cmd, "fork") && sscanf(line, "%*s %ld", &count) == 1) {
			printf("fork failures: %ld\n", fork_loop(count));
		} else {
			printf("error: bad command: %s", line);
			continue;
		}
		printf("done\n");
	}
	return 0;
}
