/* SPDX-License-Identifier: MIT */
/* preload/unwind.c: stack capture. libunwind is dlopen'd RTLD_LOCAL so
 * its _Unwind_* and backtrace exports never replace libgcc_s's in the
 * host; a frame-pointer walker is the LEAKSCOPE_UNWIND=fp option. */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#define UNW_ARCH "x86_64"
#elif defined(__aarch64__)
#define UNW_ARCH "aarch64"
#else
#error "leakscope supports x86_64 and aarch64"
#endif

#define UNW_CACHE_PER_THREAD 2 /* libunwind.h's unw_caching_policy_t */

static int (*p_backtrace)(void **, int);
static bool use_fp;

/* Text ranges whose frames are removed: leakscope and libunwind. */
struct text_range {
	uintptr_t lo, hi;
};
static struct text_range own[2];

static bool in_own(uintptr_t pc)
{
	for (unsigned i = 0; i < 2; i++)
		if (pc - own[i].lo < own[i].hi - own[i].lo)
			return true;
	return false;
}

struct find_ctx {
	uintptr_t probe;
	struct text_range *out;
};

/* dl_iterate_phdr callback: the executable PT_LOAD range holding probe. */
static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find_ctx *c = arg;

	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (c->probe - lo < ph->p_memsz) {
			c->out->lo = lo;
			c->out->hi = lo + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

static void note_text_of(const void *probe, struct text_range *out)
{
	struct find_ctx c = { (uintptr_t)probe, out };
	dl_iterate_phdr(find_text, &c);
}

/* Loading is deferred to the first window, so a process that never opens
 * one (most exec'd children) never pays for libunwind. The loader holds
 * load_lock across dlopen; fork waits for it (fork.c), so no child is
 * born with the dynamic loader half-way through libunwind. */
static _Atomic int unw_state; /* 0 not loaded, 2 ready */
static ls_lock_t load_lock = LS_LOCK_INIT;
static bool fork_holds_load_lock;

static int load(void)
{
	note_text_of((const void *)ls_unwind_init, &own[0]);
	if (ls_cfg.unwinder == LS_UNWIND_FP) {
		use_fp = true;
		return 0;
	}
	void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		ls_log("cannot load libunwind.so.8 (%s); using frame pointers", dlerror());
		use_fp = true;
		return -ENOENT;
	}
	/* Before its first unwind, so its memory probe never opens a pipe. */
	if (ls_unwind_io_patch(h))
		ls_log("libunwind.so.8: cannot redirect its memory probe; it keeps a pipe "
		       "in the program's descriptor table");
	p_backtrace = (int (*)(void **, int))dlsym(h, "unw_backtrace");
	int (*set_policy)(void *, int) =
		(int (*)(void *, int))dlsym(h, "_UL" UNW_ARCH "_set_caching_policy");
	void **as = dlsym(h, "_UL" UNW_ARCH "_local_addr_space");
	if (!p_backtrace) {
		ls_log("libunwind.so.8 has no unw_backtrace; using frame pointers");
		use_fp = true;
		return -ENOENT;
	}
	if (set_policy && as)
		set_policy(*as, UNW_CACHE_PER_THREAD);
	note_text_of((const void *)p_backtrace, &own[1]);
	/* Warm-up: libunwind's first call loads tables and allocates. */
	void *warm[8];
	p_backtrace(warm, 8);
	return 0;
}

int ls_unwind_init(void)
{
	int rc = 0;

	if (atomic_load_explicit(&unw_state, memory_order_acquire) == 2)
		return 0;
	ls_guard_enter();
	ls_lock(&load_lock);
	if (atomic_load_explicit(&unw_state, memory_order_relaxed) != 2) {
		rc = load();
		atomic_store_explicit(&unw_state, 2, memory_order_release);
	}
	ls_unlock(&load_lock);
	ls_guard_leave();
	return rc;
}

void ls_unwind_prefork(void)
{
	/* Waits for a load under way, but not for ever: a host thread that
	 * forks while holding the dynamic loader's lock (from a constructor)
	 * would keep our loader from finishing. */
	for (unsigned i = 0; i < 2000; i++) {
		if (!atomic_exchange_explicit(&load_lock.v, 1, memory_order_acquire)) {
			fork_holds_load_lock = true;
			return;
		}
		struct timespec ms = { 0, 1000 * 1000 };
		nanosleep(&ms, NULL);
	}
	fork_holds_load_lock = false;
}

void ls_unwind_postfork_parent(void)
{
	if (fork_holds_load_lock)
		ls_unlock(&load_lock);
}

void ls_unwind_postfork_child(void)
{
	/* A child born during a load cannot trust what it inherited of it:
	 * it walks frame pointers instead. */
	if (!fork_holds_load_lock) {
		use_fp = true;
		atomic_store_explicit(&unw_state, 2, memory_order_relaxed);
	}
	ls_lock_reset(&load_lock);
}

const char *ls_unwind_name(void)
{
	return use_fp ? "fp" : "libunwind";
}

/* Thread stack bounds for the fp walker, looked up once per thread. */
static bool stack_bounds(struct ls_tls *t)
{
	if (t->stack_hi)
		return true;
	pthread_attr_t a;
	void *lo;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &a))
		return false;
	int rc = pthread_attr_getstack(&a, &lo, &size);
	pthread_attr_destroy(&a);
	if (rc)
		return false;
	t->stack_lo = (uintptr_t)lo;
	t->stack_hi = (uintptr_t)lo + size;
	return true;
}

/* Follows the saved-frame-pointer chain, checking each frame lies above
 * the last and inside this thread's stack, so a frame built without
 * frame pointers ends the walk instead of faulting. */
static unsigned __attribute__((noinline)) fp_walk(void **out, unsigned max)
{
	struct ls_tls *t = &ls_tls;
	uintptr_t *fp = __builtin_frame_address(0);
	unsigned n = 0;

	if (!stack_bounds(t))
		return 0;
	while (n < max) {
		uintptr_t f = (uintptr_t)fp;
		if (f < t->stack_lo || f + 2 * sizeof(void *) > t->stack_hi || (f & 7))
			break;
		uintptr_t ret = fp[1];
		if (ret < 4096)
			break;
		out[n++] = (void *)ret;
		uintptr_t *next = (uintptr_t *)fp[0];
		if (next <= fp)
			break;
		fp = next;
	}
	return n;
}

void **ls_unwind(void **buf, unsigned max, unsigned *n)
{
	/* One word stays free after the last frame for the stack key. */
	unsigned want = max + LS_UNWIND_SLACK - 1, got, skip = 0;

	if (use_fp) {
		got = fp_walk(buf, want);
	} else if (unlikely(!p_backtrace)) {
		got = 0; /* not loaded: no window has opened */
	} else {
		int r = p_backtrace(buf, (int)want);
		got = r > 0 ? (unsigned)r : 0;
	}
	while (skip < got && in_own((uintptr_t)buf[skip]))
		skip++;
	got -= skip;
	*n = got < max ? got : max;
	return buf + skip;
}
