/* SPDX-License-Identifier: MIT */
/* fold.c: the leading frames of a stack that belong to the allocator, folded into the leak's "via" headline. */
#include <string.h>

#include "translate.h"

/* True when f names an allocator entry point (see docs/translate.md). */
static bool is_alloc_name(const char *f)
{
	static const char *const names[] = {
		"malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc", "memalign",
		"valloc", "pvalloc",
	};

	if (strncmp(f, "operator new(", 13) == 0 || strncmp(f, "operator new[](", 15) == 0)
		return true;
	/* glibc's own names for the same entry points */
	if (strncmp(f, "__libc_", 7) == 0)
		f += 7;
	else if (strcmp(f, "__posix_memalign") == 0)
		return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(f, names[i]) == 0)
			return true;
	return false;
}

/* True when the frame is the allocator's or leakscope's own. */
static bool is_alloc_frame(const struct ls_vframe *v)
{
	return (v->f->function != NULL && is_alloc_name(v->f->function)) ||
	       (v->loc->mod != NULL && ls_module_is_leakscope(v->loc->mod));
}

/* The C library's functions that return memory the caller releases with
 * free(): their public names, each the "via" it gives. glibc's exported
 * aliases of them (__strdup, ___asprintf, __getdelim) and its fortified
 * variants (__asprintf_chk, __realpath_chk) are the same names with up
 * to three leading underscores and, for those, a _chk suffix. */
static const char *const wrappers[] = {
	"strdup", "strndup", "wcsdup", "asprintf", "vasprintf", "getline", "getdelim", "realpath",
	"canonicalize_file_name", "open_memstream", "open_wmemstream", "scandir", "scandirat", "tempnam",
	"get_current_dir_name", "getcwd", "backtrace_symbols", "argz_create", "argz_create_sep", "argz_add",
	"argz_add_sep", "argz_append", "argz_insert", "argz_replace", "envz_add", "envz_merge",
};

/* glibc's other names that stand for a wrapper: the 64-bit aliases, the
 * function a wrapper jumps to in a tail call (scandir to __scandir64_tail,
 * vasprintf to __vasprintf_internal), so that its own frame is gone, an
 * inlined helper, and the functions of a memory stream that reallocate
 * its buffer when it is flushed or closed. Only libc's debug symbols
 * (libc6-dbg) name the static ones. */
static const struct {
	const char *name, *via;
} internals[] = {
	{ "scandir64", "scandir" },
	{ "scandirat64", "scandirat" },
	{ "__scandir64_tail", "scandir" },
	{ "__scandir_tail", "scandir" },
	{ "__vasprintf_internal", "vasprintf" },
	{ "realpath_stk", "realpath" },
	{ "__old_realpath", "realpath" },
	{ "_IO_mem_finish", "open_memstream" },
	{ "_IO_mem_sync", "open_memstream" },
	{ "_IO_wmem_finish", "open_wmemstream" },
	{ "_IO_wmem_sync", "open_wmemstream" },
};

/* The stdio calls that flush or close a stream, and so run the
 * _IO_mem_* functions above: folded only above a memory stream's frame,
 * since on any other stream they allocate nothing the caller keeps. */
static const char *const stream_calls[] = {
	"fclose", "_IO_fclose", "_IO_new_fclose", "fflush", "_IO_fflush", "fflush_unlocked", "__fflush_unlocked",
};

/* True when f is one of stream_calls. */
static bool is_stream_call(const char *f)
{
	for (size_t i = 0; i < sizeof(stream_calls) / sizeof(stream_calls[0]); i++)
		if (strcmp(f, stream_calls[i]) == 0)
			return true;
	return false;
}

/* Returns the wrapper a C library function stands for ("strdup" for
 * __strdup), or NULL. */
static const char *wrapper_of(const char *f)
{
	const char *p = f;
	size_t len;

	for (size_t i = 0; i < sizeof(internals) / sizeof(internals[0]); i++)
		if (strcmp(f, internals[i].name) == 0)
			return internals[i].via;
	while (*p == '_' && p - f < 3)
		p++;
	len = strlen(p);
	if (p != f && len > 4 && strcmp(p + len - 4, "_chk") == 0)
		len -= 4;
	for (size_t i = 0; i < sizeof(wrappers) / sizeof(wrappers[0]); i++)
		if (strncmp(wrappers[i], p, len) == 0 && wrappers[i][len] == '\0')
			return wrappers[i];
	return NULL;
}

void ls_fold_stack(struct ls_stack *st)
{
	size_t i;

	st->skip = 0;
	st->via = NULL;
	while (st->skip < st->n && is_alloc_frame(&st->v[st->skip]))
		st->skip++;
	/* Then the C library's frames, out to the outermost wrapper among
	 * them: strdup, or tempnam when tempnam called __strdup. Its helpers
	 * in between (vasprintf's stdio buffers) go with it, named or not;
	 * library frames outside it (a libc function that called strdup
	 * for itself) stay. */
	for (i = st->skip; i < st->n; i++) {
		const struct ls_vframe *v = &st->v[i];
		const char *via;

		if (v->loc->mod == NULL || !ls_module_is_libc(v->loc->mod))
			break;
		if (v->f->function == NULL)
			continue;
		via = wrapper_of(v->f->function);
		if (via == NULL && st->via != NULL && strstr(st->via, "memstream") != NULL &&
		    is_stream_call(v->f->function))
			via = st->via;
		if (via != NULL) {
			st->via = via;
			st->skip = i + 1;
		}
	}
}
