/* SPDX-License-Identifier: MIT */
/* view.c: what the writers show: one report's leaks, or the leaks of many processes merged by code (module and file offset). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

/* ------------------------------------------------------------------ merge */

/* The state of one merge: the kinds of leaks seen and the modules. */
struct merger {
	struct ls_strtab kinds;   /* a leak's key (leak_key) -> merged leak index */
	struct ls_strtab modules; /* "b" BUILD_ID or "p" PATH -> module id */
	uint32_t *module_of;      /* the module id of each map of the current
				     process, UINT32_MAX until first needed */
	struct ls_buf key, ident;
};

/* Stores in *id the module id of map m (index i of the current process):
 * the same for every map of one file, by build ID, else by path. Returns
 * 0 or -ENOMEM. */
static int module_id(struct merger *mg, const struct ls_map *m, size_t i, uint32_t *id)
{
	if (mg->module_of[i] != UINT32_MAX) {
		*id = mg->module_of[i];
		return 0;
	}
	mg->ident.len = 0;
	if (m->build_id_len == 0 && ls_buf_printf(&mg->ident, "p%s", m->path) != 0)
		return -ENOMEM;
	for (size_t j = 0; j < m->build_id_len; j++)
		if (ls_buf_printf(&mg->ident, j ? "%02x" : "b%02x", m->build_id[j]) != 0)
			return -ENOMEM;
	if (ls_strtab_intern(&mg->modules, mg->ident.s, id) != 0)
		return -ENOMEM;
	mg->module_of[i] = *id;
	return 0;
}

/* Makes mg->key the key of leak l of process proc (report r): its via
 * and, per address, the module and file offset of the map holding it, so
 * that the same code at other addresses in another process gives the
 * same key; an address outside every map is only ever itself in its own
 * process. Returns 0 or -ENOMEM. */
static int leak_key(struct merger *mg, const struct ls_report *r, size_t proc, const struct ls_leak *l)
{
	mg->key.len = 0;
	if (ls_buf_printf(&mg->key, "%s|", l->via != NULL ? l->via : "") != 0)
		return -ENOMEM;
	for (size_t i = 0; i < l->naddr; i++) {
		uint64_t a = l->addr[i];
		/* found the way ls_sym_lookup finds it: a return address at a - 1 */
		const struct ls_map *m = ls_maps_find(r, i > 0 ? a - 1 : a);
		uint32_t id;

		if (m == NULL) {
			if (ls_buf_printf(&mg->key, "u%zx:%llx;", proc, (unsigned long long)a) != 0)
				return -ENOMEM;
			continue;
		}
		if (module_id(mg, m, (size_t)(m - r->map), &id) != 0 ||
		    ls_buf_printf(&mg->key, "%x:%llx;", id, (unsigned long long)(a - m->start + m->offset)) != 0)
			return -ENOMEM;
	}
	return 0;
}

/* Makes merged leak d, the first of its kind, from leak l of process proc.
 * Returns 0 or -ENOMEM. */
static int first_of_kind(struct ls_leak *d, const struct ls_leak *l, size_t proc)
{
	*d = *l;
	d->proc = proc;
	d->max_age = strdup(l->max_age);
	d->min_age = strdup(l->min_age);
	d->via = l->via != NULL ? strdup(l->via) : NULL;
	d->addr = malloc((l->naddr ? l->naddr : 1) * sizeof(*d->addr));
	d->procs = malloc(sizeof(*d->procs));
	d->nprocs = 1;
	if (d->max_age == NULL || d->min_age == NULL || (l->via != NULL && d->via == NULL) || d->addr == NULL ||
	    d->procs == NULL)
		return -ENOMEM;
	memcpy(d->addr, l->addr, l->naddr * sizeof(*d->addr));
	d->procs[0] = proc;
	ls_verdict_merge(d, l, true);
	if (l->nseries > 0 && d->series == NULL)
		return -ENOMEM;
	return 0;
}

/* Adds leak l of process proc to merged leak d of the same kind. Returns 0
 * or -ENOMEM. */
static int add_to_kind(struct ls_leak *d, const struct ls_leak *l, size_t proc)
{
	ls_util_add_sat(&d->count, l->count);
	ls_util_add_sat(&d->bytes, l->bytes);
	ls_util_add_sat(&d->est_count, l->est_count);
	ls_util_add_sat(&d->est_bytes, l->est_bytes);
	ls_estimate_merge(d, l);
	ls_verdict_merge(d, l, false);
	if (ls_util_decimal_cmp(l->max_age, d->max_age) > 0) {
		char *s = strdup(l->max_age);

		if (s == NULL)
			return -ENOMEM;
		free(d->max_age);
		d->max_age = s;
	}
	if (ls_util_decimal_cmp(l->min_age, d->min_age) < 0) {
		char *s = strdup(l->min_age);

		if (s == NULL)
			return -ENOMEM;
		free(d->min_age);
		d->min_age = s;
	}
	/* processes come in input order: one that had the stack twice (a
	 * module loaded again elsewhere) is already last */
	if (d->procs[d->nprocs - 1] != proc) {
		size_t *p = realloc(d->procs, (d->nprocs + 1) * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		d->procs = p;
		d->procs[d->nprocs++] = proc;
	}
	return 0;
}

/* Sorts by estimated bytes, descending, as a report is; ties keep the
 * order in which the stacks were first seen. */
static int by_est_bytes(const void *a, const void *b, void *arg)
{
	const struct ls_leak *leak = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	if (leak[i].est_bytes != leak[j].est_bytes)
		return leak[i].est_bytes > leak[j].est_bytes ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* Merges the leaks of every process of v into v->merge. Returns 0 or
 * -ENOMEM. */
/* Makes leak d, which has l's figures, one of the base: they move to
 * base_*, and nothing of it is in the new reports yet. */
static void to_base(struct ls_leak *d)
{
	d->base_count = d->count, d->base_bytes = d->bytes;
	d->base_est_count = d->est_count, d->base_est_bytes = d->est_bytes;
	d->count = d->bytes = d->est_count = d->est_bytes = 0;
	d->var_count = d->var_bytes = 0;
	d->allocs = d->frees = 0;
	free(d->series);
	d->series = NULL;
	d->nseries = 0;
	d->has_series = false;
	memset(&d->verdict, 0, sizeof(d->verdict));
	d->in_base = true;
	d->in_new = false;
}

/* --base: each leak's growth since the base, in its figures. */
static void diff_leaks(struct ls_report *m)
{
	for (size_t i = 0; i < m->nleak; i++) {
		struct ls_leak *d = &m->leak[i];

		d->delta_count = (double)d->count - (double)d->base_count;
		d->delta_est_count = (double)d->est_count - (double)d->base_est_count;
		d->delta_est_bytes = (double)d->est_bytes - (double)d->base_est_bytes;
		d->count = d->delta_count > 0 ? (uint64_t)d->delta_count : 0;
		d->bytes = d->bytes > d->base_bytes ? d->bytes - d->base_bytes : 0;
		d->est_count = d->delta_est_count > 0 ? (uint64_t)d->delta_est_count : 0;
		d->est_bytes = d->delta_est_bytes > 0 ? (uint64_t)d->delta_est_bytes : 0;
	}
}

/* --base: by growth of estimated bytes, then as by_est_bytes. */
static int by_delta(const void *a, const void *b, void *arg)
{
	const struct ls_leak *leak = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	if (leak[i].delta_est_bytes != leak[j].delta_est_bytes)
		return leak[i].delta_est_bytes > leak[j].delta_est_bytes ? -1 : 1;
	return i < j ? -1 : i > j;
}

static int merge_leaks(struct ls_view *v)
{
	struct ls_report *m = &v->merge;
	struct merger mg = { 0 };
	struct ls_leak *sorted = NULL;
	size_t *order = NULL;
	int err = -ENOMEM;

	for (size_t p = 0; p < v->nproc; p++) {
		const struct ls_report *r = &v->proc[p].r;

		free(mg.module_of);
		if ((mg.module_of = malloc((r->nmap ? r->nmap : 1) * sizeof(*mg.module_of))) == NULL)
			goto out;
		memset(mg.module_of, 0xff, r->nmap * sizeof(*mg.module_of));
		bool base = v->proc[p].base;

		if (!base) {
			ls_util_add_sat(&m->total_est_bytes, r->total_est_bytes);
			ls_estimate_add(&m->total, &r->total, p == 0);
			v->intervals |= r->version >= 2 && !v->diff;
		}
		for (size_t i = 0; i < r->nleak; i++) {
			const struct ls_leak *l = &r->leak[i];
			uint32_t id;

			if (leak_key(&mg, r, p, l) != 0 || ls_strtab_intern(&mg.kinds, mg.key.s, &id) != 0)
				goto out;
			if (id < m->nleak && base) {
				struct ls_leak *d = &m->leak[id];

				ls_util_add_sat(&d->base_count, l->count);
				ls_util_add_sat(&d->base_bytes, l->bytes);
				ls_util_add_sat(&d->base_est_count, l->est_count);
				ls_util_add_sat(&d->base_est_bytes, l->est_bytes);
				d->in_base = true;
				continue;
			}
			if (id < m->nleak) {
				struct ls_leak *d = &m->leak[id];

				if (!d->in_new) {
					/* a stack of the base seen again: only the
					 * base came first (never: new reports are
					 * read first); keep it simple and take l */
					uint64_t bc = d->base_count, bb = d->base_bytes;
					uint64_t bec = d->base_est_count, beb = d->base_est_bytes;

					ls_report_free_leak(d);
					if (first_of_kind(d, l, p) != 0)
						goto out;
					d->base_count = bc, d->base_bytes = bb;
					d->base_est_count = bec, d->base_est_bytes = beb;
					d->in_base = true;
					d->in_new = true;
					continue;
				}
				if (add_to_kind(d, l, p) != 0)
					goto out;
				continue;
			}
			struct ls_leak *d = ls_util_push((void **)&m->leak, &m->nleak, sizeof(*d));

			if (d == NULL || first_of_kind(d, l, p) != 0)
				goto out;
			d->in_new = true;
			d->in_base = false;
			if (base)
				to_base(d);
		}
	}
	if (m->nleak > 0) {
		order = malloc(m->nleak * sizeof(*order));
		sorted = malloc(m->nleak * sizeof(*sorted));
		if (order == NULL || sorted == NULL)
			goto out;
		for (size_t i = 0; i < m->nleak; i++)
			order[i] = i;
		if (v->diff)
			diff_leaks(m);
		qsort_r(order, m->nleak, sizeof(*order), v->diff ? by_delta : by_est_bytes, m->leak);
		for (size_t i = 0; i < m->nleak; i++)
			sorted[i] = m->leak[order[i]];
		free(m->leak);
		m->leak = sorted;
		sorted = NULL;
	}
	err = 0;
out:
	free(order);
	free(sorted);
	free(mg.module_of);
	ls_buf_free(&mg.key);
	ls_buf_free(&mg.ident);
	ls_strtab_free(&mg.kinds);
	ls_strtab_free(&mg.modules);
	return err;
}

/* ------------------------------------------------------------------ view */

struct ls_report *ls_view_add(struct ls_view *v)
{
	struct ls_proc *p = ls_util_push((void **)&v->proc, &v->nproc, sizeof(*p));

	return p != NULL ? &p->r : NULL;
}

int ls_view_finish(struct ls_view *v, struct ls_modset *s, bool merge)
{
	for (size_t p = 0; p < v->nproc; p++) {
		if (ls_maps_index(&v->proc[p].r) != 0 || (v->proc[p].sym = ls_sym_new(&v->proc[p].r, s)) == NULL)
			return -ENOMEM;
	}
	/* one report is shown as it is; anything else is merged, even nothing */
	v->merged = merge || v->nproc != 1;
	if (!v->merged) {
		v->r = &v->proc[0].r;
		v->intervals = v->r->version >= 2;
		for (size_t i = 0; i < v->r->nleak; i++)
			v->series |= v->r->leak[i].verdict.kind != LS_VERDICT_NONE;
		return 0;
	}
	v->r = &v->merge;
	int err = merge_leaks(v);

	for (size_t i = 0; i < v->r->nleak; i++)
		v->series |= v->r->leak[i].verdict.kind != LS_VERDICT_NONE;
	return err;
}

/* ------------------------------------------------------------- queries */

bool ls_view_tree_sum(const struct ls_view *v, const char *key, uint64_t *sum)
{
	bool seen = false;

	*sum = 0;
	for (size_t t = 0; t < v->ntree; t++) {
		const struct ls_hdr *h = ls_hdr_find(v->tree[t].hdr, v->tree[t].nhdr, key);

		if (h != NULL && h->kind == LS_HDR_INT) {
			ls_util_add_sat(sum, h->a);
			seen = true;
		}
	}
	return seen;
}

void ls_view_proc_sum(const struct ls_view *v, const char *key, uint64_t *a, uint64_t *b)
{
	*a = *b = 0;
	for (size_t p = 0; p < v->nproc; p++) {
		const struct ls_hdr *h = ls_report_header(&v->proc[p].r, key);

		if (h != NULL && (h->kind == LS_HDR_INT || h->kind == LS_HDR_PAIR)) {
			ls_util_add_sat(a, h->a);
			ls_util_add_sat(b, h->b);
		}
	}
}

const char *ls_view_mode(const struct ls_view *v, uint64_t *sampling, uint64_t *sampling_bytes)
{
	size_t bytes = 0;

	*sampling = *sampling_bytes = 0;
	for (size_t p = 0; p < v->nproc; p++) {
		const struct ls_report *r = &v->proc[p].r;

		bytes += r->sampling_bytes > 0;
		*sampling = p == 0 || *sampling == r->sampling ? r->sampling : 0;
		*sampling_bytes = p == 0 || *sampling_bytes == r->sampling_bytes ? r->sampling_bytes : 0;
	}
	if (v->nproc > 0 && bytes == 0)
		return "count";
	if (v->nproc > 0 && bytes == v->nproc)
		return "bytes";
	return "mixed";
}

const struct ls_hdr *ls_view_root(const struct ls_view *v)
{
	const struct ls_hdr *h = v->ntree == 1 ? ls_hdr_find(v->tree[0].hdr, v->tree[0].nhdr, "root") : NULL;

	return h != NULL && h->kind == LS_HDR_INT ? h : NULL;
}

void ls_view_free(struct ls_view *v)
{
	for (size_t p = 0; p < v->nproc; p++) {
		ls_sym_free(v->proc[p].sym);
		ls_report_free(&v->proc[p].r);
	}
	for (size_t t = 0; t < v->ntree; t++) {
		ls_hdr_free(v->tree[t].hdr, v->tree[t].nhdr);
		for (size_t i = 0; i < v->tree[t].nerror; i++)
			free(v->tree[t].error[i]);
		free(v->tree[t].error);
	}
	free(v->proc);
	free(v->tree);
	ls_report_free(&v->merge);
	memset(v, 0, sizeof(*v));
}
