/* SPDX-License-Identifier: MIT */
/* flame.c: the flame graph of leaked bytes: its tree, its layout, and its SVG (--format svg, and inside html). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

/* Geometry, in SVG user units (pixels at 100%). */
#define SVG_W 1200
#define PAD 10              /* left and right margins */
#define GRAPH_W (SVG_W - 2 * PAD)
#define FRAME_H 16          /* one level: a 15-unit bar and a gap */
#define TOP 52              /* heading and summary lines (standalone) */
#define TOP_INLINE 28       /* the reset line (in a page with headings of its own) */
#define BOTTOM 24           /* the hover line */
#define CHAR_W 7.2          /* 12-unit monospace glyphs are 0.6 em wide */
#define MIN_W 0.1           /* narrower frames are left out, as flamegraph.pl does */
#define STR(x) #x
#define XSTR(x) STR(x)      /* the numbers above, for the script */

/* ------------------------------------------------------------------ the tree */

/* Finds or makes the node called name under parent; *created tells which.
 * Returns its index in *out; 0 or -ENOMEM. */
static int child(struct ls_flame *fl, uint32_t parent, const char *name, uint32_t *out, bool *created)
{
	uint32_t id;
	uint64_t key;
	void *v;

	if (ls_strtab_intern(&fl->names, name, &id) != 0)
		return -ENOMEM;
	/* nodes and names stay below 2^31, so the key neither overflows nor is 0 */
	key = ((uint64_t)parent << 32 | id) + 1;
	if ((v = ls_pmap_get(&fl->child, key)) != NULL) {
		*out = (uint32_t)((uintptr_t)v - 1);
		*created = false;
		return 0;
	}
	if (fl->n >= INT32_MAX || id >= INT32_MAX)
		return -ENOMEM;
	if (fl->n == fl->cap) {
		size_t cap = fl->cap ? fl->cap * 2 : 256;
		struct ls_flame_node *node = realloc(fl->node, cap * sizeof(*node));

		if (node == NULL)
			return -ENOMEM;
		fl->node = node;
		fl->cap = cap;
	}
	if (ls_pmap_put(&fl->child, key, (void *)(uintptr_t)(fl->n + 1)) != 0)
		return -ENOMEM;
	fl->node[fl->n] = (struct ls_flame_node){
		.name = fl->names.str[id], .parent = parent, .depth = fl->node[parent].depth + 1,
	};
	*out = (uint32_t)fl->n++;
	*created = true;
	return 0;
}

/* Adds one leak's frames, outermost first, below the root. Returns 0 or
 * -ENOMEM. */
static int add_leak(struct ls_flame *fl, const struct ls_stack *st, const struct ls_leak *l, struct ls_buf *scratch)
{
	struct ls_flame_node *nd = &fl->node[0];
	uint32_t at = 0;
	bool created;

	ls_util_add_sat(&nd->bytes, l->est_bytes);
	ls_util_add_sat(&nd->count, l->est_count);
	nd->w += (double)l->est_bytes;
	if (st->skip == st->n) {
		/* nothing left but allocator frames: still part of the total */
		if (child(fl, 0, "(no frames)", &at, &created) != 0)
			return -ENOMEM;
		nd = &fl->node[at];
		nd->unknown = true;
		ls_util_add_sat(&nd->bytes, l->est_bytes);
		ls_util_add_sat(&nd->count, l->est_count);
		nd->w += (double)l->est_bytes;
		nd->vbytes[l->verdict.kind] += (double)l->est_bytes;
		return 0;
	}
	for (size_t i = st->n; i-- > st->skip;) {
		const struct ls_vframe *v = &st->v[i];
		const char *name = ls_output_name(v, scratch);

		if (name == NULL || child(fl, at, name, &at, &created) != 0)
			return -ENOMEM;
		nd = &fl->node[at];
		if (created) {
			nd->file = v->f->file;
			nd->line = v->f->line;
			nd->module = v->loc->module;
			nd->unknown = v->f->function == NULL;
		} else if (nd->line != v->f->line || (nd->file != v->f->file &&
			   (nd->file == NULL || v->f->file == NULL || strcmp(nd->file, v->f->file) != 0))) {
			nd->mixed = true;
		}
		ls_util_add_sat(&nd->bytes, l->est_bytes);
		ls_util_add_sat(&nd->count, l->est_count);
		nd->w += (double)l->est_bytes;
		nd->vbytes[l->verdict.kind] += (double)l->est_bytes;
	}
	return 0;
}

/* Orders children by parent, then by name, as flame graphs do. */
static int by_parent_name(const void *a, const void *b, void *arg)
{
	const struct ls_flame *fl = arg;
	const struct ls_flame_node *x = &fl->node[*(const uint32_t *)a], *y = &fl->node[*(const uint32_t *)b];

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Sorts the children and gives each node its x and width as fractions of
 * the root. Returns 0 or -ENOMEM. */
static int layout(struct ls_flame *fl)
{
	double total = fl->node[0].w;

	if (fl->n > 1) {
		fl->kid = malloc((fl->n - 1) * sizeof(*fl->kid));
		if (fl->kid == NULL)
			return -ENOMEM;
		for (size_t i = 1; i < fl->n; i++)
			fl->kid[i - 1] = (uint32_t)i;
		qsort_r(fl->kid, fl->n - 1, sizeof(*fl->kid), by_parent_name, fl);
		for (size_t i = 0; i < fl->n - 1; i++) {
			struct ls_flame_node *p = &fl->node[fl->node[fl->kid[i]].parent];

			if (p->nchild++ == 0)
				p->first = (uint32_t)i;
		}
	}
	/* A parent's index is below its children's, so one pass in index
	 * order places every parent before its children. */
	for (size_t i = 0; i < fl->n; i++) {
		struct ls_flame_node *p = &fl->node[i];

		p->w = i == 0 ? 1.0 : total > 0 ? p->w / total : 0.0;
		if (i == 0)
			p->x = 0.0;
	}
	for (size_t i = 0; i < fl->n; i++) {
		const struct ls_flame_node *p = &fl->node[i];
		double x = p->x;

		for (uint32_t k = 0; k < p->nchild; k++) {
			struct ls_flame_node *c = &fl->node[fl->kid[p->first + k]];

			c->x = x;
			x += c->w;
		}
	}
	return 0;
}

int ls_flame_build(struct ls_flame *fl, const struct ls_view *v, size_t top)
{
	const struct ls_report *r = v->r;
	struct ls_stack st = { 0 };
	struct ls_buf scratch = { 0 };
	size_t n = top > 0 && top < r->nleak ? top : r->nleak;
	uint32_t root;
	int err = -ENOMEM;

	memset(fl, 0, sizeof(*fl));
	/* the root is named like no frame can be: "all" would merge with a
	 * function of that name only if it were a child, which it never is */
	fl->cap = 256;
	fl->node = calloc(fl->cap, sizeof(*fl->node));
	if (fl->node == NULL || ls_strtab_intern(&fl->names, "all", &root) != 0)
		goto out;
	fl->node[0].name = fl->names.str[root];
	fl->n = 1;
	for (size_t i = 0; i < n; i++) {
		if ((err = ls_output_expand(&st, ls_view_sym(v, &r->leak[i]), &r->leak[i])) != 0 ||
		    (err = add_leak(fl, &st, &r->leak[i], &scratch)) != 0)
			goto out;
	}
	fl->nleak = n;
	err = layout(fl);
out:
	free(st.v);
	ls_buf_free(&scratch);
	return err;
}

void ls_flame_free(struct ls_flame *fl)
{
	free(fl->node);
	free(fl->kid);
	ls_strtab_free(&fl->names);
	ls_pmap_free(&fl->child);
	memset(fl, 0, sizeof(*fl));
}

/* ------------------------------------------------------------------- drawing */

/* A warm colour from the name, so a function keeps its colour from graph
 * to graph; grey for frames without a function name. */
static void colour(const struct ls_flame_node *nd, char out[8])
{
	uint64_t h = 0xcbf29ce484222325ull;

	if (nd->unknown) {
		memcpy(out, "#b8b8b8", 8);
		return;
	}
	for (const char *s = nd->name; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	h ^= h >> 29;
	snprintf(out, 8, "#%02x%02x%02x", (unsigned)(205 + h % 51), (unsigned)(90 + (h >> 8) % 130),
		 (unsigned)(30 + (h >> 16) % 60));
}

/* --colour verdict: by the verdict that holds most of the frame's bytes,
 * red for growing, blue for plateau, yellow for undecided, grey for none;
 * paler when the others hold a larger part. */
static void colour_verdict(const struct ls_flame_node *nd, char out[8])
{
	static const unsigned rgb[][3] = { { 184, 184, 184 }, { 220, 50, 40 }, { 70, 120, 200 }, { 225, 190, 60 } };
	double total = 0, best = -1;
	int k = 0;

	for (int i = 0; i <= LS_VERDICT_UNDECIDED; i++) {
		total += nd->vbytes[i];
		if (nd->vbytes[i] > best)
			best = nd->vbytes[i], k = i;
	}
	double f = total > 0 ? best / total : 1; /* 1/4 .. 1 */
	double pale = 1 - f;
	snprintf(out, 8, "#%02x%02x%02x", (unsigned)(rgb[k][0] + (255 - rgb[k][0]) * pale),
		 (unsigned)(rgb[k][1] + (255 - rgb[k][1]) * pale), (unsigned)(rgb[k][2] + (255 - rgb[k][2]) * pale));
}

/* Writes as much of name as fits in px units, cut with "..", escaped. */
static void label(FILE *out, const char *name, double px, struct ls_buf *scratch)
{
	long fit = (long)((px - 6) / CHAR_W);
	const unsigned char *p = (const unsigned char *)name;
	size_t chars = 0, cut = 0;

	if (fit < 3)
		return;
	/* count characters, not bytes, and never cut one in two */
	for (size_t i = 0; p[i] != '\0'; chars++) {
		size_t len = ls_util_utf8_len(p + i);

		if (chars == (size_t)fit - 2)
			cut = i;
		i += len > 0 ? len : 1;
	}
	if (chars <= (size_t)fit) {
		ls_output_markup(out, name);
		return;
	}
	scratch->len = 0;
	if (ls_buf_printf(scratch, "%.*s..", (int)cut, name) == 0)
		ls_output_markup(out, scratch->s);
}

/* Writes a node's tooltip: its name, where it is, and its bytes. */
static void title(FILE *out, const struct ls_flame *fl, const struct ls_flame_node *nd)
{
	ls_output_markup(out, nd->name);
	if (nd == &fl->node[0]) {
		fprintf(out, "\n%zu stack%s", fl->nleak, fl->nleak == 1 ? "" : "s");
	} else if (nd->file != NULL) {
		fputs("\nat ", out);
		ls_output_markup(out, nd->file);
		if (nd->line > 0)
			fprintf(out, ":%u", nd->line);
		if (nd->mixed)
			fputs(" and other lines", out);
		if (nd->module != NULL) {
			fputs(" (", out);
			ls_output_markup(out, nd->module);
			fputc(')', out);
		}
	} else if (nd->module != NULL) {
		fputs("\nin ", out);
		ls_output_markup(out, nd->module);
	}
	fprintf(out, "\n%llu bytes estimated (%.2f%%), %llu allocations", (unsigned long long)nd->bytes,
		nd->w * 100.0, (unsigned long long)nd->count);
}

/* Fills order with the nodes to draw, parents first (preorder, children by
 * name), leaving out those narrower than MIN_W; *depth gets the deepest
 * level drawn. Returns how many, or 0 when out of memory. */
static size_t draw_order(const struct ls_flame *fl, uint32_t *order, uint32_t *depth)
{
	uint32_t *todo = malloc(fl->n * sizeof(*todo));
	size_t ntodo = 0, n = 0;

	if (todo == NULL)
		return 0;
	*depth = 0;
	todo[ntodo++] = 0;
	while (ntodo > 0) {
		uint32_t i = todo[--ntodo];
		const struct ls_flame_node *nd = &fl->node[i];

		if (i != 0 && nd->w * GRAPH_W < MIN_W)
			continue;
		order[n++] = i;
		if (nd->depth > *depth)
			*depth = nd->depth;
		for (uint32_t k = nd->nchild; k-- > 0;)
			todo[ntodo++] = fl->kid[nd->first + k];
	}
	free(todo);
	return n;
}

static const char flame_css[] =
	"#ls-flame .f{cursor:pointer}"
	"#ls-flame .f rect{stroke:#fff;stroke-width:0.5}"
	"#ls-flame .f:hover rect{stroke:#000;stroke-width:1}"
	"#ls-flame text{pointer-events:none;fill:#000}"
	"#ls-flame #ls-reset{pointer-events:auto;cursor:pointer;fill:#0645ad}";

int ls_flame_svg(FILE *out, const struct ls_flame *fl, const struct ls_view *v, bool standalone)
{
	uint32_t *order = malloc(fl->n * sizeof(*order)), *shown = malloc(fl->n * sizeof(*shown)), depth = 0;
	struct ls_buf scratch = { 0 };
	char *summary = NULL, fill[8];
	size_t n = 0, summary_len = 0;
	FILE *mem = open_memstream(&summary, &summary_len);
	int err = -ENOMEM;
	unsigned top, height;

	if (mem == NULL)
		goto out;
	ls_output_summary(mem, v);
	if (fclose(mem) != 0 || order == NULL || shown == NULL || (n = draw_order(fl, order, &depth)) == 0)
		goto out;
	top = standalone ? TOP : TOP_INLINE;
	height = top + (depth + 1) * FRAME_H + BOTTOM;
	if (standalone)
		fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", out);
	fprintf(out,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" id=\"ls-flame\" width=\"%d\" height=\"%u\" "
		"viewBox=\"0 0 %d %u\" font-family=\"monospace\" font-size=\"12\">\n<style>%s</style>\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"#fbfbf7\"/>\n"
		"<text id=\"ls-reset\" x=\"%d\" y=\"20\" style=\"display:none\">Reset zoom</text>\n",
		SVG_W, height, SVG_W, height, flame_css, PAD);
	if (standalone) {
		fprintf(out, "<text x=\"%d\" y=\"20\" font-size=\"16\" text-anchor=\"middle\">"
			     "Leaked bytes (estimated), by stack</text>\n<text x=\"%d\" y=\"40\">",
			SVG_W / 2, PAD);
		ls_output_markup(out, summary);
		fputs("</text>\n", out);
	}
	fprintf(out, "<text id=\"ls-info\" x=\"%d\" y=\"%u\"> </text>\n<g id=\"ls-frames\">\n", PAD, height - 8);
	for (size_t k = 0; k < n; k++) {
		const struct ls_flame_node *nd = &fl->node[order[k]];
		double x = PAD + nd->x * GRAPH_W, w = nd->w * GRAPH_W;
		unsigned yy = top + (depth - nd->depth) * FRAME_H;

		shown[order[k]] = (uint32_t)k;
		if (v->colour_verdict)
			colour_verdict(nd, fill);
		else
			colour(nd, fill);
		fprintf(out, "<g class=\"f\" data-p=\"%u\" data-d=\"%u\" data-x=\"%.9f\" data-w=\"%.9f\"><title>",
			k == 0 ? 0 : shown[nd->parent], nd->depth, nd->x, nd->w);
		title(out, fl, nd);
		fprintf(out, "</title><rect x=\"%.2f\" y=\"%u\" width=\"%.2f\" height=\"%d\" fill=\"%s\"/>"
			     "<text x=\"%.2f\" y=\"%u\">",
			x, yy, w, FRAME_H - 1, fill, x + 3, yy + 11);
		label(out, nd->name, w, &scratch);
		fputs("</text></g>\n", out);
	}
	fputs("</g>\n", out);
	if (standalone) {
		fputs("<script><![CDATA[\n", out);
		ls_flame_script(out);
		fputs("]]></script>\n", out);
	}
	fputs("</svg>\n", out);
	err = 0;
out:
	ls_buf_free(&scratch);
	free(summary);
	free(order);
	free(shown);
	return err;
}

/* Click a frame: it and its descendants fill the width, its ancestors
 * span it (faded), the rest hides; labels are cut again to the new
 * widths. Report data reaches the script only as DOM text (titles), read
 * with textContent and written back with textContent, never as code. */
static const char flame_js[] =
	"(function () {\n"
	"  var W = " XSTR(GRAPH_W) ", X0 = " XSTR(PAD) ", g = document.querySelectorAll('#ls-flame .f');\n"
	"  var info = document.getElementById('ls-info'), reset = document.getElementById('ls-reset');\n"
	"  function num(e, a) { return +e.getAttribute(a); }\n"
	"  function lines(e) { return e.querySelector('title').textContent.split('\\n'); }\n"
	"  function place(e, x, w) {\n"
	"    var r = e.querySelector('rect'), t = e.querySelector('text'), n = lines(e)[0];\n"
	"    var c = Math.floor((w * W - 6) / " XSTR(CHAR_W) ");\n"
	"    r.setAttribute('x', X0 + x * W); r.setAttribute('width', w * W); t.setAttribute('x', X0 + x * W + 3);\n"
	"    t.textContent = c < 3 ? '' : n.length <= c ? n : n.slice(0, c - 2) + '..';\n"
	"  }\n"
	"  function zoom(z) {\n"
	"    var zx = num(g[z], 'data-x'), zw = num(g[z], 'data-w') || 1, zd = num(g[z], 'data-d'), up = {}, open = false;\n"
	"    for (var a = z; a > 0; a = num(g[a], 'data-p')) up[num(g[a], 'data-p')] = true;\n"
	"    for (var i = 0; i < g.length; i++) {\n"
	"      var e = g[i];\n"
	"      if (i === z) open = true; else if (open && num(e, 'data-d') <= zd) open = false;\n"
	"      e.style.display = open || up[i] ? '' : 'none';\n"
	"      e.style.opacity = up[i] ? '0.6' : '';\n"
	"      if (open) place(e, (num(e, 'data-x') - zx) / zw, num(e, 'data-w') / zw);\n"
	"      else if (up[i]) place(e, 0, 1);\n"
	"    }\n"
	"    reset.style.display = z ? '' : 'none';\n"
	"  }\n"
	"  g.forEach(function (e, i) {\n"
	"    e.addEventListener('click', function () { zoom(i); });\n"
	"    e.addEventListener('mouseover', function () { var l = lines(e); info.textContent = l[0] + ' - ' + l[l.length - 1]; });\n"
	"    e.addEventListener('mouseout', function () { info.textContent = ' '; });\n"
	"  });\n"
	"  reset.addEventListener('click', function () { zoom(0); });\n"
	"  var m = /[#&]z=(\\d+)/.exec(location.hash);\n"
	"  if (m && +m[1] < g.length) zoom(+m[1]);\n"
	"})();\n";

void ls_flame_script(FILE *out)
{
	fputs(flame_js, out);
}

int ls_flame_write(FILE *out, const struct ls_view *v, size_t top)
{
	struct ls_flame fl;
	int err = ls_flame_build(&fl, v, top);

	if (err == 0)
		err = ls_flame_svg(out, &fl, v, true);
	ls_flame_free(&fl);
	if (err == 0 && (fflush(out) != 0 || ferror(out)))
		err = -EIO;
	return err;
}
