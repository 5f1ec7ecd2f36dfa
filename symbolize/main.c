/* SPDX-License-Identifier: MIT */
/* main.c: the command line of leakscope-translate. */
#include <errno.h>
#include <getopt.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "translate.h"

#define DEFAULT_DEBUG_DIR "/usr/lib/debug"
#define MAX_DEBUG_DIRS 32

static const char usage[] =
	"usage: " LS_PROG " [OPTIONS] REPORT             translate a report (- for stdin)\n"
	"       " LS_PROG " [OPTIONS] REPORT REPORT...   merge reports and tree reports into one\n"
	"       " LS_PROG " [OPTIONS] --report REPORT 0xADDR...  one stack, with REPORT's maps\n"
	"       " LS_PROG " [OPTIONS] --pid PID 0xADDR...        one stack, with a live process's maps\n"
	"\n"
	"A tree report (leakscope report --tree), or several operands, are merged:\n"
	"the same stack of code (module and file offset) in several processes is one\n"
	"leak, its counts summed, with the number of processes that had it.\n"
	"\n"
	"  --format FORMAT            output format (default text):\n"
	"                             text    the leaks, one frame a line\n"
	"                             json    everything, for scripts\n"
	"                             folded  one line a stack, for flame graph tools\n"
	"                             pprof   gzipped profile.proto, for pprof (binary)\n"
	"                             svg     an interactive flame graph of leaked bytes\n"
	"                             html    one page: a sortable table and the flame graph\n"
	"  --top K                    show the K biggest leaks only\n"
	"  --base OLD                 show each stack's growth since report OLD (of the\n"
	"                             same program; stacks matched by build ID and offset)\n"
	"  --verdict V                show the leaks of verdict V only: growing, plateau\n"
	"                             or undecided (reports with series; docs/translate.md)\n"
	"  --colour verdict           svg and html: colour the flame graph's frames by\n"
	"                             verdict (red growing, blue plateau, yellow undecided)\n"
	"  --verdict-summary          print only \"N stacks growing, N plateau, N undecided\"\n"
	"  --debug-dir DIR            look for DIR/.build-id/xx/rest.debug (repeatable;\n"
	"                             " DEFAULT_DEBUG_DIR " under the sysroot comes last)\n"
	"  --sysroot DIR              find the report's files under DIR\n"
	"  --help, --version\n"
	"\n"
	"Reports of format 1 and 2 are read; with format 2 (count or byte sampling),\n"
	"every estimate gets its 95% interval.\n"
	"The first address of a stack is a call site, every other one a return address.\n"
	"Exit status: 0 on success (missing or mismatched modules are marked, not errors),\n"
	"1 when the report is truncated or garbled or cannot be read, 2 on bad usage.\n";

struct opts {
	enum ls_format fmt;
	uint64_t top;
	const char *report, *pid, *sysroot;
	const char *debug_dir[MAX_DEBUG_DIRS + 1];
	size_t ndebug_dir;
	bool bare; /* --report or --pid: translate the address arguments */
	bool verdict_only, summary, colour_verdict;
	const char *base;
	enum ls_verdict_kind verdict;
};

/* Strips trailing slashes (keeping "/") in place. */
static char *trim_slash(char *s)
{
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

/* Parses the options. Returns the index of the first operand, or -1 after
 * printing an error (or -2 when the user asked for --help/--version). */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },    { "top", required_argument, NULL, 't' },
		{ "debug-dir", required_argument, NULL, 'd' }, { "sysroot", required_argument, NULL, 's' },
		{ "report", required_argument, NULL, 'r' },    { "pid", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },	       { "version", no_argument, NULL, 'V' },
		{ "verdict", required_argument, NULL, 'v' },   { "verdict-summary", no_argument, NULL, 'S' },
		{ "base", required_argument, NULL, 'b' },
		{ "colour", required_argument, NULL, 'c' },    { "color", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct stat st;
	int c;

	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (strcmp(optarg, "text") == 0)
				o->fmt = LS_FMT_TEXT;
			else if (strcmp(optarg, "json") == 0)
				o->fmt = LS_FMT_JSON;
			else if (strcmp(optarg, "folded") == 0)
				o->fmt = LS_FMT_FOLDED;
			else if (strcmp(optarg, "pprof") == 0)
				o->fmt = LS_FMT_PPROF;
			else if (strcmp(optarg, "svg") == 0)
				o->fmt = LS_FMT_SVG;
			else if (strcmp(optarg, "html") == 0)
				o->fmt = LS_FMT_HTML;
			else
				return ls_util_msg("--format: want text, json, folded, pprof, svg or html"), -1;
			break;
		case 't':
			if (!ls_util_parse_u64(optarg, strlen(optarg), &o->top) || o->top == 0)
				return ls_util_msg("--top: want a positive integer"), -1;
			break;
		case 'v':
			if (!ls_verdict_parse(optarg, &o->verdict))
				return ls_util_msg("--verdict: want growing, plateau or undecided"), -1;
			o->verdict_only = true;
			break;
		case 'b':
			o->base = optarg;
			break;
		case 'c':
			if (strcmp(optarg, "verdict") != 0 && strcmp(optarg, "name") != 0)
				return ls_util_msg("--colour: want verdict or name"), -1;
			o->colour_verdict = strcmp(optarg, "verdict") == 0;
			break;
		case 'S':
			o->summary = true;
			break;
		case 'd':
			if (o->ndebug_dir == MAX_DEBUG_DIRS || optarg[0] == '\0')
				return ls_util_msg("--debug-dir: at most %d non-empty directories", MAX_DEBUG_DIRS), -1;
			o->debug_dir[o->ndebug_dir++] = trim_slash(optarg);
			break;
		case 's':
			if (stat(optarg, &st) != 0 || !S_ISDIR(st.st_mode))
				return ls_util_msg("--sysroot: '%s' is not a directory", optarg), -1;
			o->sysroot = strcmp(optarg, "/") == 0 ? NULL : trim_slash(optarg);
			break;
		case 'r':
			o->report = optarg;
			o->bare = true;
			break;
		case 'p':
			o->pid = optarg;
			o->bare = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return -2;
		case 'V':
			printf(LS_PROG " %s\n", LS_VERSION);
			return -2;
		default:
			return -1;
		}
	}
	if (o->report != NULL && o->pid != NULL)
		return ls_util_msg("--report and --pid exclude each other"), -1;
	if (optind >= argc)
		return ls_util_msg(o->bare ? "give at least one address" : "give a REPORT (or - for stdin)"), -1;
	for (int i = optind, stdin_seen = 0; !o->bare && i < argc; i++)
		if (strcmp(argv[i], "-") == 0 && stdin_seen++)
			return ls_util_msg("- (stdin) may be given once"), -1;
	if (o->bare && (o->verdict_only || o->summary || o->base))
		return ls_util_msg("--verdict and --verdict-summary apply to whole reports only"), -1;
	if (o->bare && o->top > 0)
		return ls_util_msg("--top applies to whole reports only"), -1;
	if (o->bare && o->fmt > LS_FMT_FOLDED)
		return ls_util_msg("--format pprof, svg and html apply to whole reports only"), -1;
	if (o->fmt == LS_FMT_PPROF && isatty(STDOUT_FILENO))
		return ls_util_msg("--format pprof writes gzip data: redirect stdout to a file"), -1;
	return optind;
}

/* Writes the whole view in o's format. Returns 0, -ENOMEM or -EIO. */
static int write_report(const struct ls_view *v, const struct opts *o)
{
	switch (o->fmt) {
	case LS_FMT_PPROF:
		return ls_pprof_write(stdout, v, (size_t)o->top);
	case LS_FMT_SVG:
		return ls_flame_write(stdout, v, (size_t)o->top);
	case LS_FMT_HTML:
		return ls_html_write(stdout, v, (size_t)o->top);
	default:
		return ls_output_report(stdout, v, o->fmt, (size_t)o->top);
	}
}

/* Reads the report or tree report at path ("-": stdin) into v; tree
 * reports only when tree_ok. Returns 0 or -errno (reported). */
static int read_operand(struct ls_view *v, const char *path, bool tree_ok)
{
	FILE *f = stdin;
	int err;

	if (strcmp(path, "-") != 0) {
		f = fopen(path, "re");
		if (f == NULL) {
			err = -errno;
			ls_util_msg("%s: %s", path, strerror(errno));
			return err;
		}
	}
	err = ls_tree_read(v, f, strcmp(path, "-") == 0 ? "<stdin>" : path, tree_ok);
	if (f != stdin)
		fclose(f);
	return err;
}

int main(int argc, char **argv)
{
	static char outbuf[1 << 16];
	struct opts o = { .fmt = LS_FMT_TEXT };
	struct ls_view v = { 0 };
	struct ls_report *r;
	struct ls_modset s = { 0 };
	char *defdir = NULL;
	int first, err, rc = 1;

	first = parse_opts(argc, argv, &o);
	if (first < 0) {
		if (first == -1)
			fputs("try '" LS_PROG " --help'\n", stderr);
		return first == -2 ? 0 : 2;
	}
	if (elf_version(EV_CURRENT) == EV_NONE) {
		ls_util_msg("libelf is too old");
		return 1;
	}
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));

	if (o.pid != NULL) {
		if ((r = ls_view_add(&v)) == NULL)
			goto nomem;
		err = ls_maps_read_pid(r, o.pid);
	} else if (o.bare) {
		err = read_operand(&v, o.report, false);
	} else {
		err = 0;
		for (int i = first; i < argc && err == 0; i++)
			err = read_operand(&v, argv[i], true);
		if (err == 0 && o.base != NULL) {
			size_t n = v.nproc;

			err = read_operand(&v, o.base, true);
			for (size_t p = n; p < v.nproc; p++)
				v.proc[p].base = true;
			v.nbase = v.nproc - n;
			v.diff = true;
		}
	}
	if (err)
		goto out;
	if (o.bare && (err = ls_report_add_stack(&v.proc[0].r, argv + first, (size_t)(argc - first))) != 0)
		goto out;

	defdir = malloc(strlen(o.sysroot ? o.sysroot : "") + sizeof(DEFAULT_DEBUG_DIR));
	if (defdir == NULL)
		goto nomem;
	strcpy(defdir, o.sysroot ? o.sysroot : "");
	strcat(defdir, DEFAULT_DEBUG_DIR);
	o.debug_dir[o.ndebug_dir++] = defdir;
	s.sysroot = o.sysroot;
	s.debug_dir = o.debug_dir;
	s.ndebug_dir = o.ndebug_dir;
	/* one report translates as it is; a tree report or several are merged */
	if (ls_view_finish(&v, &s, !o.bare && (argc - first > 1 || v.ntree > 0 || o.base != NULL)) != 0)
		goto nomem;

	v.colour_verdict = o.colour_verdict;
	if (o.verdict_only)
		ls_verdict_filter(v.r, o.verdict);
	if (o.summary) {
		ls_verdict_summary(stdout, v.r);
		fputc('\n', stdout);
		err = fflush(stdout) != 0 || ferror(stdout) ? -EIO : 0;
	} else if (o.bare)
		err = ls_output_stack(stdout, &v.proc[0].r, v.proc[0].sym, o.fmt);
	else
		err = write_report(&v, &o);
	if (err == -ENOMEM)
		goto nomem;
	if (err) {
		ls_util_msg("write error: %s", strerror(-err));
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	ls_util_msg("out of memory");
out:
	ls_view_free(&v);
	ls_modset_free(&s);
	free(defdir);
	return rc;
}
