/* SPDX-License-Identifier: MIT */
/* maps.c: address-to-map lookup, and maps read from a live process (--pid). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

/* ------------------------------------------------------------- live process */

/* Parses one /proc/PID/maps line and appends it to r when it is an
 * executable mapping with a name. Returns 0, -EINVAL or -ENOMEM. */
static int add_proc_line(struct ls_report *r, const char *pid, char *line)
{
	uint64_t start, end, offset;
	char *p = line, *t, *dash;
	struct ls_map *m;

	/* start-end perms offset dev inode [path] */
	if ((t = strsep(&p, " ")) == NULL || (dash = strchr(t, '-')) == NULL)
		return -EINVAL;
	*dash = '\0';
	if (!ls_util_parse_hex(t, strlen(t), &start) || !ls_util_parse_hex(dash + 1, strlen(dash + 1), &end) ||
	    start >= end)
		return -EINVAL;
	char *perms = strsep(&p, " "), *off = strsep(&p, " ");

	if (perms == NULL || strlen(perms) != 4 || off == NULL || !ls_util_parse_hex(off, strlen(off), &offset))
		return -EINVAL;
	if (strsep(&p, " ") == NULL || strsep(&p, " ") == NULL) /* dev, inode */
		return -EINVAL;
	if (perms[2] != 'x' || p == NULL)
		return 0;
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0; /* anonymous executable memory (JIT): no module to name */

	m = realloc(r->map, (r->nmap + 1) * sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	r->map = m;
	m = &r->map[r->nmap];
	memset(m, 0, sizeof(*m));
	m->start = start;
	m->end = end;
	m->offset = offset;
	memcpy(m->perms, perms, 4);
	m->path = strdup(p);
	if (m->path == NULL)
		return -ENOMEM;
	r->nmap++;

	/* The mapped file itself, even if replaced on disk since; root only. */
	char mf[96];

	snprintf(mf, sizeof(mf), "/proc/%s/map_files/%llx-%llx", pid, (unsigned long long)start,
		 (unsigned long long)end);
	if (ls_module_file_build_id(mf, m->build_id, &m->build_id_len) != 0)
		m->build_id_len = 0;
	return 0;
}

int ls_maps_read_pid(struct ls_report *r, const char *pid)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	uint64_t v;
	unsigned long lineno = 0;
	ssize_t n;
	FILE *f;
	int err = 0;

	if (!ls_util_parse_u64(pid, strlen(pid), &v) || v == 0 || v > 4194304 || pid[0] == '0') {
		ls_util_msg("--pid: '%.40s' is not a process id", pid);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	f = fopen(path, "re");
	if (f == NULL) {
		err = -errno;
		ls_util_msg("%s: %s", path, strerror(errno));
		return err;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		err = add_proc_line(r, pid, line);
		if (err == -EINVAL)
			ls_util_msg("%s:%lu: unexpected line", path, lineno);
		if (err)
			goto out;
	}
	if (ferror(f)) {
		ls_util_msg("%s: read error", path);
		err = -EIO;
	}
out:
	free(line);
	fclose(f);
	return err;
}

/* ------------------------------------------------------------------ lookup */

static int by_start(const void *a, const void *b, void *ctx)
{
	const struct ls_report *r = ctx;
	const struct ls_map *x = &r->map[*(const size_t *)a], *y = &r->map[*(const size_t *)b];

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

int ls_maps_index(struct ls_report *r)
{
	if (r->nmap == 0)
		return 0;
	r->by_start = malloc(r->nmap * sizeof(*r->by_start));
	r->max_end = malloc(r->nmap * sizeof(*r->max_end));
	if (r->by_start == NULL || r->max_end == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < r->nmap; i++)
		r->by_start[i] = i;
	qsort_r(r->by_start, r->nmap, sizeof(*r->by_start), by_start, r);
	for (size_t i = 0; i < r->nmap; i++) {
		uint64_t e = r->map[r->by_start[i]].end;

		r->max_end[i] = i > 0 && r->max_end[i - 1] > e ? r->max_end[i - 1] : e;
	}
	return 0;
}

struct ls_map *ls_maps_find(const struct ls_report *r, uint64_t addr)
{
	size_t lo = 0, hi = r->nmap, best = SIZE_MAX;

	if (r->by_start == NULL)
		return NULL;
	/* lo = number of maps starting at or below addr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->map[r->by_start[mid]].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Walk back while an earlier map may still reach addr; with no
	 * overlaps this stops after one step. */
	while (lo > 0 && r->max_end[lo - 1] > addr) {
		size_t i = r->by_start[--lo];

		if (addr < r->map[i].end && i < best)
			best = i;
	}
	return best == SIZE_MAX ? NULL : &r->map[best];
}
