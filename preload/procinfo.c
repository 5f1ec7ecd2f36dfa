/* SPDX-License-Identifier: MIT */
/* preload/procinfo.c: what /proc says about this process and its parent:
 * whether the parent runs leakscope (an exec'd child stays quiet), and
 * the executable and command line /leak-status shows. Plain syscalls
 * into stack buffers; called at load and on the control thread. */
#include "internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Our own library's file, to recognise it in another process's maps. */
static bool own_file(dev_t *dev, ino_t *ino)
{
	Dl_info di;
	struct stat st;

	if (!dladdr((void *)ls_proc_has_leakscope, &di) || !di.dli_fname ||
	    stat(di.dli_fname, &st))
		return false;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return true;
}

/* One maps line: "start-end perms offset MAJ:MIN inode   path". */
static bool line_is_ours(const char *s, const char *end, bool have_id, dev_t dev, ino_t ino)
{
	const char *p = s;
	int field = 0;

	while (p < end && field < 3) { /* skip range, perms, offset */
		while (p < end && *p != ' ')
			p++;
		while (p < end && *p == ' ')
			p++;
		field++;
	}
	uint64_t maj = ls_parse_hex(&p, end);
	if (p < end && *p == ':')
		p++;
	uint64_t min = ls_parse_hex(&p, end);
	while (p < end && *p == ' ')
		p++;
	uint64_t inode = 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		inode = inode * 10 + (uint64_t)(*p - '0');
	if (have_id && inode == (uint64_t)ino && maj == major(dev) && min == minor(dev))
		return true;
	return memmem(p, (size_t)(end - p), "libleakscope", 12) != NULL;
}

/* True when a thread of pid is named "leakscope": our control thread.
 * Reading a few comm files is far cheaper than the maps of a process
 * with many libraries (~130 us for one running libmicrohttpd). */
static bool has_control_thread(pid_t pid)
{
	char path[64], dents[4096], comm[32];
	struct ls_buf b;
	bool found = false;

	ls_buf_init(&b, path, sizeof(path) - 1);
	ls_buf_str(&b, "/proc/");
	ls_buf_u64(&b, (uint64_t)pid);
	ls_buf_str(&b, "/task");
	path[b.len] = '\0';
	int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return false;
	long n;
	while (!found && (n = syscall(SYS_getdents64, dir, dents, sizeof(dents))) > 0) {
		for (long at = 0; at < n && !found;) {
			struct dirent64 *de = (struct dirent64 *)(dents + at);
			at += de->d_reclen;
			if (de->d_name[0] < '1' || de->d_name[0] > '9')
				continue;
			ls_buf_init(&b, path, sizeof(path) - 1);
			ls_buf_str(&b, de->d_name);
			ls_buf_str(&b, "/comm");
			path[b.len] = '\0';
			int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			ssize_t got = read(fd, comm, sizeof(comm));
			close(fd);
			found = got == 10 && !memcmp(comm, "leakscope\n", 10);
		}
	}
	close(dir);
	return found;
}

bool ls_proc_has_leakscope(pid_t pid)
{
	char path[40], buf[4096];
	struct ls_buf b;
	dev_t dev = 0;
	ino_t ino = 0;
	bool have_id, found = false;

	if (pid <= 1)
		return false;
	if (has_control_thread(pid))
		return true;
	have_id = own_file(&dev, &ino);
	ls_buf_init(&b, path, sizeof(path) - 1);
	ls_buf_str(&b, "/proc/");
	ls_buf_u64(&b, (uint64_t)pid);
	ls_buf_str(&b, "/maps");
	path[b.len] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	size_t have = 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', have - (size_t)(start - buf)))) {
			if (line_is_ours(start, nl, have_id, dev, ino)) {
				found = true;
				goto out;
			}
			start = nl + 1;
		}
		have -= (size_t)(start - buf);
		memmove(buf, start, have);
		if (have == sizeof(buf))
			have = 0; /* a line longer than the buffer: drop it */
	}
out:
	close(fd);
	return found;
}

/* Reads a small /proc file into buf (NUL-terminated). Its length. */
static size_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t have = 0;

	if (fd < 0) {
		buf[0] = '\0';
		return 0;
	}
	while (have < cap - 1) {
		ssize_t n = read(fd, buf + have, cap - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	buf[have] = '\0';
	return have;
}

pid_t ls_proc_ppid(pid_t pid)
{
	char path[40], buf[512];
	struct ls_buf b;

	ls_buf_init(&b, path, sizeof(path) - 1);
	ls_buf_str(&b, "/proc/");
	ls_buf_u64(&b, (uint64_t)pid);
	ls_buf_str(&b, "/stat");
	path[b.len] = '\0';
	size_t n = read_small(path, buf, sizeof(buf));
	/* "pid (comm) S ppid ...": comm may hold spaces and parentheses, so
	 * the state follows the last ')'. */
	char *p = n ? memrchr(buf, ')', n) : NULL;
	if (!p || (size_t)(p - buf) + 4 >= n)
		return 0;
	uint64_t ppid = 0;
	for (p += 4; *p >= '0' && *p <= '9'; p++)
		ppid = ppid * 10 + (uint64_t)(*p - '0');
	return (pid_t)ppid;
}

void ls_proc_cmdline(char *buf, size_t cap)
{
	size_t n = read_small("/proc/self/cmdline", buf, cap);

	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
}

void ls_proc_exe(char *buf, size_t cap)
{
	ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
	buf[n > 0 ? n : 0] = '\0';
}
