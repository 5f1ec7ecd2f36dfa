/* SPDX-License-Identifier: MIT */
/* preload/unwind_io.c: libunwind's memory probe, without descriptors.
 *
 * libunwind 1.6 checks that an address is readable by writing one byte of
 * it into a pipe it opens at start (pipe2, then read/write on the pair,
 * and close plus a new pipe2 when a read fails). That pipe lives in the
 * host's descriptor table: a daemon that closes every descriptor and
 * opens its own gets the same numbers, and libunwind then reads a byte
 * from the host's socket, writes into its log, or closes both. So the
 * imports libunwind makes of pipe2, read, write, close and syscall are pointed
 * here (its GOT entries are rewritten once, right after dlopen, before
 * its first unwind): the pipe becomes two numbers no kernel hands out,
 * and the probe becomes a system call that reads the address without
 * any descriptor. Every other descriptor goes to libc unchanged. */
#include "internal.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Above the kernel's ceiling on descriptor numbers (nr_open is at most
 * INT_MAX rounded down to a multiple of 64), so never a real descriptor. */
#define FAKE_RD 0x7ffffffe
#define FAKE_WR 0x7ffffffd

#if defined(__x86_64__)
#define R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define R_GLOB_DAT  R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define R_GLOB_DAT  R_AARCH64_GLOB_DAT
#endif

/* True when the 8 bytes at p (8-aligned, so inside one page) are
 * readable. rt_sigprocmask copies its set argument in before it checks
 * `how`, so an invalid `how` reads the address and changes nothing:
 * EFAULT when unreadable, EINVAL otherwise. */
static bool readable(uintptr_t p)
{
	long rc = syscall(SYS_rt_sigprocmask, 0x7fff, (void *)(p & ~(uintptr_t)7), NULL,
			  (size_t)8);
	return !(rc < 0 && errno == EFAULT);
}

static int io_pipe2(int fds[2], int flags)
{
	(void)flags;
	fds[0] = FAKE_RD;
	fds[1] = FAKE_WR;
	return 0;
}

static ssize_t io_read(int fd, void *buf, size_t n)
{
	if (fd == FAKE_RD) {
		errno = EAGAIN; /* an empty non-blocking pipe: libunwind's "fine" */
		return -1;
	}
	return read(fd, buf, n);
}

static ssize_t io_write(int fd, const void *buf, size_t n)
{
	if (fd == FAKE_WR) {
		int saved = errno;
		uintptr_t p = (uintptr_t)buf;
		bool ok = n == 0 || (readable(p) && readable(p + n - 1));
		errno = ok ? saved : EFAULT;
		return ok ? (ssize_t)n : -1;
	}
	return write(fd, buf, n);
}

/* libunwind 1.6 issues the probe's write through syscall(2). Variadic
 * arguments travel in the same registers as fixed ones on x86_64 and
 * aarch64 Linux, so six fixed longs receive whatever it passes. */
static long io_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	if (nr == SYS_write && a1 == FAKE_WR)
		return io_write((int)a1, (const void *)a2, (size_t)a3);
	if (nr == SYS_read && a1 == FAKE_RD)
		return io_read((int)a1, (void *)a2, (size_t)a3);
	if (nr == SYS_close && (a1 == FAKE_RD || a1 == FAKE_WR))
		return 0;
	return syscall(nr, a1, a2, a3, a4, a5, a6);
}

static int io_close(int fd)
{
	if (fd == FAKE_RD || fd == FAKE_WR)
		return 0;
	return close(fd);
}

static const struct {
	const char *name;
	void *fn;
} redirects[] = {
	{ "pipe2", (void *)io_pipe2 },
	{ "read", (void *)io_read },
	{ "write", (void *)io_write },
	{ "close", (void *)io_close },
	{ "syscall", (void *)io_syscall },
};

struct relro_ctx {
	uintptr_t base, lo, hi;
};

static int find_relro(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct relro_ctx *c = arg;

	(void)size;
	if (info->dlpi_addr != c->base)
		return 0;
	for (unsigned i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
			c->lo = c->base + info->dlpi_phdr[i].p_vaddr;
			c->hi = c->lo + info->dlpi_phdr[i].p_memsz;
		}
	return 1;
}

/* Dynamic-section pointers are relocated in place by glibc on x86_64
 * and aarch64; accept either form. */
static uintptr_t dyn_ptr(const struct link_map *lm, uintptr_t v)
{
	return v < lm->l_addr ? v + lm->l_addr : v;
}

static unsigned patch_table(const struct link_map *lm, const ElfW(Rela) *rel, size_t bytes,
			    const ElfW(Sym) *sym, const char *str, const struct relro_ctx *relro)
{
	unsigned done = 0;

	for (size_t i = 0; i < bytes / sizeof(*rel); i++) {
		unsigned type = (unsigned)ELF64_R_TYPE(rel[i].r_info);
		if (type != R_JUMP_SLOT && type != R_GLOB_DAT)
			continue;
		const char *name = str + sym[ELF64_R_SYM(rel[i].r_info)].st_name;
		for (unsigned k = 0; k < sizeof(redirects) / sizeof(redirects[0]); k++) {
			if (strcmp(name, redirects[k].name))
				continue;
			void **slot = (void **)(lm->l_addr + rel[i].r_offset);
			uintptr_t page = (uintptr_t)slot & ~(uintptr_t)(LS_PAGE - 1);
			bool ro = (uintptr_t)slot >= relro->lo && (uintptr_t)slot < relro->hi;
			if (ro && mprotect((void *)page, LS_PAGE, PROT_READ | PROT_WRITE))
				break;
			__atomic_store_n(slot, redirects[k].fn, __ATOMIC_RELAXED);
			if (ro)
				mprotect((void *)page, LS_PAGE, PROT_READ);
			done |= 1u << k;
			break;
		}
	}
	return done;
}

int ls_unwind_io_patch(void *handle)
{
	struct link_map *lm = NULL;
	const ElfW(Sym) *sym = NULL;
	const char *str = NULL;
	const ElfW(Rela) *jmprel = NULL, *rela = NULL;
	size_t jmpsz = 0, relasz = 0;

	if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) || !lm || !lm->l_ld)
		return -ENOENT;
	for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_SYMTAB: sym = (const ElfW(Sym) *)dyn_ptr(lm, d->d_un.d_ptr); break;
		case DT_STRTAB: str = (const char *)dyn_ptr(lm, d->d_un.d_ptr); break;
		case DT_JMPREL: jmprel = (const ElfW(Rela) *)dyn_ptr(lm, d->d_un.d_ptr); break;
		case DT_PLTRELSZ: jmpsz = d->d_un.d_val; break;
		case DT_RELA: rela = (const ElfW(Rela) *)dyn_ptr(lm, d->d_un.d_ptr); break;
		case DT_RELASZ: relasz = d->d_un.d_val; break;
		default: break;
		}
	}
	if (!sym || !str)
		return -ENOENT;
	struct relro_ctx relro = { lm->l_addr, 0, 0 };
	dl_iterate_phdr(find_relro, &relro);
	unsigned done = 0;
	if (jmprel)
		done |= patch_table(lm, jmprel, jmpsz, sym, str, &relro);
	if (rela)
		done |= patch_table(lm, rela, relasz, sym, str, &relro);
	/* pipe2 is the one that matters: without it no descriptor is made. */
	return (done & 1u) ? 0 : -ENOENT;
}
