/* SPDX-License-Identifier: MIT */
/* module.c: finds each map's ELF file (sysroot, debug dirs), checks its build ID and opens it with libdwfl. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "translate.h"

#define DELETED " (deleted)"

struct ls_module {
	struct ls_module *next;
	const char *path;      /* as the report names it */
	const char *file;      /* the file opened, or NULL */
	uint8_t want_id[LS_BUILD_ID_MAX];
	size_t want_id_len;    /* 0: the report has none, accept any file */
	uint8_t file_id[LS_BUILD_ID_MAX];
	size_t file_id_len;
	enum ls_mod_status status;
	GElf_Phdr *load;       /* PT_LOAD headers of the file */
	size_t nload;
	bool nobits;           /* a debug file: code segments hold no bytes */
	Dwfl *dwfl;
	Dwfl_Module *dm;
	struct ls_symtab *syms;
	bool syms_tried;
	struct ls_modset *set;
};

/* ------------------------------------------------------------- safe opening */

/* Opens path read-only when it is a regular ELF file; never a device, FIFO
 * or anything else a report could name. Returns the fd and sets *elf, or
 * returns -1. */
static int open_elf(const char *path, Elf **elf)
{
	struct stat st;
	int fd;

	*elf = NULL;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return -1;
	/* O_NONBLOCK: should the path turn into a FIFO after stat, open
	 * must not hang; fstat then refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto fail;
	*elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (*elf == NULL || elf_kind(*elf) != ELF_K_ELF)
		goto fail;
	return fd;
fail:
	if (*elf != NULL)
		elf_end(*elf);
	*elf = NULL;
	close(fd);
	return -1;
}

/* Scans one block of notes for NT_GNU_BUILD_ID. True when found. */
static bool scan_notes(Elf_Data *d, uint8_t *id, size_t *len)
{
	GElf_Nhdr nh;
	size_t off = 0, next, name_off, desc_off;

	while (d != NULL && off < d->d_size && (next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    memcmp((const char *)d->d_buf + name_off, "GNU", 4) == 0 && nh.n_descsz > 0 &&
		    nh.n_descsz <= LS_BUILD_ID_MAX) {
			memcpy(id, (const char *)d->d_buf + desc_off, nh.n_descsz);
			*len = nh.n_descsz;
			return true;
		}
		off = next;
	}
	return false;
}

/* Reads the ELF's GNU build ID. True when it has one. Sections come first:
 * in a separate debug file the segments may point at nothing. */
static bool elf_build_id(Elf *elf, uint8_t *id, size_t *len)
{
	Elf_Scn *scn = NULL;
	size_t n;

	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) != NULL && sh.sh_type == SHT_NOTE &&
		    scan_notes(elf_getdata(scn, NULL), id, len))
			return true;
	}
	if (elf_getphdrnum(elf, &n) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) != NULL && ph.p_type == PT_NOTE &&
		    scan_notes(elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_NHDR), id, len))
			return true;
	}
	return false;
}

int ls_module_file_build_id(const char *path, uint8_t *id, size_t *len)
{
	Elf *elf;
	int fd = open_elf(path, &elf), err = 0;

	if (fd < 0)
		return -ENOENT;
	if (!elf_build_id(elf, id, len))
		err = -ENOENT;
	elf_end(elf);
	close(fd);
	return err;
}

static void hex(char *out, const uint8_t *id, size_t len)
{
	for (size_t i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
	out[2 * len] = '\0';
}

/* Builds "DIR/.build-id/xx/rest[suffix]" into buf. False if it does not fit. */
static bool build_id_path(char *buf, size_t size, const char *dir, const uint8_t *id, size_t len, const char *suffix)
{
	char h[2 * LS_BUILD_ID_MAX + 1];
	int n;

	if (len < 2)
		return false;
	hex(h, id, len);
	n = snprintf(buf, size, "%s/.build-id/%.2s/%s%s", dir, h, h + 2, suffix);
	return n > 0 && (size_t)n < size;
}

/* Opens path as the ELF whose build ID is id (any, when len is 0).
 * Returns the fd and sets *elf, or -1; *found tells whether a readable ELF
 * was there at all, with another build ID. */
static int open_checked(const char *path, const uint8_t *id, size_t len, Elf **elf, bool *found, uint8_t *got,
			size_t *got_len)
{
	int fd = open_elf(path, elf);

	*got_len = 0;
	if (fd < 0)
		return -1;
	*found = true;
	if (!elf_build_id(*elf, got, got_len))
		*got_len = 0;
	if (len == 0 || (*got_len == len && memcmp(got, id, len) == 0))
		return fd;
	elf_end(*elf);
	*elf = NULL;
	close(fd);
	return -1;
}

/* ------------------------------------------------------- debuginfo search */

static int no_elf(Dwfl_Module *dm, void **ud, const char *name, Dwarf_Addr base, char **file, Elf **elfp)
{
	return -1;
}

/* Opens candidate as a debug file for mod (same build ID when mod has one).
 * Returns the fd, with *name set to a malloc'd copy of candidate, or -1. */
static int try_debug(const struct ls_module *mod, const char *candidate, char **name)
{
	uint8_t got[LS_BUILD_ID_MAX];
	size_t got_len;
	bool found = false;
	Elf *elf;
	int fd;

	if (strcmp(candidate, mod->file) == 0)
		return -1;
	fd = open_checked(candidate, mod->file_id, mod->file_id_len, &elf, &found, got, &got_len);
	if (fd < 0)
		return -1;
	elf_end(elf);
	*name = strdup(candidate);
	if (*name == NULL) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads the alternate (dwz) file's build ID from debug file path's
 * .gnu_debugaltlink section: the file name, a NUL, then the ID. True when
 * found. */
static bool altlink_id(const char *path, uint8_t *id, size_t *len)
{
	Elf *elf;
	int fd = open_elf(path, &elf);
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	bool ok = false;

	if (fd < 0)
		return false;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		goto out;
	while (!ok && (scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *d;

		if (gelf_getshdr(scn, &sh) == NULL || (name = elf_strptr(elf, shstrndx, sh.sh_name)) == NULL ||
		    strcmp(name, ".gnu_debugaltlink") != 0 || (d = elf_getdata(scn, NULL)) == NULL)
			continue;
		const char *nul = memchr(d->d_buf, '\0', d->d_size);
		size_t n = nul == NULL ? 0 : d->d_size - (size_t)(nul - (const char *)d->d_buf) - 1;

		if (n > 0 && n <= LS_BUILD_ID_MAX) {
			memcpy(id, nul + 1, n);
			*len = n;
			ok = true;
		}
	}
out:
	elf_end(elf);
	close(fd);
	return ok;
}

/* libdwfl's find_debuginfo callback. Looks in each debug dir's .build-id
 * tree, then by .gnu_debuglink next to the file, in its .debug/ and under
 * the debug dirs. A second call with CRC 0 asks for the dwz alternate file.
 * Never asks debuginfod or anything else. Returns an fd or -1. */
static int find_debuginfo(Dwfl_Module *dm, void **ud, const char *modname, Dwarf_Addr base, const char *file_name,
			  const char *link, GElf_Word crc, char **debug_name)
{
	struct ls_module *mod = *ud;
	struct ls_modset *s;
	char buf[4096], dir[4096];
	const char *slash;
	int fd = -1;

	if (mod == NULL || mod->file == NULL)
		return -1;
	s = mod->set;
	if (link != NULL && crc == 0) {
		/* The dwz alternate file: by its build ID, then by its name. */
		uint8_t id[LS_BUILD_ID_MAX];
		size_t len = 0;
		struct ls_module alt = { .file = "" };

		if (file_name != NULL && altlink_id(file_name, id, &len)) {
			memcpy(alt.file_id, id, len);
			alt.file_id_len = len;
			for (size_t i = 0; fd < 0 && i < s->ndebug_dir; i++)
				if (build_id_path(buf, sizeof(buf), s->debug_dir[i], id, len, ".debug"))
					fd = try_debug(&alt, buf, debug_name);
		}
		if (fd < 0 && alt.file_id_len > 0 && link[0] == '/' && strstr(link, "/../") == NULL &&
		    snprintf(buf, sizeof(buf), "%s%s", s->sysroot ? s->sysroot : "", link) < (int)sizeof(buf))
			fd = try_debug(&alt, buf, debug_name);
		return fd;
	}
	for (size_t i = 0; fd < 0 && i < s->ndebug_dir; i++)
		if (build_id_path(buf, sizeof(buf), s->debug_dir[i], mod->file_id, mod->file_id_len, ".debug"))
			fd = try_debug(mod, buf, debug_name);
	if (fd >= 0 || link == NULL || strchr(link, '/') != NULL || mod->file_id_len == 0)
		return fd; /* without a build ID to check, a debuglink could name anything */

	slash = strrchr(mod->file, '/');
	if (slash == NULL || (size_t)(slash - mod->file) >= sizeof(dir))
		return -1;
	memcpy(dir, mod->file, (size_t)(slash - mod->file));
	dir[slash - mod->file] = '\0';
	if (snprintf(buf, sizeof(buf), "%s/%s", dir, link) < (int)sizeof(buf))
		fd = try_debug(mod, buf, debug_name);
	if (fd < 0 && snprintf(buf, sizeof(buf), "%s/.debug/%s", dir, link) < (int)sizeof(buf))
		fd = try_debug(mod, buf, debug_name);
	slash = strrchr(mod->path, '/');
	for (size_t i = 0; fd < 0 && slash != NULL && i < s->ndebug_dir; i++)
		if (snprintf(buf, sizeof(buf), "%s%.*s/%s", s->debug_dir[i], (int)(slash - mod->path), mod->path,
			     link) < (int)sizeof(buf))
			fd = try_debug(mod, buf, debug_name);
	return fd;
}

static const Dwfl_Callbacks callbacks = {
	.find_elf = no_elf,
	.find_debuginfo = find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* ------------------------------------------------------------------ opening */

/* True when the path has a ".." component, which could leave the sysroot. */
static bool has_dotdot(const char *p)
{
	for (const char *q = strstr(p, ".."); q != NULL; q = strstr(q + 1, ".."))
		if ((q == p || q[-1] == '/') && (q[2] == '/' || q[2] == '\0'))
			return true;
	return false;
}

/* Keeps the PT_LOAD headers and hands fd to libdwfl. Consumes fd and elf.
 * Returns 0 or -ENOMEM; other failures leave the module missing. */
static int attach(struct ls_module *mod, const char *file, int fd, Elf *elf)
{
	size_t n = 0;
	void **ud;

	if (elf_getphdrnum(elf, &n) != 0)
		n = 0;
	mod->load = calloc(n ? n : 1, sizeof(*mod->load));
	mod->file = ls_arena_strndup(&mod->set->arena, file, strlen(file));
	if (mod->load == NULL || mod->file == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) == NULL || ph.p_type != PT_LOAD)
			continue;
		mod->load[mod->nload++] = ph;
		if ((ph.p_flags & PF_X) && ph.p_filesz == 0 && ph.p_memsz > 0)
			mod->nobits = true;
	}
	if (!elf_build_id(elf, mod->file_id, &mod->file_id_len))
		mod->file_id_len = 0;
	elf_end(elf);
	elf = NULL;

	mod->dwfl = dwfl_begin(&callbacks);
	if (mod->dwfl == NULL)
		goto nomem;
	dwfl_report_begin(mod->dwfl);
	/* Placed at bias 0, so libdwfl addresses are the file's own vaddrs. */
	mod->dm = dwfl_report_elf(mod->dwfl, mod->path, file, fd, 0, true);
	if (mod->dm == NULL) {
		close(fd);
		ls_util_msg("%s: %s; its frames are not symbolized", file, dwfl_errmsg(-1));
		mod->status = LS_MOD_MISSING;
		return 0;
	}
	dwfl_report_end(mod->dwfl, NULL, NULL);
	dwfl_module_info(mod->dm, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	*ud = mod;
	mod->status = LS_MOD_OK;
	return 0;
nomem:
	if (elf != NULL)
		elf_end(elf);
	close(fd);
	return -ENOMEM;
}

/* Finds and opens mod's file. Returns 0 or -ENOMEM. */
static int resolve(struct ls_modset *s, struct ls_module *mod)
{
	char file[4096], got_hex[2 * LS_BUILD_ID_MAX + 1], want_hex[2 * LS_BUILD_ID_MAX + 1];
	uint8_t got[LS_BUILD_ID_MAX];
	size_t got_len = 0, len;
	bool found = false, dummy;
	Elf *elf;
	int fd = -1;

	if (mod->path[0] != '/') {
		mod->status = LS_MOD_PSEUDO; /* [vdso], [anon:...] */
		return 0;
	}
	if (has_dotdot(mod->path)) {
		ls_util_msg("%s: path has a '..' component, not opened; its frames are not symbolized", mod->path);
		mod->status = LS_MOD_MISSING;
		return 0;
	}
	bool fits = snprintf(file, sizeof(file), "%s%s", s->sysroot ? s->sysroot : "", mod->path) < (int)sizeof(file);

	if (fits)
		fd = open_checked(file, mod->want_id, mod->want_id_len, &elf, &found, got, &got_len);
	/* The kernel marks a mapped file replaced on disk (a package upgrade)
	 * " (deleted)"; a file at the plain path is used if its build ID
	 * still matches. */
	size_t plen = strlen(file), slen = strlen(DELETED);

	if (fits && fd < 0 && !found && plen > slen && strcmp(file + plen - slen, DELETED) == 0) {
		file[plen - slen] = '\0';
		fd = open_checked(file, mod->want_id, mod->want_id_len, &elf, &found, got, &got_len);
	}
	/* The right file may still be elsewhere: DIR/.build-id/xx/rest is the
	 * binary, rest.debug its debug file, whose program headers and symbols
	 * are all a translation needs. */
	for (size_t i = 0; fd < 0 && mod->want_id_len > 0 && i < s->ndebug_dir; i++) {
		uint8_t tmp[LS_BUILD_ID_MAX];
		size_t tmp_len;

		if (build_id_path(file, sizeof(file), s->debug_dir[i], mod->want_id, mod->want_id_len, ""))
			fd = open_checked(file, mod->want_id, mod->want_id_len, &elf, &dummy, tmp, &tmp_len);
		if (fd < 0 && build_id_path(file, sizeof(file), s->debug_dir[i], mod->want_id, mod->want_id_len, ".debug"))
			fd = open_checked(file, mod->want_id, mod->want_id_len, &elf, &dummy, tmp, &tmp_len);
	}
	if (fd >= 0)
		return attach(mod, file, fd, elf);

	len = mod->want_id_len;
	hex(want_hex, mod->want_id, len);
	if (found) {
		mod->status = LS_MOD_MISMATCH;
		if (got_len > 0)
			hex(got_hex, got, got_len);
		else
			strcpy(got_hex, "none");
		ls_util_msg("%s: build-id mismatch (report %s, file %s); its frames are not symbolized", mod->path,
			    want_hex, got_hex);
	} else {
		mod->status = LS_MOD_MISSING;
		ls_util_msg("%s: no readable ELF file%s%s; its frames are not symbolized", mod->path,
			    len ? " with build ID " : "", len ? want_hex : "");
	}
	return 0;
}

struct ls_module *ls_module_get(struct ls_modset *s, struct ls_map *m)
{
	struct ls_module *mod;

	if (m->mod != NULL)
		return m->mod;
	for (mod = s->head; mod != NULL; mod = mod->next) {
		if (strcmp(mod->path, m->path) == 0 && mod->want_id_len == m->build_id_len &&
		    memcmp(mod->want_id, m->build_id, m->build_id_len) == 0)
			return m->mod = mod;
	}
	mod = ls_arena_alloc(&s->arena, sizeof(*mod));
	if (mod == NULL)
		return NULL;
	mod->set = s;
	mod->path = ls_arena_strndup(&s->arena, m->path, strlen(m->path));
	if (mod->path == NULL)
		return NULL;
	memcpy(mod->want_id, m->build_id, m->build_id_len);
	mod->want_id_len = m->build_id_len;
	mod->next = s->head;
	s->head = mod;
	if (resolve(s, mod) != 0)
		return NULL;
	return m->mod = mod;
}

enum ls_mod_status ls_module_status(const struct ls_module *mod)
{
	return mod->status;
}

const char *ls_module_path(const struct ls_module *mod)
{
	return mod->path;
}

bool ls_module_is_leakscope(const struct ls_module *mod)
{
	const char *base = strrchr(mod->path, '/');

	base = base ? base + 1 : mod->path;
	return strncmp(base, "libleakscope", 12) == 0 && strstr(base + 12, ".so") != NULL;
}

bool ls_module_is_libc(const struct ls_module *mod)
{
	const char *base = strrchr(mod->path, '/');

	base = base ? base + 1 : mod->path;
	if (strncmp(base, "libc.so", 7) == 0)
		return true;
	if ((strncmp(base, "libc-", 5) == 0 && base[5] >= '0' && base[5] <= '9') || strncmp(base, "ld-musl-", 8) == 0)
		return strstr(base, ".so") != NULL;
	return false;
}

bool ls_module_vaddr(const struct ls_module *mod, const struct ls_map *m, uint64_t addr, uint64_t *vaddr)
{
	uint64_t off = addr - m->start + m->offset;

	*vaddr = off;
	for (size_t i = 0; i < mod->nload; i++) {
		const GElf_Phdr *ph = &mod->load[i];

		if (off >= ph->p_offset && off - ph->p_offset < ph->p_filesz) {
			*vaddr = off - ph->p_offset + ph->p_vaddr;
			return true;
		}
	}
	if (!mod->nobits)
		return false;
	/* A separate debug file stands in for the binary, and objcopy has
	 * rewritten its file offsets. Assume the map starts where the kernel
	 * maps an executable segment: at its p_vaddr rounded down to a 4 KiB
	 * page. True for maps the kernel writes unless mprotect split one. */
	for (size_t i = 0; i < mod->nload; i++) {
		const GElf_Phdr *ph = &mod->load[i];
		uint64_t base = ph->p_vaddr & ~(uint64_t)0xfff, v = addr - m->start + base;

		if ((ph->p_flags & PF_X) && v >= ph->p_vaddr && v - ph->p_vaddr < ph->p_memsz) {
			*vaddr = v;
			return true;
		}
	}
	return false;
}

struct Dwfl_Module *ls_module_dwfl(const struct ls_module *mod)
{
	return mod->status == LS_MOD_OK ? mod->dm : NULL;
}

const char *ls_module_symbol(struct ls_modset *s, struct ls_module *mod, uint64_t vaddr)
{
	const char *name;

	if (mod->status != LS_MOD_OK)
		return NULL;
	if (!mod->syms_tried) {
		mod->syms_tried = true;
		mod->syms = ls_symtab_build(mod->dm);
	}
	name = ls_symtab_find(mod->syms, vaddr);
	return name == NULL ? NULL : ls_util_demangle(&s->demangled, &s->arena, name);
}

void ls_modset_free(struct ls_modset *s)
{
	for (struct ls_module *mod = s->head; mod != NULL; mod = mod->next) {
		if (mod->dwfl != NULL)
			dwfl_end(mod->dwfl);
		ls_symtab_free(mod->syms);
		free(mod->load);
	}
	ls_pmap_free(&s->demangled);
	ls_pmap_free(&s->joined);
	ls_pmap_free(&s->qualified);
	ls_pmap_free(&s->cu_index);
	ls_arena_free(&s->arena);
	s->head = NULL;
}
