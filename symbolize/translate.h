/* SPDX-License-Identifier: MIT */
/* translate.h: the one internal header of leakscope-translate, grouped by the file each declaration comes from. */
#ifndef LS_TRANSLATE_H
#define LS_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LS_PROG "leakscope-translate"
#define LS_BUILD_ID_MAX 64 /* bytes; SHA-1 IDs are 20, anything longer is garbage */

struct ls_module;

/* ------------------------------------------------------------------ util.c */

/* Prints "leakscope-translate: MESSAGE\n" on stderr. */
void ls_util_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when s[0..len) is a plain decimal integer (digits only) that fits in
 * 64 bits; *out gets its value. */
bool ls_util_parse_u64(const char *s, size_t len, uint64_t *out);

/* True when s[0..len) is a plain decimal integer of 1 to 40 digits, of
 * any size (variances may exceed 2^64); *out gets its value, rounded to
 * a double. */
bool ls_util_parse_big(const char *s, size_t len, double *out);

/* True when s[0..len) is 1 to 16 hex digits (no prefix); *out gets the value. */
bool ls_util_parse_hex(const char *s, size_t len, uint64_t *out);

/* True when s[0..len) is DIGITS or DIGITS.DIGITS (at most 40 characters). */
bool ls_util_is_decimal(const char *s, size_t len);

/* Compares two decimals that ls_util_is_decimal accepted, by value:
 * negative, 0 or positive, as strcmp. */
int ls_util_decimal_cmp(const char *a, const char *b);

/* *a += b, saturating at UINT64_MAX. */
void ls_util_add_sat(uint64_t *a, uint64_t b);

/* Appends a zeroed element of size bytes to the growing array *arr of *n
 * elements (capacity: 0, then powers of two from 16). Returns the new
 * element, or NULL when out of memory (then *arr and *n are unchanged). */
void *ls_util_push(void **arr, size_t *n, size_t size);

/* Parses lowercase or uppercase hex pairs into out (at most LS_BUILD_ID_MAX
 * bytes). True on success; *outlen gets the byte count. */
bool ls_util_parse_build_id(const char *s, size_t len, uint8_t *out, size_t *outlen);

/* A bump allocator for data that lives until the end of the run. */
struct ls_arena {
	struct ls_arena_chunk *head;
	size_t used, cap;
};
/* Returns n zeroed bytes aligned to 16, or NULL when out of memory. */
void *ls_arena_alloc(struct ls_arena *a, size_t n);
/* Returns a copy of s[0..len) plus a NUL in the arena, or NULL. */
char *ls_arena_strndup(struct ls_arena *a, const char *s, size_t len);
void ls_arena_free(struct ls_arena *a);

/* A map from pointers (or any nonzero 64-bit key) to pointers. */
struct ls_pmap {
	struct ls_pmap_slot *slot;
	size_t mask, n;
};
/* Returns the value stored for key, or NULL. */
void *ls_pmap_get(const struct ls_pmap *m, uint64_t key);
/* Stores key -> val (key nonzero). Returns 0, or -ENOMEM. */
int ls_pmap_put(struct ls_pmap *m, uint64_t key, void *val);
void ls_pmap_free(struct ls_pmap *m);

/* Returns the length (1 to 4) of the valid UTF-8 character that starts
 * at the nonzero byte p[0] (1 for any ASCII byte, control bytes included),
 * or 0 when the bytes there are not valid UTF-8 (overlong forms,
 * surrogates, code points past U+10FFFF, a cut sequence). */
size_t ls_util_utf8_len(const unsigned char *p);

/* A growable string. */
struct ls_buf {
	char *s; /* NUL-terminated once anything was written */
	size_t len, cap;
};
/* Appends printf output to b. Returns 0, or -ENOMEM (b keeps its text). */
int ls_buf_printf(struct ls_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ls_buf_free(struct ls_buf *b);

/* Interned strings, each with a dense id: 0, 1, 2... in order of first
 * appearance. */
struct ls_strtab {
	char **str;     /* str[id], NUL-terminated */
	uint64_t *hash; /* hash[id] */
	size_t n, cap;
	uint32_t *slot; /* open addressing: id + 1, 0 for an empty slot */
	size_t mask;
	struct ls_arena arena;
};
/* Stores the id of s in *id, adding a copy of s the first time. Returns 0
 * or -ENOMEM. */
int ls_strtab_intern(struct ls_strtab *t, const char *s, uint32_t *id);
void ls_strtab_free(struct ls_strtab *t);

/* Demangles a C++ or Rust symbol name (one that starts with _Z: C++ and
 * Rust legacy; or _R: Rust v0) with libiberty; other names, and names that
 * do not demangle, are returned as they are. Results are cached by the name's address, so name
 * must stay valid for the whole run. Returns NULL only when out of memory. */
const char *ls_util_demangle(struct ls_pmap *cache, struct ls_arena *a, const char *name);

/* ----------------------------------------------------------------- lines.c */

/* LS_HDR_BIG_PAIR: two decimal integers of any size (variance: VC VB). */
enum ls_hdr_kind { LS_HDR_STRING, LS_HDR_INT, LS_HDR_DECIMAL, LS_HDR_PAIR, LS_HDR_BIG_PAIR };

struct ls_hdr {
	char *key, *value;
	enum ls_hdr_kind kind;
	uint64_t a, b; /* the integer(s) of LS_HDR_INT and LS_HDR_PAIR */
	double x, y;   /* the numbers of LS_HDR_BIG_PAIR */
};

/* A header key a format defines, and the kind of value it wants. */
struct ls_hdr_key {
	const char *key;
	enum ls_hdr_kind kind;
};

/* The line reader of reports and tree reports: one input file, its
 * current line and its number, for messages "NAME:LINE: reason". */
struct ls_lines {
	FILE *in;
	const char *name;
	char *buf; /* the current line, without its newline */
	size_t cap, len;
	unsigned long lineno;
};

/* Reads the next line into rd->buf. Returns 1 for a line, 0 at end of
 * input, -EINVAL for a line that is truncated or holds control bytes,
 * -EIO or -ENOMEM; every error is reported. */
int ls_lines_next(struct ls_lines *rd);

/* Prints "leakscope-translate: NAME:LINE: MESSAGE" for the current line;
 * always returns -EINVAL. */
int ls_lines_bad(const struct ls_lines *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when the current line begins with prefix. */
bool ls_lines_starts(const struct ls_lines *rd, const char *prefix);

/* True when the current line is "end: N WHAT" (N decimal); *n gets N. */
bool ls_lines_end(const struct ls_lines *rd, const char *what, uint64_t *n);

/* Parses the current line as a "key: value" header line and appends it to
 * the array *hdr of *nhdr entries. A key of known (nknown entries) must
 * have a value of its kind and may appear once; an unknown key keeps the
 * kind its value looks like, and when it repeats, the first one stands.
 * Returns 0, -EINVAL (reported) or -ENOMEM. */
int ls_lines_header(struct ls_lines *rd, struct ls_hdr **hdr, size_t *nhdr, const struct ls_hdr_key *known,
		    size_t nknown);

/* Returns the entry for key among hdr[0..n), or NULL. */
const struct ls_hdr *ls_hdr_find(const struct ls_hdr *hdr, size_t n, const char *key);

/* Frees the header entries and the array. */
void ls_hdr_free(struct ls_hdr *hdr, size_t n);

void ls_lines_free(struct ls_lines *rd);

/* ---------------------------------------------------------------- report.c */

/* The format line of a report: this prefix, then its version. The
 * translator reads versions 1 and 2 (docs/report-format.md). */
#define LS_REPORT_FORMAT "format: leakscope-report "
#define LS_REPORT_VERSIONS "1 and 2"

/* What the 95% intervals of a leak or of a total are computed from
 * (docs/weights.md): the sampled count, the Horvitz-Thompson estimates
 * and their variances. */
struct ls_weights {
	uint64_t count;
	double est_count, est_bytes, var_count, var_bytes;
	uint64_t sampling; /* N when every allocation was sampled one in N, else 0 */
};

struct ls_map {
	uint64_t start, end, offset;
	char perms[5];
	uint8_t build_id[LS_BUILD_ID_MAX];
	size_t build_id_len; /* 0: the report says "-" */
	char *path;
	struct ls_module *mod; /* resolved on first use */
};

/* A leak's verdict (verdict.c; docs/translate.md, "Verdicts"). */
enum ls_verdict_kind { LS_VERDICT_NONE, LS_VERDICT_GROWING, LS_VERDICT_PLATEAU, LS_VERDICT_UNDECIDED };
struct ls_verdict {
	enum ls_verdict_kind kind; /* NONE: the report carries no series */
	const char *reason;        /* undecided: "too few samples" or "window too short" */
	double growth;             /* estimated live count per second, second half */
	double z_growing, z_plateau;
};

struct ls_leak {
	uint64_t count, bytes, est_count, est_bytes;
	double var_count, var_bytes; /* version 1: the defaults of docs/weights.md */
	uint64_t sampling;       /* N when all its allocations were sampled one
				    in N (count mode), else 0 (bytes mode, or
				    merged from processes sampled otherwise) */
	char *max_age, *min_age; /* validated decimals, as written */
	char *via;               /* the hooked API (via=), or NULL */
	uint64_t *addr;          /* innermost first */
	size_t naddr;
	size_t proc;             /* the process (ls_view.proc) whose maps translate it */
	size_t *procs;           /* merged leaks: the processes that had it, in input order
				    (procs[0] == proc); NULL in a report as read */
	size_t nprocs;
	/* The series of docs/report-format.md, "Series": allocs= frees=
	 * series=, and the report's series_bucket and window_seconds. */
	bool has_series;
	uint64_t allocs, frees;
	double *series;          /* 4 a bucket: births, deaths, their variances */
	size_t nseries;          /* buckets */
	double bucket, window;   /* seconds */
	struct ls_verdict verdict;
	/* --base OLD: the same stack's figures in OLD (docs/translate.md,
	 * "Comparing two reports"); count, bytes, est_count and est_bytes
	 * then hold the growth since OLD, negative as 0, delta_* the signed
	 * growth. */
	uint64_t base_count, base_bytes, base_est_count, base_est_bytes;
	double delta_count, delta_est_count, delta_est_bytes;
	bool in_base, in_new;
};

struct ls_report {
	struct ls_hdr *hdr;
	size_t nhdr;
	struct ls_map *map;
	size_t nmap;
	struct ls_leak *leak;
	size_t nleak;
	uint64_t total_est_bytes; /* the estimated header's bytes, else the sum */
	unsigned version;         /* of the format line: 1 or 2 */
	uint64_t sampling;        /* count mode: N (0 when a version 1 report has none) */
	uint64_t sampling_bytes;  /* bytes mode: B; 0 in count mode */
	struct ls_weights total;  /* its totals, for their intervals */
	size_t *by_start;         /* map indexes sorted by start (maps.c) */
	uint64_t *max_end;        /* running maximum of end along by_start */
};

/* Reads one report from rd, whose current line is the report's first (its
 * format line), up to and including its end line; what follows is the
 * caller's. On a truncated or garbled line, prints "NAME:LINE: reason" on
 * stderr and returns -EINVAL; -ENOMEM or -EIO on other failures (also
 * reported). On error *r holds whatever was read and must still be freed
 * with ls_report_free. */
int ls_report_parse(struct ls_report *r, struct ls_lines *rd);

/* Appends one stack, from hex address arguments (with or without 0x), as a
 * leak with zero counts. Returns 0, -EINVAL (bad argument, reported) or
 * -ENOMEM. */
int ls_report_add_stack(struct ls_report *r, char *const *arg, size_t narg);

/* True when line is the format line of a report of some version. */
bool ls_report_is_format(const char *line);

/* Returns the header entry for key, or NULL. */
const struct ls_hdr *ls_report_header(const struct ls_report *r, const char *key);

void ls_report_free(struct ls_report *r);
/* Frees what leak l owns. */
void ls_report_free_leak(struct ls_leak *l);

/* ------------------------------------------------------------------ maps.c */

/* Fills r's maps from /proc/PID/maps: executable file mappings, with build
 * IDs read from /proc/PID/map_files when allowed ("-" otherwise). Returns 0,
 * -EINVAL (bad pid, or a line that does not parse; reported), -ESRCH or
 * -ENOMEM. */
int ls_maps_read_pid(struct ls_report *r, const char *pid);

/* Sorts r's maps for ls_maps_find. Returns 0 or -ENOMEM. */
int ls_maps_index(struct ls_report *r);

/* Returns the map holding addr (the first in report order when several
 * overlap), or NULL. */
struct ls_map *ls_maps_find(const struct ls_report *r, uint64_t addr);

/* ---------------------------------------------------------------- module.c */

enum ls_mod_status {
	LS_MOD_OK,       /* the right file (or one the report could not check) */
	LS_MOD_MISSING,  /* no readable ELF file at the path */
	LS_MOD_MISMATCH, /* a file, but with another build ID */
	LS_MOD_PSEUDO,   /* [vdso], [anon:...]: nothing to open */
};

struct ls_modset {
	const char *sysroot;     /* NULL or a directory prefix */
	const char **debug_dir;  /* --debug-dir, then the default */
	size_t ndebug_dir;
	struct ls_module *head;
	struct ls_arena arena;
	struct ls_pmap demangled; /* name -> demangled name */
	struct ls_pmap joined;    /* DWARF file name -> with its comp_dir */
	struct ls_pmap qualified; /* DIE address -> scope-qualified name */
	struct ls_pmap cu_index;  /* CU DIE address -> its function ranges */
};

/* Returns the module of map m, opening it the first time (one open per
 * path and build ID). Prints one stderr line when the module is missing or
 * mismatched. Returns NULL only when out of memory. */
struct ls_module *ls_module_get(struct ls_modset *s, struct ls_map *m);

enum ls_mod_status ls_module_status(const struct ls_module *mod);
const char *ls_module_path(const struct ls_module *mod);

/* True when the module's file name is libleakscope*.so*. */
bool ls_module_is_leakscope(const struct ls_module *mod);

/* True when the module is the C library: libc.so*, libc-VERSION.so (older
 * glibc) or musl's ld-musl-*.so*. */
bool ls_module_is_libc(const struct ls_module *mod);

/* Converts an address inside map m to the module's ELF virtual address
 * (what addr2line -e FILE takes), through the PT_LOAD headers. True on
 * success; false when no PT_LOAD covers it (then *vaddr is the file
 * offset). */
bool ls_module_vaddr(const struct ls_module *mod, const struct ls_map *m, uint64_t addr, uint64_t *vaddr);

struct Dwfl_Module;
/* Returns the module's libdwfl handle, or NULL when it is not LS_MOD_OK. */
struct Dwfl_Module *ls_module_dwfl(const struct ls_module *mod);

/* Returns the function symbol (from .symtab or .dynsym) that covers vaddr,
 * demangled, or NULL when none does. */
const char *ls_module_symbol(struct ls_modset *s, struct ls_module *mod, uint64_t vaddr);

void ls_modset_free(struct ls_modset *s);

/* Reads the GNU build ID of the regular ELF file at path. Returns 0, or
 * -ENOENT when there is no such file or it has no build ID. */
int ls_module_file_build_id(const char *path, uint8_t *id, size_t *len);

/* ---------------------------------------------------------------- symtab.c */

struct ls_symtab;

/* Builds a sorted table of the module's function symbols (.symtab, else
 * .dynsym). Returns NULL when it has none or memory runs out. */
struct ls_symtab *ls_symtab_build(struct Dwfl_Module *dm);

/* Returns the raw (mangled) name of the function covering vaddr, or NULL. */
const char *ls_symtab_find(const struct ls_symtab *t, uint64_t vaddr);

void ls_symtab_free(struct ls_symtab *t);

/* ----------------------------------------------------------------- dwarf.c */

struct ls_frame {
	const char *function; /* NULL when unknown */
	const char *file;     /* NULL when unknown */
	unsigned line;        /* 0 when unknown */
	bool inlined;
};

/* Describes vaddr from the module's DWARF: frames[0] is the innermost
 * (inlined) function, the last one the real function. Fills at most max
 * frames and returns how many; 0 when the module has no DWARF for vaddr.
 * Returns -ENOMEM when out of memory. */
int ls_dwarf_frames(struct ls_modset *s, struct ls_module *mod, uint64_t vaddr, struct ls_frame *frames, int max);

/* ------------------------------------------------------------------- sym.c */

enum ls_loc_status {
	LS_LOC_OK,       /* symbolized, as far as the module allows */
	LS_LOC_UNMAPPED, /* outside every map */
	LS_LOC_MISSING,
	LS_LOC_MISMATCH,
	LS_LOC_PSEUDO,
};

struct ls_loc {
	uint64_t addr;
	const char *module; /* NULL when unmapped */
	const struct ls_module *mod;
	const struct ls_map *map; /* the map holding the address looked up; NULL when unmapped */
	uint64_t offset;    /* module ELF vaddr, else file offset */
	bool has_offset;
	bool ret;           /* a return address, looked up at addr - 1 */
	enum ls_loc_status status;
	size_t nframe;      /* >= 1 */
	struct ls_frame *frame;
};

struct ls_sym;

/* Creates a symbolizer over r's maps and s's modules. NULL when out of memory. */
struct ls_sym *ls_sym_new(struct ls_report *r, struct ls_modset *s);

/* Describes addr; a return address (ret) is looked up at addr - 1. Results
 * are cached. Returns NULL only when out of memory. */
const struct ls_loc *ls_sym_lookup(struct ls_sym *y, uint64_t addr, bool ret);

void ls_sym_free(struct ls_sym *y);

/* ------------------------------------------------------------------ tree.c */

#define LS_TREE_FORMAT "format: leakscope-tree 1"

/* The header of one tree report (docs/process-trees.md, "Tree reports"). */
struct ls_tree {
	struct ls_hdr *hdr; /* root, processes, live, exited, ... in file order */
	size_t nhdr;
	char **error;       /* the values of its error: lines */
	size_t nerror;
};

struct ls_view;

/* Reads one operand from in: a report or, when tree_ok, a tree report,
 * whose reports are appended to v->proc and header to v->tree; nothing
 * may follow it. On a truncated or garbled line, prints "NAME:LINE:
 * reason" and returns -EINVAL; -ENOMEM or -EIO on other failures (also
 * reported). On error v keeps what was read, for ls_view_free. */
int ls_tree_read(struct ls_view *v, FILE *in, const char *name, bool tree_ok);

/* ------------------------------------------------------------------ view.c */

/* One process of the input: its report and the symbolizer over its maps. */
struct ls_proc {
	struct ls_report r;
	bool base;          /* read with --base: what the others are compared to */
	struct ls_sym *sym; /* made by ls_view_finish */
};

/* The input of one run, and what the writers show of it: the leaks of one
 * report as they are, or the leaks of every process read, merged. */
struct ls_view {
	struct ls_proc *proc; /* every report read, in input order */
	size_t nproc;
	struct ls_tree *tree; /* every tree report read */
	size_t ntree;
	bool merged;          /* leaks merged across processes (ls_view_finish) */
	bool series;          /* some leak has a verdict: the outputs show them */
	bool colour_verdict;  /* --colour verdict: svg frames by verdict */
	bool diff;            /* --base: leaks show the growth since the base */
	size_t nbase;         /* processes of the base (the last ones) */
	bool intervals;       /* a report of version 2 was read: the outputs show
				 95% intervals and the mode (version 1 alone
				 translates as it did before them) */
	struct ls_report *r;  /* what is shown: proc[0].r, or the merged leaks
				 (leaks, total_est_bytes and total only: no
				 header, no maps) */
	struct ls_report merge;
};

/* Appends an empty process to v; returns its report, valid until the next
 * call, or NULL when out of memory. */
struct ls_report *ls_view_add(struct ls_view *v);

/* Indexes every process's maps, gives each its symbolizer over the
 * modules of s, and, when merge, merges the leaks of all processes into
 * v->merge (docs/process-trees.md): one leak per via and sequence of code
 * (module and file offset), sorted by estimated bytes. v->r is then what
 * the writers show. Returns 0 or -ENOMEM. */
int ls_view_finish(struct ls_view *v, struct ls_modset *s, bool merge);

/* The symbolizer for leak l of v: its process's. */
static inline struct ls_sym *ls_view_sym(const struct ls_view *v, const struct ls_leak *l)
{
	return v->proc[l->proc].sym;
}

/* The number of processes that had leak l (1 for a leak of one report). */
static inline size_t ls_view_nprocs(const struct ls_leak *l)
{
	return l->procs != NULL ? l->nprocs : 1;
}

/* Sums the integer header key over v's tree reports into *sum; false
 * when none has it. */
bool ls_view_tree_sum(const struct ls_view *v, const char *key, uint64_t *sum);

/* Sums header key over v's processes: the integer (into *a) or the pair
 * (into *a and *b) of each that has it; 0 when none does. */
void ls_view_proc_sum(const struct ls_view *v, const char *key, uint64_t *a, uint64_t *b);

/* Returns the mode of v's processes, "count" or "bytes" when they all
 * have it, else "mixed" (also for none); *sampling and *sampling_bytes
 * get the N and the B they all had, else 0. */
const char *ls_view_mode(const struct ls_view *v, uint64_t *sampling, uint64_t *sampling_bytes);

/* The root header of v's tree report when there is exactly one, or NULL. */
const struct ls_hdr *ls_view_root(const struct ls_view *v);

void ls_view_free(struct ls_view *v);

/* -------------------------------------------------------------- interval.c */

/* A 95% interval: lo <= hi, both finite and non-negative. */
struct ls_ci {
	double lo, hi;
};

/* The exact Poisson (Garwood) interval of a sampled count c, scaled by n. */
struct ls_ci ls_interval_garwood(uint64_t c, double n);

/* The scaled Poisson interval of an estimate e of variance estimate v
 * (docs/weights.md, "95% intervals"): [e, e] when v is 0, [0, 0] when e
 * is. */
struct ls_ci ls_interval_scaled(double e, double v);

/* -------------------------------------------------------------- estimate.c */

/* The weights of leak l. */
struct ls_weights ls_estimate_leak(const struct ls_leak *l);

/* The 95% interval of the estimated count of w: Garwood's when w was
 * sampled one in N, else the scaled Poisson one. */
struct ls_ci ls_estimate_count(const struct ls_weights *w);

/* The 95% interval of the estimated bytes of w: the scaled Poisson one. */
struct ls_ci ls_estimate_bytes(const struct ls_weights *w);

/* Adds w to *sum: counts, estimates and variances add; the sampling stays
 * only when both have the same. first: *sum is empty (w is copied). */
void ls_estimate_add(struct ls_weights *sum, const struct ls_weights *w, bool first);

/* Adds the variances and sampling of leak l to merged leak d (its counts
 * and estimates are the caller's). */
void ls_estimate_merge(struct ls_leak *d, const struct ls_leak *l);

/* Writes ci as "lo-hi" (rounded integers) or, with unit, as bytes in
 * decimal units ("9.8-11.1 MB"). */
void ls_estimate_text(FILE *out, struct ls_ci ci, bool unit);

/* Writes the interval members of leak l for its json object:
 * ", "est_count_lo": ..., "var_bytes": ...". */
void ls_estimate_json_leak(FILE *out, const struct ls_leak *l);

/* Writes the top-level json members of v's weights, each as ",\n" indent
 * "key": value: the mode, sampling and sampling_bytes that the header did
 * not give (for merged processes, null where they differ, and mode
 * "mixed"), then the totals' est_count and est_bytes and their
 * intervals. */
void ls_estimate_json_totals(FILE *out, const struct ls_view *v, const char *indent);

/* --------------------------------------------------------------- verdict.c */

/* Sets l->verdict from its series (has_series), else LS_VERDICT_NONE. */
void ls_verdict_compute(struct ls_leak *l);
/* Combines the verdict of another process's leak l into merged leak d
 * (docs/translate.md, "Verdicts"). first: d is l's copy. */
void ls_verdict_merge(struct ls_leak *d, const struct ls_leak *l, bool first);
/* "growing", "plateau", "undecided", or NULL for none. */
const char *ls_verdict_name(enum ls_verdict_kind k);
/* Parses a --verdict argument; false when it names no verdict. */
bool ls_verdict_parse(const char *s, enum ls_verdict_kind *k);
/* The estimated live count at the end of bucket k (0-based) of l. */
double ls_verdict_live(const struct ls_leak *l, size_t k);
/* Keeps only r's leaks of verdict k, freeing the others. */
void ls_verdict_filter(struct ls_report *r, enum ls_verdict_kind k);
/* Counts r's leaks of each verdict into n[LS_VERDICT_UNDECIDED + 1]. */
void ls_verdict_count(const struct ls_report *r, size_t *n);
/* Writes ", \"verdict\": ..., \"series\": [...]" for leak l's json object
 * (nothing for a leak without a verdict). */
void ls_verdict_json_leak(FILE *out, const struct ls_leak *l);
/* Writes the top-level members: the verdicts' counts, allocs, frees. */
void ls_verdict_json_totals(FILE *out, const struct ls_report *r, const char *indent);
/* Writes ", growing (+12.3/s), 90% of 1000 sampled allocations freed"
 * for leak l's text headline (nothing without a verdict). */
void ls_verdict_text(FILE *out, const struct ls_leak *l);
/* Writes "3 stacks growing, 41 plateau, 12 undecided". */
void ls_verdict_summary(FILE *out, const struct ls_report *r);

/* ---------------------------------------------------------------- output.c */

enum ls_format { LS_FMT_TEXT, LS_FMT_JSON, LS_FMT_FOLDED, LS_FMT_PPROF, LS_FMT_SVG, LS_FMT_HTML };

/* One shown frame: an address's location and one of its (inlined) frames. */
struct ls_vframe {
	const struct ls_loc *loc;
	const struct ls_frame *f;
};

/* A leak's frames, innermost first. */
struct ls_stack {
	struct ls_vframe *v;
	size_t n, cap;
	size_t skip;     /* leading allocator frames folded into the headline */
	const char *via; /* a C library wrapper folded ("strdup"), else NULL: v[skip - 1] is "via" */
};

/* Expands leak l's addresses into st's frames, innermost first (the first
 * address is a call site, the others return addresses), and folds the
 * leading allocator frames (ls_fold_stack). st is reused from leak to
 * leak; free st->v at the end. Returns 0 or -ENOMEM. */
int ls_output_expand(struct ls_stack *st, struct ls_sym *y, const struct ls_leak *l);

/* Returns a frame's short name, as in folded output: its function, else
 * "MODULE+0xOFFSET" (formatted into scratch), else "??". Returns NULL only
 * when out of memory. */
const char *ls_output_name(const struct ls_vframe *v, struct ls_buf *scratch);

/* Returns the name a leak came "via": the C library wrapper folded, else
 * the outermost folded allocator frame, else the report's via= token (l
 * may be NULL: none); NULL when there is none of them, or when out of
 * memory (*nomem is then set). Every output format takes it from here. */
/* The name to show for a via= token: C++ operator new's tokens (new,
 * new_array, ...) as demangled names, any other token as it is. */
const char *ls_output_api(const char *via);
const char *ls_output_via(const struct ls_stack *st, const struct ls_leak *l, struct ls_buf *scratch, bool *nomem);

/* Writes the frame lines of text output ("#0 leak at x.c:7 (/bin/app)"),
 * allocator frames folded. */
void ls_output_frames(FILE *out, const struct ls_stack *st);

/* Writes s escaped for XML and HTML text and attribute values: & < > " '
 * as character references; control characters, bytes that are not UTF-8,
 * and the non-characters U+FFFE and U+FFFF as U+FFFD. */
void ls_output_markup(FILE *out, const char *s);

/* Writes the leaks of v in format fmt (text, json or folded), at most
 * top leaks (0: all). Returns 0, -ENOMEM or -EIO. */
int ls_output_report(FILE *out, const struct ls_view *v, enum ls_format fmt, size_t top);

/* Writes r's last leak as a bare stack (--report and --pid modes; text,
 * json or folded). */
int ls_output_stack(FILE *out, struct ls_report *r, struct ls_sym *y, enum ls_format fmt);

/* --------------------------------------------------------------- summary.c */

/* Writes the one-line summary of text output (no newline): the report's
 * header, or for merged leaks the processes' (ranges where they differ). */
void ls_output_summary(FILE *out, const struct ls_view *v);

/* For merged leaks, writes one line per process read ("report 2: pid
 * ...") and one per error: line of the tree reports, each ending in a
 * newline; nothing for one report. */
void ls_output_processes(FILE *out, const struct ls_view *v);

/* ------------------------------------------------------------------ fold.c */

/* Sets st->skip to the number of leading frames of st that belong to the
 * allocator: malloc and its kin, operator new, leakscope's own frames,
 * then the C library's frames out to the outermost allocation wrapper
 * among them (strdup, asprintf, ...), whose public name goes to st->via
 * (docs/translate.md, "Folding the allocator"). */
void ls_fold_stack(struct ls_stack *st);

/* ----------------------------------------------------------------- flame.c */

/* One node of a flame graph: a frame name under its parent's path. */
struct ls_flame_node {
	const char *name;           /* interned */
	const char *file, *module;  /* of the first frame merged here; may be NULL */
	unsigned line;
	bool mixed;                 /* frames of several lines merged here */
	bool unknown;               /* no function name */
	uint32_t parent, depth;
	uint32_t first, nchild;     /* children: kid[first .. first + nchild) */
	uint64_t bytes, count;      /* estimated, summed (saturating) */
	double vbytes[LS_VERDICT_UNDECIDED + 1]; /* est. bytes by verdict */
	double x, w;                /* layout: fractions of the root's bytes */
};

/* The flame graph of a report's leaked bytes: node 0 is the root ("all"),
 * every other node a frame, outermost frames nearest the root, allocator
 * frames folded. */
struct ls_flame {
	struct ls_flame_node *node;
	size_t n, cap;
	uint32_t *kid;              /* child node indexes, grouped by parent, by name */
	struct ls_strtab names;
	struct ls_pmap child;       /* (parent, name id) -> node index + 1 */
	size_t nleak;               /* leaks drawn */
};

/* Builds the flame graph of v's first top leaks (0: all) and lays it out.
 * Returns 0 or -ENOMEM; fl must be freed with ls_flame_free either way. */
int ls_flame_build(struct ls_flame *fl, const struct ls_view *v, size_t top);
void ls_flame_free(struct ls_flame *fl);

/* Writes fl as an <svg> element: a standalone SVG document with its script
 * (standalone), or the element alone for an HTML page, which then also
 * needs ls_flame_script. Returns 0, or -ENOMEM before writing anything. */
int ls_flame_svg(FILE *out, const struct ls_flame *fl, const struct ls_view *v, bool standalone);

/* Writes the flame graph's click-to-zoom script (no tags around it). */
void ls_flame_script(FILE *out);

/* Writes --format svg. Returns 0, -ENOMEM or -EIO. */
int ls_flame_write(FILE *out, const struct ls_view *v, size_t top);

/* ------------------------------------------------------------------ html.c */

/* Writes --format html: one self-contained page with a sortable table of
 * the leaks and the flame graph. Returns 0, -ENOMEM or -EIO. */
int ls_html_write(FILE *out, const struct ls_view *v, size_t top);

/* ----------------------------------------------------------- pprof/pprof.c */

/* Writes --format pprof: a gzipped perftools.profiles.Profile. Returns 0,
 * -ENOMEM or -EIO. */
int ls_pprof_write(FILE *out, const struct ls_view *v, size_t top);

#endif
