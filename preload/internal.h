/* SPDX-License-Identifier: MIT */
/* preload/internal.h: every cross-file declaration of the preload library,
 * grouped by the file that defines it. */
#ifndef LS_PRELOAD_INTERNAL_H
#define LS_PRELOAD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Everything declared below is internal to the library: hidden, so the
 * compiler reaches it PC-relative rather than through the GOT (the hooks'
 * path is then `mov ls_state(%rip)` and `jmp *ls_real(%rip)`, one load
 * less each). System headers stay above: their symbols live elsewhere. */
#pragma GCC visibility push(hidden)

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define LS_COLD     __attribute__((noinline, cold))
#define LS_EXPORT   __attribute__((visibility("default")))
#define LS_TLS      __attribute__((tls_model("initial-exec")))

#ifndef LS_VERSION
#define LS_VERSION "0.0.0"
#endif

#define LS_PAGE           4096u
#define LS_MAX_FRAMES_CAP 128   /* hard bound on LEAKSCOPE_MAX_FRAMES */
#define LS_SAMPLING_MAX   1000000000ull
#define LS_SAMPLING_BYTES_MAX (1ull << 30) /* bytes=B: at most 1G */

/* ------------------------------------------------------------------ */
/* lock.c: the lock of every table. Held for tens of nanoseconds, never
 * across unwinding, I/O or a call into the host.                      */

typedef struct {
	_Atomic int v;
} ls_lock_t;
#define LS_LOCK_INIT { 0 }

void ls_lock_slow(ls_lock_t *l);

static inline void ls_lock(ls_lock_t *l)
{
	if (likely(!atomic_exchange_explicit(&l->v, 1, memory_order_acquire)))
		return;
	ls_lock_slow(l);
}

static inline void ls_unlock(ls_lock_t *l)
{
	atomic_store_explicit(&l->v, 0, memory_order_release);
}

/* After fork, in the child: the lock is free whoever held it. */
static inline void ls_lock_reset(ls_lock_t *l)
{
	atomic_store_explicit(&l->v, 0, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* sampler.c (defines it): per-thread state, one initial-exec struct.  */

/* The per-thread cache of free sampled slots (tcache.c): the classes up
 * to 512 bytes, a few slots each, so most sampled allocations and frees
 * take no lock and touch no span header. */
#define LS_TC_CLASSES 20
#define LS_TC_DEPTH   16

/* The per-thread memo of recently interned stacks (stacks.c), keyed by a
 * 128-bit hash: a repeated stack is found without a lock, and without
 * touching the shared entry. */
#define LS_MEMO 32
struct ls_memo {
	uint64_t h1, h2;
	struct ls_stack *st;
	uint32_t gen;
};

struct ls_tls {
	int64_t  countdown; /* allocations (or bytes) left until the next sample */
	/* What an allocation of size s takes off the countdown:
	 * (s & unit_mask) | unit_one, so 1 in a count-sampled window and s in
	 * a byte-sampled one, with no branch. */
	uint64_t unit_mask, unit_one;
	uint32_t epoch;     /* window generation the countdown was drawn for */
	uint32_t guard;     /* >0 while leakscope's own code runs here */
	uint64_t rng;       /* xorshift64* state; 0 until seeded */
	uintptr_t stack_lo; /* thread stack bounds for the fp unwinder */
	uintptr_t stack_hi;
	uint8_t  in_boot;   /* this thread is resolving the real functions */
	uint8_t  tc_state;  /* 0 unused, 1 in use, 2 thread exiting: bypass */
	uint8_t  shard;     /* sample-counter shard + 1; 0 until assigned */
	uint8_t  drop_why;  /* why this thread's last sample was lost (enum ls_drop) */
	uint8_t  private_fds; /* this thread has a descriptor table of its own
			       * (the control thread) */
	uint8_t  tc_n[LS_TC_CLASSES];
	void    *tc_slot[LS_TC_CLASSES][LS_TC_DEPTH];
	struct ls_memo memo[LS_MEMO];
};
extern __thread struct ls_tls ls_tls LS_TLS;

static inline void ls_guard_enter(void) { ls_tls.guard++; }
static inline void ls_guard_leave(void) { ls_tls.guard--; }

/* ------------------------------------------------------------------ */
/* real.c: the next allocator in link order, and the bootstrap pool.   */

struct ls_real_fns {
	void *(*malloc)(size_t);
	void  (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	int   (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*malloc_usable_size)(void *);
};
/* Starts out pointing at bootstrap stubs, so the hooks never test for NULL. */
extern struct ls_real_fns ls_real;

/* Resolves the real functions once; safe to call from any hook. */
void ls_real_init(void);
/* True when p came from the bootstrap pool (lives inside the arena range). */
bool ls_boot_owns(const void *p);
/* Usable size of a bootstrap block. */
size_t ls_boot_usable(const void *p);

/* The object (load base) that defines fn, or NULL for none. */
const void *ls_real_object(const void *fn);
/* True when fn lives in the object that provides ls_real.malloc: an
 * allocator's own extended entry point, which never calls our malloc. */
bool ls_real_same_object(const void *fn);

/* ------------------------------------------------------------------ */
/* cxx.c: C++ operator new and delete, every form.                     */

/* What the unsampled path of each operator calls: the next definition
 * when it belongs to the malloc underneath (jemalloc, tcmalloc: it never
 * reaches our malloc), else our own implementation over ls_real (for
 * libstdc++'s, which would call our malloc and tick a second time).
 * Naming: nw/na new and new[], dl/da delete and delete[]; _nt nothrow,
 * _al std::align_val_t, _sz sized. */
struct ls_cxx_fns {
	void *(*nw)(size_t);
	void *(*na)(size_t);
	void *(*nw_nt)(size_t, const void *);
	void *(*na_nt)(size_t, const void *);
	void *(*nw_al)(size_t, size_t);
	void *(*na_al)(size_t, size_t);
	void *(*nw_al_nt)(size_t, size_t, const void *);
	void *(*na_al_nt)(size_t, size_t, const void *);
	void (*dl)(void *);
	void (*da)(void *);
	void (*dl_sz)(void *, size_t);
	void (*da_sz)(void *, size_t);
	void (*dl_al)(void *, size_t);
	void (*da_al)(void *, size_t);
	void (*dl_sz_al)(void *, size_t, size_t);
	void (*da_sz_al)(void *, size_t, size_t);
	void (*dl_nt)(void *, const void *);
	void (*da_nt)(void *, const void *);
	void (*dl_al_nt)(void *, size_t, const void *);
	void (*da_al_nt)(void *, size_t, const void *);
};
extern struct ls_cxx_fns ls_cxx;
/* Resolves the next operators (real.c calls it while resolving). */
void ls_cxx_resolve(void);
/* operator new's slow path: samples, or calls ls_cxx's form of api.
 * al is 0 for the unaligned forms, nt the nothrow_t argument or NULL.
 * Keeps new's semantics: on failure the next operator new runs the
 * new_handler and throws (or returns NULL for nothrow). */
void *ls_cxx_slow(unsigned api, size_t n, size_t al, const void *nt);
/* Our allocation for operator new form api failed: the next operator new
 * of that form runs the new_handler loop and throws (NULL for nothrow). */
void *ls_cxx_failed(unsigned api, size_t n, size_t al, const void *nt);
/* Calls the unsampled path of the operator new form api. */
void *ls_cxx_call(unsigned api, size_t n, size_t al, const void *nt);

/* ------------------------------------------------------------------ */
/* jemalloc.c, tcmalloc.c: the allocators' extended entry points.      */

/* Resolve the next ones (real.c calls them while resolving). */
void ls_jemalloc_resolve(void);
void ls_tcmalloc_resolve(void);

/* ------------------------------------------------------------------ */
/* coverage.c: allocators in the process whose entry points we miss.   */

/* Looks for them in the global scope; logs one line at the first call
 * that finds any. Returns how many. */
unsigned ls_coverage_check(bool log);
/* Writes `, "uncovered_allocators": [...]` for /leak-status. */
struct ls_buf;
void ls_coverage_json(struct ls_buf *b);

/* ------------------------------------------------------------------ */
/* log.c: a tiny formatter and write(2) logging, no stdio, no malloc.  */

struct ls_buf {
	char  *p;
	size_t len, cap;
	bool   overflow; /* something did not fit; len stays <= cap */
};
void ls_buf_init(struct ls_buf *b, char *mem, size_t cap);
void ls_buf_str(struct ls_buf *b, const char *s);
void ls_buf_mem(struct ls_buf *b, const char *s, size_t n);
void ls_buf_ch(struct ls_buf *b, char c);
void ls_buf_u64(struct ls_buf *b, uint64_t v);
void ls_buf_u128(struct ls_buf *b, unsigned __int128 v);
void ls_buf_i64(struct ls_buf *b, int64_t v);
void ls_buf_hex(struct ls_buf *b, uint64_t v);          /* no 0x prefix */
void ls_buf_hex_pad(struct ls_buf *b, uint64_t v, int width); /* zero-padded */
void ls_buf_fixed(struct ls_buf *b, uint64_t v, int decimals, uint64_t unit);
void ls_buf_json_str(struct ls_buf *b, const char *s);  /* quoted, escaped */

/* printf-like: %s %d %u %ld %lu %zu %llu %x %lx %p %c %%. One line to
 * stderr, prefixed "leakscope[pid]: ". Never allocates. */
void ls_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Records which file standard error is at load, so later lines never
 * go to a descriptor 2 the host has reused for something else. */
void ls_log_init(void);
/* The text of an errno value, from static memory (no allocation, no
 * locale). */
const char *ls_strerror(int err);
/* write(2) all of buf, retrying on EINTR and short writes. 0 or -errno. */
int ls_write_all(int fd, const void *buf, size_t len);

/* ------------------------------------------------------------------ */
/* config.c: environment settings, parsed once at start.               */

enum ls_unwinder { LS_UNWIND_LIBUNWIND, LS_UNWIND_FP };

struct ls_config {
	unsigned  max_frames;   /* LEAKSCOPE_MAX_FRAMES, 1..LS_MAX_FRAMES_CAP */
	uint64_t  max_memory;   /* LEAKSCOPE_MAX_MEMORY, bytes */
	uint64_t  sampling;     /* LEAKSCOPE_SAMPLING, 0 = no window at start */
	uint64_t  sampling_bytes; /* LEAKSCOPE_SAMPLING_BYTES, 0 = none */
	enum ls_unwinder unwinder;
	const char *report_path;/* LEAKSCOPE_REPORT, may contain %p */
	const char *bind;       /* LEAKSCOPE_BIND */
	int        port;        /* LEAKSCOPE_PORT, -1 = control port disabled */
	const char *port_file;  /* LEAKSCOPE_PORT_FILE, may contain %p */
	const char *token;      /* LEAKSCOPE_TOKEN */
	const char *socket_path;/* LEAKSCOPE_SOCKET */
	bool       follow_fork; /* LEAKSCOPE_FOLLOW_FORK */
	const char *runtime_dir;/* LEAKSCOPE_RUNTIME_DIR, NULL = the default */
	const char *xdg_runtime;/* XDG_RUNTIME_DIR at load, or NULL */
	uint64_t   exit_reports;/* LEAKSCOPE_EXIT_REPORTS: kept per tree */
	pid_t      marker_pid;  /* the pid in LEAKSCOPE_PARENT at load, or 0 */
	bool       exec_child;  /* exec'd by a process running leakscope, with
				 * its settings inherited unchanged: no port */
};
/* The variable a process running leakscope leaves for the programs it
 * execs: "PID:DIGEST" of its settings. */
#define LS_MARKER_VAR "LEAKSCOPE_PARENT"
extern struct ls_config ls_cfg;

/* Reads LEAKSCOPE_* from the environment into leakscope's own memory
 * (nothing keeps pointing into the environment); bad values are logged
 * and replaced by defaults. Decides exec_child and sets LS_MARKER_VAR
 * for this process's children. Never fails. */
void ls_config_load(void);
/* Parses "123", "64K", "256M", "1G" into bytes. false on bad input. */
bool ls_parse_size(const char *s, uint64_t *out);
/* Reads lowercase hex digits from *s up to end, advancing *s past them.
 * The value (0 when there are none); no overflow check. */
uint64_t ls_parse_hex(const char **s, const char *end);
/* Expands %p in pattern into buf. false when it does not fit. */
bool ls_expand_pid(const char *pattern, char *buf, size_t cap);

/* ------------------------------------------------------------------ */
/* mem.c: the detector's own memory, counted and capped.               */

/* Allocates from the real allocator. With capped, fails (NULL) instead
 * of passing LEAKSCOPE_MAX_MEMORY. */
void *ls_mem_alloc(size_t size, bool capped);
void *ls_mem_calloc(size_t size, bool capped);
void  ls_mem_free(void *p, size_t size);
/* Accounts memory that is not from ls_mem_alloc (arena metadata).
 * false when capped and the cap would be passed; nothing is added then. */
bool  ls_mem_charge(size_t size, bool capped);
void  ls_mem_uncharge(size_t size);
uint64_t ls_mem_used(void);

/* ------------------------------------------------------------------ */
/* region.c: the reserved address range that holds sampled blocks.     */

#define LS_CHUNK_SHIFT 16
#define LS_CHUNK       ((size_t)1 << LS_CHUNK_SHIFT)

/* The hooks' one-compare ownership test reads these two. */
extern uintptr_t ls_arena_lo;
extern uintptr_t ls_arena_len;

static inline bool ls_arena_owns(const void *p)
{
	return (uintptr_t)p - ls_arena_lo < ls_arena_len;
}

/* Reserves the range (idempotent, async-safe: only mmap). true on success;
 * on failure the bootstrap pool falls back to static memory. */
bool ls_region_reserve(void);
/* Start of the bootstrap pool inside the range, and its size. */
void *ls_region_boot_area(size_t *size);
/* Takes nchunks contiguous committed chunks. NULL when the range is full. */
void *ls_region_take(size_t nchunks);
/* Gives chunks back; decommits them when the cache of free runs is big. */
void ls_region_give(void *p, size_t nchunks);
/* Marks [p, p + nchunks) as belonging to the span headed at p, with a tag
 * (the arena's size class + 1, or 0xff for a large span). */
void ls_region_map_span(void *span, size_t nchunks, unsigned tag);
/* Clears them again, before the chunks are given back. */
void ls_region_unmap_span(void *span, size_t nchunks);
/* Per chunk of the range: tag << 24 | (index of the span's head chunk + 1),
 * or 0 when no span holds the chunk. */
extern uint32_t *ls_region_map;
#define LS_REGION_TAG_SHIFT 24

/* The chunk-map entry of p (inside the range), 0 for none. */
static inline uint32_t ls_region_entry(const void *p)
{
	if (unlikely(!ls_region_map))
		return 0;
	uintptr_t idx = ((uintptr_t)p - ls_arena_lo) >> LS_CHUNK_SHIFT;
	return atomic_load_explicit((_Atomic uint32_t *)&ls_region_map[idx],
				    memory_order_acquire);
}

static inline void *ls_region_entry_span(uint32_t e)
{
	uintptr_t head = (e & ((1u << LS_REGION_TAG_SHIFT) - 1)) - 1;
	return (void *)(ls_arena_lo + (head << LS_CHUNK_SHIFT));
}

/* The span head of the chunk holding p (inside the range), or NULL. */
static inline void *ls_region_span_of(const void *p)
{
	uint32_t e = ls_region_entry(p);
	return e ? ls_region_entry_span(e) : NULL;
}
/* Bytes of the reserved range (0: none could be reserved). */
size_t ls_region_size(void);
/* Why no range could be reserved, for /leak-status ("" when one was). */
const char *ls_region_problem(void);
/* First chunk that can head a span, and the end of the chunks ever taken:
 * the bounds of a scan. 0 when the range is not reserved. */
uintptr_t ls_region_first_span(void);
uintptr_t ls_region_committed_end(void);
void ls_region_lock_all(void);
void ls_region_unlock_all(void);
void ls_region_reinit_locks(void);

/* ------------------------------------------------------------------ */
/* arena.c: size classes, spans and the record beside each slot.       */

struct ls_stack;

/* One per slot. seq is a seqlock: odd while the owner rewrites the
 * record, so the report can read it without a lock. Every field is an
 * atomic accessed relaxed (plain moves on x86), so the seqlock's racing
 * reads are defined behaviour and ThreadSanitizer can check the rest. */
struct ls_rec {
	_Atomic uint32_t seq;
	_Atomic uint32_t gen;             /* window generation; 0 = slot is free */
	_Atomic uint64_t size;            /* requested bytes */
	_Atomic uint64_t t_ns;            /* CLOCK_MONOTONIC_COARSE at allocation;
					   * the free-list link while free */
	_Atomic(struct ls_stack *) stack; /* interned stack of generation gen */
};
#define ls_rd(field) atomic_load_explicit(&(field), memory_order_relaxed)
#define ls_wr(field, v) atomic_store_explicit(&(field), (v), memory_order_relaxed)

struct ls_span;
/* Where a block lives: its span, index, size class (0xffff: a large span
 * of its own), record and address. */
struct ls_slot {
	struct ls_span *span;
	uint32_t idx;
	uint16_t cls;
	struct ls_rec *rec;
	void *p;
};

void ls_arena_init(void);
/* A slot of at least size bytes aligned to align (power of two, <= 64K);
 * *slot describes it. NULL when the arena or memory cap is full. */
void *ls_arena_alloc(size_t size, size_t align, struct ls_slot *slot);
/* Fills *slot for the slot starting at p, handed out at some time. false
 * when p is not the start of a slot. */
bool ls_arena_locate(const void *p, struct ls_slot *slot);
/* The same, and the slot holds a live block (its record's gen != 0). */
bool ls_arena_find(const void *p, struct ls_slot *slot);
size_t ls_arena_slot_size(const struct ls_slot *slot);
/* Returns a slot to the thread's cache or to its span. */
void ls_arena_free_slot(const struct ls_slot *slot);
/* The size class serving size bytes at align, or one past the last small
 * class for a large block. */
unsigned ls_arena_class(size_t size, size_t align);
/* Takes up to want free slots of class ci under one lock, mapping a new
 * span when none has room. Returns how many (0: range or cap full). */
unsigned ls_arena_pop_batch(unsigned ci, void **out, unsigned want);
/* Gives n slots of class ci back to their spans under one lock. */
void ls_arena_push_batch(unsigned ci, void *const *slots, unsigned n);
/* The same three by pointer, for tests and rare paths. */
struct ls_rec *ls_arena_rec(const void *p);
size_t ls_arena_usable(const void *p);
void ls_arena_release(void *p);
/* Calls fn on every record that is live in generation gen, reading each
 * under its seqlock. Takes each class lock only to read span headers. */
typedef void (*ls_rec_fn)(void *ctx, struct ls_stack *stack, uint64_t size,
			  uint64_t t_ns);
void ls_arena_scan(uint32_t gen, ls_rec_fn fn, void *ctx);
/* Live blocks of window info's generation and their bytes, by a scan;
 * with w, also their Horvitz-Thompson sums (weights.c). */
struct ls_window_info;
struct ls_weights;
void ls_arena_live(const struct ls_window_info *info, uint64_t *count, uint64_t *bytes,
		   struct ls_weights *w);
uint64_t ls_arena_meta_bytes(void);
void ls_arena_lock_all(void);
void ls_arena_unlock_all(void);
void ls_arena_reinit_locks(void);

/* ------------------------------------------------------------------ */
/* tcache.c: the per-thread cache of free slots.                       */

/* Registers the thread-exit flush. Call once at start. */
void ls_tcache_init(void);
/* A free slot of class ci (< LS_TC_CLASSES), refilling from the spans
 * when empty. NULL when the arena has none to give. */
void *ls_tcache_pop(unsigned ci);
/* Keeps a freed slot of class ci. false when this thread cannot cache
 * (it is exiting): the caller gives the slot back to its span. */
bool ls_tcache_push(unsigned ci, void *slot);
/* Gives this thread's cached slots back to their spans. */
void ls_tcache_flush(void);

/* ------------------------------------------------------------------ */
/* stacks.c: the lock-striped table of interned stacks.                */

#define LS_STRIPES 256

/* The hooked function a sampled allocation came through; part of a
 * stack's identity (a call site calls one of them) and printed as via=. */
enum ls_api {
	LS_API_MALLOC, LS_API_CALLOC, LS_API_REALLOC, LS_API_REALLOCARRAY,
	LS_API_POSIX_MEMALIGN, LS_API_ALIGNED_ALLOC, LS_API_MEMALIGN,
	LS_API_VALLOC, LS_API_PVALLOC,
	/* C++ operator new, each form (cxx.c) */
	LS_API_NEW, LS_API_NEW_ARRAY, LS_API_NEW_NOTHROW, LS_API_NEW_ARRAY_NOTHROW,
	LS_API_NEW_ALIGNED, LS_API_NEW_ARRAY_ALIGNED, LS_API_NEW_ALIGNED_NOTHROW,
	LS_API_NEW_ARRAY_ALIGNED_NOTHROW,
	/* jemalloc's non-standard API (jemalloc.c) */
	LS_API_MALLOCX, LS_API_RALLOCX,
	/* tcmalloc's tc_* family (tcmalloc.c), in the order of the C++ forms */
	LS_API_TC_MALLOC, LS_API_TC_MALLOC_SKIP_NEW_HANDLER, LS_API_TC_CALLOC,
	LS_API_TC_REALLOC, LS_API_TC_MEMALIGN, LS_API_TC_POSIX_MEMALIGN,
	LS_API_TC_VALLOC, LS_API_TC_PVALLOC,
	LS_API_TC_NEW, LS_API_TC_NEWARRAY, LS_API_TC_NEW_NOTHROW, LS_API_TC_NEWARRAY_NOTHROW,
	LS_API_TC_NEW_ALIGNED, LS_API_TC_NEWARRAY_ALIGNED, LS_API_TC_NEW_ALIGNED_NOTHROW,
	LS_API_TC_NEWARRAY_ALIGNED_NOTHROW,
	LS_API_COUNT
};
const char *ls_api_name(unsigned api);

struct ls_stack_totals {
	uint64_t sampled, stacks;
};

/* A stack's 128-bit hash (frames and API): h1 also picks its stripe and
 * uthash bucket; both halves together key the per-thread memo, where a
 * false match would take 2^-128. */
struct ls_stack_key {
	uint64_t h1, h2;
};
void ls_stack_hash(void *const *frames, unsigned n, unsigned api, struct ls_stack_key *k);
/* Interns a stack (n <= LS_MAX_FRAMES_CAP frames, and the API it came
 * through; frames[n] must be writable: the API is stored there to form
 * the key without a copy) for window gen, and counts one sample. 0 on
 * success; -ESTALE when gen is no longer the open window; -ENOMEM when
 * the memory cap is reached. The entry is an identity only: counts and
 * bytes per stack come from the records (ls_arena_scan), so neither a
 * repeated sample nor a free writes shared memory. */
int ls_stack_intern(void *const *frames, unsigned n, unsigned api,
		    const struct ls_stack_key *key, uint32_t gen,
		    struct ls_stack **out, bool *is_new);
/* Uncounts one live allocation; a no-op when gen has closed. */
unsigned ls_stack_frames(const struct ls_stack *s, void *const **frames);
unsigned ls_stack_api(const struct ls_stack *s);
/* The stack's series (series.c). */
struct ls_series *ls_stack_series(struct ls_stack *s);
/* Opens generation gen in every stripe, with zeroed counters. */
void ls_stacks_open(uint32_t gen);
/* Closes the open generation and moves its stacks to the graveyard,
 * where they stay readable until ls_stacks_collect frees them. */
void ls_stacks_close(void);
/* Frees the graveyard. Call only when no report reads it. */
void ls_stacks_collect(void);
void ls_stacks_totals(struct ls_stack_totals *t);
/* Calls fn on each stack of the open or just-closed generation gen. */
void ls_stacks_each(uint32_t gen, void (*fn)(void *, struct ls_stack *), void *ctx);
void ls_stacks_init(void);
void ls_stacks_lock_all(void);
void ls_stacks_unlock_all(void);
void ls_stacks_reinit_locks(void);

/* ------------------------------------------------------------------ */
/* series.c: each stack's births and deaths over the window, in buckets. */

#define LS_SERIES_N      32  /* buckets per stack */
#define LS_SERIES_SHIFT0 26  /* first width 2^26 ns (67 ms), doubling */

/* Per bucket: the sums of Horvitz-Thompson weights (1/p) of the births
 * and of the deaths of sampled blocks, and of their variance terms
 * ((1 - p)/p^2). Floats keep a stack's series at 512 bytes. */
struct ls_series_data {
	uint32_t level;          /* bucket width 2^(LS_SERIES_SHIFT0 + level) ns */
	uint64_t allocs, frees;  /* sampled births and deaths in the window */
	float b[LS_SERIES_N], d[LS_SERIES_N], vb[LS_SERIES_N], vd[LS_SERIES_N];
};
struct ls_series {
	ls_lock_t lock;
	struct ls_series_data data;
};
/* Sets the open window's start (window.c, before publishing ls_state). */
void ls_series_open(uint64_t start_mono_ns);
/* Counts a birth (or death) at t_ns of a sampled block of size bytes on
 * series se, of window gen; a no-op when gen is no longer open. */
void ls_series_event(struct ls_series *se, uint32_t gen, uint64_t size, uint64_t t_ns,
		     bool death);
/* Waits until no event that saw a closed window's stacks runs any more:
 * call after the window closed, before freeing its stacks. */
void ls_series_quiesce(void);
void ls_series_postfork_child(void);
/* Copies se under its lock. */
void ls_series_copy(struct ls_series *se, struct ls_series_data *out);
/* Merges d's buckets until its level is level. */
void ls_series_coarsen(struct ls_series_data *d, unsigned level);
/* The level whose buckets hold [start, end), and how many buckets of
 * level that interval spans (1..LS_SERIES_N). */
unsigned ls_series_level(uint64_t start_ns, uint64_t end_ns);
unsigned ls_series_buckets(uint64_t start_ns, uint64_t end_ns, unsigned level);

/* ------------------------------------------------------------------ */
/* unwind.c: stack capture.                                            */

/* Loads libunwind privately (RTLD_LOCAL) and warms it up, once; called
 * before the first window opens. 0 or -errno; on failure the fp unwinder
 * is used. Thread-safe. */
int ls_unwind_init(void);
/* Around fork: wait for a load under way (bounded), then release it. */
void ls_unwind_prefork(void);
void ls_unwind_postfork_parent(void);
void ls_unwind_postfork_child(void);
/* Room a capture buffer needs beyond max frames: leakscope's own frames,
 * and one word after the last frame for ls_stack_intern. */
#define LS_UNWIND_SLACK 16
/* Captures up to max frames of the caller's stack into buf (max +
 * LS_UNWIND_SLACK words). Returns where the caller's frames start,
 * innermost first, leakscope's own frames skipped; *n gets their count
 * (may be 0), and frames[*n] is still inside buf. */
void **ls_unwind(void **buf, unsigned max, unsigned *n);
const char *ls_unwind_name(void);

/* ------------------------------------------------------------------ */
/* unwind_io.c: libunwind's memory probe without descriptors.          */

/* Points libunwind's imports of pipe2, read, write, close and syscall (handle
 * from dlopen) at versions that never touch the host's descriptors.
 * Call before its first unwind. 0, or -ENOENT when pipe2 was not found. */
int ls_unwind_io_patch(void *handle);

/* ------------------------------------------------------------------ */
/* sampler.c: the sampled slow path.                                   */

/* The read-mostly word the hooks test: the open window's generation,
 * or 0 when leak detection is off. */
extern _Atomic uint32_t ls_state;

/* Returns true when the current allocation, of size bytes, must be
 * sampled. Called only when the fast path's countdown ran out or the
 * epoch changed. */
bool ls_sample_due(struct ls_tls *t, size_t size);
/* Places a sampled block of size requested bytes in a slot of at least
 * room (>= size) bytes, aligned (0: 16), not zeroed. NULL when it cannot
 * track it; *dropped then says whether that is a loss to count (with
 * ls_window_count_dropped, once the caller's fallback allocation has
 * succeeded) rather than a window that closed meanwhile. */
void *ls_sample_take(size_t size, size_t room, size_t align, unsigned api, bool *dropped);
/* Allocates size bytes (aligned; zeroed for LS_API_CALLOC) as a sampled
 * block; falls back to the real allocator when it cannot track it. NULL
 * with errno ENOMEM only when the real allocator fails too. */
void *ls_sample_alloc(size_t size, size_t align, unsigned api);
/* Frees a pointer inside the arena range (sampled or bootstrap). An
 * invalid or double free is counted, logged once and ignored. */
void ls_sample_free(void *p);
/* Releases the blocks whose free was deferred because it arrived inside
 * leakscope's own code (a signal handler). Needs none of our locks held;
 * callable with the guard set (the control thread). */
void ls_sample_drain(void);
/* The hooks' slow paths, entered by tail call when ls_sample_tick says
 * so; each decides whether to sample (ls_sample_due) and else calls the
 * real function, with the real function's semantics. */
void *ls_slow_malloc(size_t size);
void *ls_slow_calloc(size_t n, size_t size);
void *ls_slow_aligned(size_t align, size_t size, unsigned api);
int ls_slow_posix_memalign(void **out, size_t align, size_t size);
/* realloc and reallocarray (size = n x elem, checked). Entered when p lies
 * in the arena range (then ticked is false and the tick is taken here) or
 * when the tick ran out (ticked).
 * Follows glibc: realloc(p, 0) of a sampled block frees and returns NULL. */
void *ls_slow_realloc(void *p, size_t n, size_t elem, unsigned api, bool ticked);
/* malloc_usable_size of a pointer inside the arena range. */
size_t ls_sample_usable(void *p);
uint64_t ls_sample_invalid_frees(void);
/* ls_state's value while a task waits for the allocation path (never a
 * window's generation). */
#define LS_STATE_PENDING UINT32_MAX
/* Runs fn (with the recursion guard held) from an allocation made at
 * least delay_ns from now, when no window is open meanwhile. */
void ls_sample_pending(uint64_t delay_ns, void (*fn)(void));
/* Runs the pending task now, if one waits. */
void ls_sample_pending_fire(void);
/* Cancels the pending task; true when one was waiting. */
bool ls_sample_pending_take(void);
/* Draws the next gap, geometric with mean n. */
int64_t ls_sample_gap(struct ls_tls *t, uint64_t n, double log1m);

/* The hooks' fast decision for an allocation of size bytes, with no call
 * in it: true when it must go to the slow path, because this thread's
 * countdown ran out or was drawn for another window. Off: one load, one
 * branch. On: one thread-local subtraction (of 1, or of size in a
 * byte-sampled window) and one branch. */
static inline bool ls_sample_tick(size_t size)
{
	uint32_t s = atomic_load_explicit(&ls_state, memory_order_relaxed);

	if (likely(s == 0))
		return false;
	struct ls_tls *t = &ls_tls;
	return !likely(t->epoch == s &&
		       (t->countdown -= (int64_t)((size & t->unit_mask) | t->unit_one)) > 0);
}

/* The whole decision: true when this allocation is sampled. */
static inline bool ls_sample_now(size_t size)
{
	return ls_sample_tick(size) && ls_sample_due(&ls_tls, size);
}

/* ------------------------------------------------------------------ */
/* window.c: leak-on / leak-off and the window's counters.             */

struct ls_window_info {
	bool     on;
	uint32_t gen;
	uint64_t sampling;                       /* N; 0 in a byte-sampled window */
	uint64_t sampling_bytes;                 /* B; 0 in a count-sampled window */
	uint64_t start_mono_ns, start_real_ns, end_mono_ns;
	uint64_t sampled, dropped;
	uint64_t stacks;                         /* distinct stacks sampled */
};
/* Opens a window with one-in-n sampling. 0, -EINVAL (n out of range),
 * -EALREADY (already on). */
int ls_window_on(uint64_t n);
/* Opens a window sampling one allocation in n, or (bytes) on average one
 * per n bytes allocated (docs/weights.md). 0, -EINVAL (n out of range),
 * -EALREADY (already on). */
int ls_window_open(bool bytes, uint64_t n);
/* Closes the open window; *info receives its figures. 0 or -ENOENT. The
 * caller must hold a report reference (ls_report_ref) across the call so
 * the closed stacks stay readable. */
int ls_window_off(struct ls_window_info *info);
/* Figures of the open window (info->on false when none). */
void ls_window_get(struct ls_window_info *info);
/* Sampling parameters for the slow path; consistent with ls_state: N
 * and ln(1 - 1/N), or (*bytes) B. */
void ls_window_params(uint64_t *n, double *log1m, bool *bytes);
/* Why a sampled allocation could not be tracked: /leak-status's
 * dropped_reasons. */
enum ls_drop {
	LS_DROP_MEMORY_CAP,  /* LEAKSCOPE_MAX_MEMORY reached */
	LS_DROP_ARENA_FULL,  /* the reserved range has no room left */
	LS_DROP_NO_ARENA,    /* no range could be reserved at all */
	LS_DROP_ALIGNMENT,   /* aligned to more than 64 KiB */
	LS_DROP_TOO_LARGE,   /* 1 TiB or more */
	LS_DROP_COUNT
};
void ls_window_count_dropped(unsigned why);
uint64_t ls_window_dropped_why(unsigned why);
const char *ls_drop_name(unsigned why);
uint64_t ls_now_mono_ns(void);
uint64_t ls_now_real_ns(void);
void ls_window_lock(void);
void ls_window_unlock(void);
void ls_window_reinit_locks(void);
/* In a fork child: closes the inherited window and forgets its stacks.
 * The window's N or B (*bytes says which), or 0 when none was open. */
uint64_t ls_window_forget(bool *bytes);

/* ------------------------------------------------------------------ */
/* modules.c: executable mappings and their build IDs.                 */

/* Reads /proc/self/maps and remembers every executable mapping not yet
 * known, with its build ID. Modules are never forgotten within a window,
 * so a stack into a dlclose'd library still translates. */
void ls_modules_refresh(void);
/* Refreshes when some frame lies outside every known module. */
void ls_modules_cover(void *const *frames, unsigned n);
/* Forgets modules no longer mapped (at leak-on). */
void ls_modules_reset(void);
/* Writes the map: lines into buf; *count gets how many. */
typedef bool (*ls_line_fn)(void *ctx, const char *line, size_t len);
unsigned ls_modules_count(void);
void ls_modules_emit(ls_line_fn fn, void *ctx);
/* One module, for profile.proto's mappings. path stays valid until the
 * next window opens. */
struct ls_module_info {
	uintptr_t start, end, offset;
	const char *path;
	char build_id[2 * 64 + 1]; /* lowercase hex, "" when unknown */
};
/* Calls fn on each module, in the order of the report's maps. */
void ls_modules_each(bool (*fn)(void *ctx, const struct ls_module_info *m), void *ctx);
void ls_modules_lock(void);
void ls_modules_unlock(void);
void ls_modules_reinit_locks(void);

/* ------------------------------------------------------------------ */
/* report.c: building and streaming the text report.                   */

struct ls_report;

enum ls_report_format {
	LS_REPORT_TEXT,  /* docs/report-format.md */
	LS_REPORT_PPROF, /* gperftools legacy heap text, scaled by N */
};

/* One record of a built report, for the other writers (pprof.c). */
struct ls_report_row {
	uint64_t count, bytes;  /* sampled, not scaled */
	unsigned __int128 est_count, est_bytes; /* Horvitz-Thompson estimates */
	void *const *frames;    /* innermost first: return addresses */
	unsigned nframes, api;
};
size_t ls_report_nrows(const struct ls_report *r);
void ls_report_get_row(const struct ls_report *r, size_t i, struct ls_report_row *out);
const struct ls_window_info *ls_report_info(const struct ls_report *r);
/* Sampled live count and bytes over all rows. */
void ls_report_totals(const struct ls_report *r, uint64_t *count, uint64_t *bytes);
/* Estimated live count and bytes over all rows. */
void ls_report_est_totals(const struct ls_report *r, unsigned __int128 *count,
			  unsigned __int128 *bytes);
/* Takes a reference that keeps closed stacks readable. */
void ls_report_ref(void);
/* Drops it; frees closed stacks when it was the last one. */
void ls_report_unref(void);
void ls_report_lock_refs(void);
void ls_report_unlock_refs(void);
/* In a fork child: the parent's reports did not come along. */
void ls_report_reset_refs(void);
/* Builds a report of window info, leaving out allocations younger than
 * min_age_ns. Consumes one ls_report_ref. NULL on out of memory (the
 * reference is then dropped too). */
struct ls_report *ls_report_build(const struct ls_window_info *info,
				  uint64_t min_age_ns, enum ls_report_format fmt);
/* Copies up to cap bytes of report text into buf. Returns the count,
 * 0 at the end. */
size_t ls_report_read(struct ls_report *r, char *buf, size_t cap);
void ls_report_free(struct ls_report *r);
/* Writes a whole report to path (%p expanded) with mode 0600 through a
 * temporary file and rename. 0 or -errno. */
int ls_report_write_file(struct ls_report *r, const char *path);
/* Header lines written after "pid:" (text reports); the caller keeps
 * them alive while r is read. */
void ls_report_set_extra(struct ls_report *r, const char *lines);
/* Starts reading r again from its first line. */
void ls_report_rewind(struct ls_report *r);

/* ------------------------------------------------------------------ */
/* pprof.c: the report in the formats pprof reads.                     */

#define LS_PPROF_MAX_MODULES 512
/* The legacy heap text's header line and one record line. */
void ls_pprof_header(const struct ls_report *r, struct ls_buf *b);
void ls_pprof_row(const struct ls_report *r, size_t i, struct ls_buf *b);
/* A gzipped profile.proto of the report (unsymbolized, with build IDs).
 * 0 and *out (ls_mem_free(*out, *cap) when done), or -1 on out of memory. */
int ls_pprof_proto(const struct ls_report *r, uint8_t **out, size_t *len, size_t *cap);

/* ------------------------------------------------------------------ */
/* weights.c: Horvitz-Thompson sums of sampled allocations.            */

/* The version of docs/report-format.md the report writer produces. */
#define LS_REPORT_FORMAT "2"

struct ls_weights {
	long double est_count, est_bytes; /* sums of 1/p and s/p */
	long double var_count, var_bytes; /* sums of (1-p)/p^2 and (1-p)s^2/p^2 */
};
/* Adds one sampled allocation of size requested bytes of window info. */
void ls_weights_add(struct ls_weights *w, const struct ls_window_info *info, uint64_t size);
void ls_weights_sum(struct ls_weights *dst, const struct ls_weights *src);
/* A non-negative sum rounded to an integer (saturating). */
unsigned __int128 ls_weights_round(long double v);
/* The estimated count and bytes of sums w over count sampled allocations
 * of bytes requested bytes: exact products in a count-sampled window. */
unsigned __int128 ls_weights_count(const struct ls_weights *w, const struct ls_window_info *info,
				   uint64_t count);
unsigned __int128 ls_weights_bytes(const struct ls_weights *w, const struct ls_window_info *info,
				   uint64_t bytes);

/* ------------------------------------------------------------------ */
/* procinfo.c: this process and its parent, from /proc.                */

/* True when process pid has libleakscope mapped. false also when its
 * maps cannot be read. */
bool ls_proc_has_leakscope(pid_t pid);
/* This process's command line, arguments joined by spaces, cut to cap. */
void ls_proc_cmdline(char *buf, size_t cap);
/* This process's executable path ("" when unknown). */
void ls_proc_exe(char *buf, size_t cap);
/* The parent of process pid, from /proc/PID/stat; 0 when unknown. */
pid_t ls_proc_ppid(pid_t pid);

/* ------------------------------------------------------------------ */
/* tree.c: lineage, runtime directory, exit reports (docs/process-trees.md) */

struct ls_report;
/* At load, after ls_config_load: this process's tree and parent. */
void ls_tree_init(void);
/* Fork hooks: the child learns its parent from the forking process. */
void ls_tree_prefork(void);
void ls_tree_postfork_child(void);
/* The pid of the first process of this tree. */
pid_t ls_tree_top(void);
/* In a fork child: the pid of the process that forked it. */
pid_t ls_tree_forking(void);
/* This process's runtime-directory socket (set by the control thread;
 * NULL clears), and its path or NULL. */
void ls_tree_socket_set(const char *path);
const char *ls_tree_socket(void);
/* Appends the ancestors' pids, parent first, space-separated. */
void ls_tree_ancestors(struct ls_buf *b);
/* Fills buf with the runtime directory of the effective uid, making it
 * when missing. 0, or -errno with the reason in *why (buf still holds
 * the path). */
int ls_tree_dir(char *buf, size_t cap, const char **why);
/* The extra header lines of an exit report (ppid, ancestors, tree_top,
 * exited), NUL-terminated, cut to cap. */
void ls_tree_header(char *buf, size_t cap);
/* Keeps report r (built with ls_tree_header as extra) in the runtime
 * directory, pruning the tree's oldest beyond LEAKSCOPE_EXIT_REPORTS.
 * Failures are logged in one line and counted as dropped. */
void ls_tree_exit_report(struct ls_report *r);

/* ------------------------------------------------------------------ */
/* fork.c */
void ls_fork_init(void);

/* ------------------------------------------------------------------ */
/* status.c */
/* Writes the /leak-status JSON object into b. */
void ls_status_json(struct ls_buf *b);

/* ------------------------------------------------------------------ */
/* init.c */
/* True once the constructor has finished. */
extern _Atomic bool ls_ready;
void ls_init(void);

#pragma GCC visibility pop

#endif
