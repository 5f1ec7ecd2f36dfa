/* SPDX-License-Identifier: MIT */
/* preload/modules.c: the executable mappings a window has seen, with
 * their ELF build IDs, for the report's maps section. Read with plain
 * syscalls so it can run inside a sampled malloc. */
#include "internal.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUILD_ID_MAX 64
#define STRAYS 64 /* pages of code outside any file, remembered */

struct module {
	uintptr_t start, end, offset;
	char perms[5];
	uint8_t id_len;
	uint8_t id[BUILD_ID_MAX];
	bool present;   /* seen in the latest scan */
	char *path;
	size_t path_len;
};

static struct {
	pthread_mutex_t lock;
	struct module *v;
	size_t n, cap;
	size_t hint;    /* module of the last covered frame */
	uintptr_t strays[STRAYS]; /* pages no rescan could place (JIT code) */
	unsigned nstrays;
} M = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- build IDs ------------------------------------------------------ */

static bool read_exact(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);
	return n == (ssize_t)len;
}

/* Finds NT_GNU_BUILD_ID in the PT_NOTE segments of an ELF64 file.
 * Returns its length, 0 when there is none. */
static size_t build_id_fd(int fd, uint8_t *out)
{
	Elf64_Ehdr eh;
	uint8_t notes[2048];

	if (!read_exact(fd, &eh, sizeof(eh), 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum > 256)
		return 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (!read_exact(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))))
			return 0;
		if (ph.p_type != PT_NOTE)
			continue;
		size_t len = ph.p_filesz < sizeof(notes) ? ph.p_filesz : sizeof(notes);
		if (!read_exact(fd, notes, len, (off_t)ph.p_offset))
			continue;
		for (size_t at = 0; at + sizeof(Elf64_Nhdr) <= len;) {
			Elf64_Nhdr nh;
			memcpy(&nh, notes + at, sizeof(nh));
			size_t name = at + sizeof(nh);
			size_t desc = name + ((nh.n_namesz + 3u) & ~3u);
			size_t next = desc + ((nh.n_descsz + 3u) & ~3u);
			if (next > len || desc > len)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp(notes + name, "GNU", 4) && nh.n_descsz > 0 &&
			    nh.n_descsz <= BUILD_ID_MAX) {
				memcpy(out, notes + desc, nh.n_descsz);
				return nh.n_descsz;
			}
			at = next;
		}
	}
	return 0;
}

/* The build ID of the file mapped at [start, end). map_files names the
 * mapped inode even when the path was replaced or deleted since. */
static size_t build_id_of(const struct module *m, uint8_t *out)
{
	char name[96];
	struct ls_buf b;
	int fd;

	ls_buf_init(&b, name, sizeof(name) - 1);
	ls_buf_str(&b, "/proc/self/map_files/");
	ls_buf_hex(&b, m->start);
	ls_buf_ch(&b, '-');
	ls_buf_hex(&b, m->end);
	name[b.len] = '\0';
	fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && m->path[0] == '/')
		fd = open(m->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return 0;
	struct stat st;
	size_t n = 0;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode))
		n = build_id_fd(fd, out);
	close(fd);
	return n;
}

/* ---- the table ------------------------------------------------------ */

static struct module *find(uintptr_t start, uintptr_t end, uintptr_t offset,
			   const char *path, size_t path_len)
{
	for (size_t i = M.n; i-- > 0;) {
		struct module *m = &M.v[i];
		if (m->start == start && m->end == end && m->offset == offset &&
		    m->path_len == path_len && !memcmp(m->path, path, path_len))
			return m;
	}
	return NULL;
}

static void add(uintptr_t start, uintptr_t end, uintptr_t offset,
		const char *perms, const char *path, size_t path_len)
{
	struct module *m = find(start, end, offset, path, path_len);

	if (m) {
		m->present = true;
		return;
	}
	if (M.n == M.cap) {
		size_t cap = M.cap ? M.cap * 2 : 64;
		struct module *v = ls_mem_alloc(cap * sizeof(*v), false);
		if (!v)
			return;
		if (M.v) {
			memcpy(v, M.v, M.n * sizeof(*v));
			ls_mem_free(M.v, M.cap * sizeof(*v));
		}
		M.v = v;
		M.cap = cap;
	}
	char *copy = ls_mem_alloc(path_len + 1, false);
	if (!copy)
		return;
	memcpy(copy, path, path_len);
	copy[path_len] = '\0';
	m = &M.v[M.n];
	memset(m, 0, sizeof(*m));
	m->start = start;
	m->end = end;
	m->offset = offset;
	memcpy(m->perms, perms, 4);
	m->path = copy;
	m->path_len = path_len;
	m->present = true;
	m->id_len = (uint8_t)build_id_of(m, m->id);
	M.n++;
}

static const char *skip_field(const char *s, const char *end)
{
	while (s < end && *s != ' ')
		s++;
	while (s < end && *s == ' ')
		s++;
	return s;
}

/* One /proc/self/maps line: "start-end perms offset dev inode   path". */
static void parse_line(const char *s, const char *end)
{
	const char *p = s;
	uintptr_t start = ls_parse_hex(&p, end);
	if (p >= end || *p != '-')
		return;
	p++;
	uintptr_t stop = ls_parse_hex(&p, end);
	p = skip_field(p, end);
	if (end - p < 4 || p[2] != 'x')
		return;
	const char *perms = p;
	p = skip_field(p, end);
	uintptr_t offset = ls_parse_hex(&p, end);
	p = skip_field(p, end); /* to dev */
	p = skip_field(p, end); /* to inode */
	p = skip_field(p, end); /* to path */
	if (p >= end || (*p != '/' && *p != '['))
		return;
	add(start, stop, offset, perms, p, (size_t)(end - p));
}

/* Rescans /proc/self/maps. Caller holds M.lock. */
static void scan(void)
{
	char buf[8192];
	size_t have = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	for (size_t i = 0; i < M.n; i++)
		M.v[i].present = false;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		char *line = buf, *nl;
		while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
			parse_line(line, nl);
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof(buf))
			have = 0; /* a line longer than the buffer: drop it */
	}
	close(fd);

}

void ls_modules_refresh(void)
{
	pthread_mutex_lock(&M.lock);
	scan();
	pthread_mutex_unlock(&M.lock);
}

void ls_modules_reset(void)
{
	pthread_mutex_lock(&M.lock);
	scan();
	size_t keep = 0;
	for (size_t i = 0; i < M.n; i++) {
		if (M.v[i].present)
			M.v[keep++] = M.v[i];
		else
			ls_mem_free(M.v[i].path, M.v[i].path_len + 1);
	}
	M.n = keep;
	M.hint = 0;
	M.nstrays = 0;
	pthread_mutex_unlock(&M.lock);
}

static bool covered(uintptr_t pc)
{
	if (M.hint < M.n && pc - M.v[M.hint].start < M.v[M.hint].end - M.v[M.hint].start)
		return true;
	for (size_t i = 0; i < M.n; i++) {
		if (pc - M.v[i].start < M.v[i].end - M.v[i].start) {
			M.hint = i;
			return true;
		}
	}
	return false;
}

static bool stray(uintptr_t page)
{
	for (unsigned i = 0; i < M.nstrays && i < STRAYS; i++)
		if (M.strays[i] == page)
			return true;
	return false;
}

/* A frame outside every known module is a module loaded since the last
 * scan (it must be caught now: it may be unloaded before the report), or
 * code outside any file, such as JIT code, whose page is remembered so
 * it costs one scan only. Each new stack comes here once. */
void ls_modules_cover(void *const *frames, unsigned n)
{
	bool scanned = false;

	pthread_mutex_lock(&M.lock);
	for (unsigned i = 0; i < n; i++) {
		uintptr_t pc = (uintptr_t)frames[i], page = pc & ~(uintptr_t)(LS_PAGE - 1);
		if (covered(pc) || stray(page))
			continue;
		if (!scanned) {
			scan();
			scanned = true;
			if (covered(pc))
				continue;
		}
		M.strays[M.nstrays++ % STRAYS] = page;
	}
	pthread_mutex_unlock(&M.lock);
}

unsigned ls_modules_count(void)
{
	pthread_mutex_lock(&M.lock);
	unsigned n = (unsigned)M.n;
	pthread_mutex_unlock(&M.lock);
	return n;
}

void ls_modules_emit(ls_line_fn fn, void *ctx)
{
	char line[4096 + 256];
	struct ls_buf b;

	pthread_mutex_lock(&M.lock);
	for (size_t i = 0; i < M.n; i++) {
		const struct module *m = &M.v[i];
		ls_buf_init(&b, line, sizeof(line) - 1);
		ls_buf_str(&b, "map: ");
		ls_buf_hex(&b, m->start);
		ls_buf_ch(&b, '-');
		ls_buf_hex(&b, m->end);
		ls_buf_ch(&b, ' ');
		ls_buf_mem(&b, m->perms, 4);
		ls_buf_ch(&b, ' ');
		ls_buf_hex_pad(&b, m->offset, 8); /* as /proc/self/maps */
		ls_buf_ch(&b, ' ');
		if (!m->id_len)
			ls_buf_ch(&b, '-');
		for (unsigned k = 0; k < m->id_len; k++) {
			ls_buf_ch(&b, "0123456789abcdef"[m->id[k] >> 4]);
			ls_buf_ch(&b, "0123456789abcdef"[m->id[k] & 15]);
		}
		ls_buf_ch(&b, ' ');
		ls_buf_mem(&b, m->path, m->path_len);
		if (b.overflow)
			continue;
		line[b.len++] = '\n';
		if (!fn(ctx, line, b.len))
			break;
	}
	pthread_mutex_unlock(&M.lock);
}

void ls_modules_each(bool (*fn)(void *ctx, const struct ls_module_info *m), void *ctx)
{
	struct ls_module_info info;

	pthread_mutex_lock(&M.lock);
	for (size_t i = 0; i < M.n; i++) {
		const struct module *m = &M.v[i];
		info.start = m->start;
		info.end = m->end;
		info.offset = m->offset;
		info.path = m->path;
		for (unsigned k = 0; k < m->id_len; k++) {
			info.build_id[2 * k] = "0123456789abcdef"[m->id[k] >> 4];
			info.build_id[2 * k + 1] = "0123456789abcdef"[m->id[k] & 15];
		}
		info.build_id[2 * m->id_len] = '\0';
		if (!fn(ctx, &info))
			break;
	}
	pthread_mutex_unlock(&M.lock);
}

void ls_modules_lock(void)
{
	pthread_mutex_lock(&M.lock);
}

void ls_modules_unlock(void)
{
	pthread_mutex_unlock(&M.lock);
}

void ls_modules_reinit_locks(void)
{
	pthread_mutex_init(&M.lock, NULL);
}
