/* SPDX-License-Identifier: MIT */
/* preload/tree.c: this process's place in its leakscope tree
 * (docs/process-trees.md): its lineage, learnt from the forks themselves
 * so a worker whose master died still names it; its runtime directory
 * and socket path; and the exit report it leaves when it ends with a
 * window open. Plain syscalls into stack buffers, no stdio. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_ANCESTORS 64

static struct {
	pid_t top;                  /* the first process of the tree */
	unsigned n;                 /* known ancestors, parent first */
	pid_t anc[MAX_ANCESTORS];
	pid_t forking;              /* the pid that called fork (prepare) */
} T;

void ls_tree_init(void)
{
	pid_t pp = getppid();

	/* An exec'd child belongs to the tree of the process that left the
	 * marker; any other process starts a tree. */
	T.top = ls_cfg.exec_child && ls_cfg.marker_pid > 0 ? ls_cfg.marker_pid : getpid();
	T.n = 0;
	if (pp > 1)
		T.anc[T.n++] = pp;
}

void ls_tree_prefork(void)
{
	T.forking = getpid();
}

void ls_tree_postfork_child(void)
{
	unsigned keep = T.n < MAX_ANCESTORS ? T.n : MAX_ANCESTORS - 1;

	memmove(T.anc + 1, T.anc, keep * sizeof(T.anc[0]));
	T.anc[0] = T.forking;
	T.n = keep + 1;
}

pid_t ls_tree_top(void)
{
	return T.top;
}

pid_t ls_tree_forking(void)
{
	return T.forking;
}

static char sock[108];

void ls_tree_socket_set(const char *path)
{
	size_t n = path ? strlen(path) : 0;

	if (n >= sizeof(sock))
		n = 0;
	memcpy(sock, path ? path : "", n);
	sock[n] = '\0';
}

const char *ls_tree_socket(void)
{
	return sock[0] ? sock : NULL;
}

void ls_tree_ancestors(struct ls_buf *b)
{
	pid_t last = 0;
	unsigned k = 0;

	for (; k < T.n; k++) {
		if (k)
			ls_buf_ch(b, ' ');
		ls_buf_u64(b, (uint64_t)T.anc[k]);
		last = T.anc[k];
	}
	bool any = k > 0;
	/* Above what the forks told us, /proc knows the rest while those
	 * processes live. */
	while (last > 1 && k++ < MAX_ANCESTORS) {
		last = ls_proc_ppid(last);
		if (last <= 1)
			break;
		if (any)
			ls_buf_ch(b, ' ');
		ls_buf_u64(b, (uint64_t)last);
		any = true;
	}
}

/* ---- the runtime directory ------------------------------------------ */

/* Makes dir (one level) if missing and checks it is ours alone: a real
 * directory owned by uid with no group or other access. 0 or -errno. */
static int private_dir(const char *dir, uid_t uid)
{
	struct stat st;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 077))
		return -EPERM;
	return 0;
}

int ls_tree_dir(char *buf, size_t cap, const char **why)
{
	uid_t uid = geteuid();
	struct ls_buf b;
	struct stat st;

	ls_buf_init(&b, buf, cap - 1);
	if (ls_cfg.runtime_dir) {
		ls_buf_str(&b, ls_cfg.runtime_dir);
	} else if (ls_cfg.xdg_runtime && ls_cfg.xdg_runtime[0] == '/' &&
		   !stat(ls_cfg.xdg_runtime, &st) && st.st_uid == uid) {
		ls_buf_str(&b, ls_cfg.xdg_runtime);
		ls_buf_str(&b, "/leakscope");
	} else {
		ls_buf_str(&b, "/tmp/leakscope-");
		ls_buf_u64(&b, (uint64_t)uid);
	}
	buf[b.len] = '\0';
	if (b.overflow) {
		*why = "the path is too long";
		return -ENAMETOOLONG;
	}
	int rc = private_dir(buf, uid);
	if (rc)
		*why = rc == -EPERM ? "it is not a directory of this user's alone (mode 0700)" :
				      ls_strerror(-rc);
	return rc;
}

/* ---- exit reports --------------------------------------------------- */

/* One byte more in DIR/dropped: its size counts the exit reports lost. */
static void count_dropped(const char *dir)
{
	char path[4096 + 16];
	struct ls_buf b;

	ls_buf_init(&b, path, sizeof(path) - 1);
	ls_buf_str(&b, dir);
	ls_buf_str(&b, "/dropped");
	path[b.len] = '\0';
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		ls_write_all(fd, "x", 1);
		close(fd);
	}
}

/* Removes the oldest reports of dir until at most keep remain; each one
 * removed is counted as dropped. Names sort by time (a fixed-width
 * nanosecond prefix). */
static void prune(const char *dir, uint64_t keep)
{
	char dents[8192], oldest[256], path[4096 + 256];
	struct ls_buf b;

	for (unsigned pass = 0; pass < 64; pass++) {
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return;
		uint64_t count = 0;
		long n;
		oldest[0] = '\0';
		while ((n = syscall(SYS_getdents64, fd, dents, sizeof(dents))) > 0) {
			for (long at = 0; at < n;) {
				struct dirent64 *de = (struct dirent64 *)(dents + at);
				size_t len = strlen(de->d_name);
				at += de->d_reclen;
				if (len < 8 || len >= sizeof(oldest) ||
				    strcmp(de->d_name + len - 7, ".report"))
					continue;
				count++;
				if (!oldest[0] || strcmp(de->d_name, oldest) < 0)
					memcpy(oldest, de->d_name, len + 1);
			}
		}
		close(fd);
		if (count <= keep || !oldest[0])
			return;
		ls_buf_init(&b, path, sizeof(path) - 1);
		ls_buf_str(&b, dir);
		ls_buf_ch(&b, '/');
		ls_buf_str(&b, oldest);
		path[b.len] = '\0';
		if (unlink(path))
			return;
		count_dropped(dir);
	}
}

void ls_tree_exit_report(struct ls_report *r)
{
	char dir[4096], path[4096 + 64];
	const char *why = NULL;
	struct ls_buf b;
	struct timespec ts;

	int rc = ls_tree_dir(dir, sizeof(dir) - 64, &why);
	if (rc) {
		ls_log("exit report not kept: runtime directory %s: %s", dir, why);
		return;
	}
	ls_buf_init(&b, dir, sizeof(dir) - 1);
	b.len = strlen(dir);
	ls_buf_str(&b, "/exit");
	dir[b.len] = '\0';
	if ((rc = private_dir(dir, geteuid())))
		goto fail;
	ls_buf_ch(&b, '/');
	ls_buf_u64(&b, (uint64_t)T.top);
	dir[b.len] = '\0';
	if ((rc = private_dir(dir, geteuid())))
		goto fail;
	if (ls_cfg.exit_reports == 0) {
		count_dropped(dir);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ls_buf_init(&b, path, sizeof(path) - 1);
	ls_buf_str(&b, dir);
	ls_buf_ch(&b, '/');
	char digits[21];
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	for (int i = 19; i >= 0; i--, ns /= 10)
		digits[i] = (char)('0' + ns % 10);
	digits[20] = '\0';
	ls_buf_str(&b, digits);
	ls_buf_ch(&b, '-');
	ls_buf_u64(&b, (uint64_t)getpid());
	ls_buf_str(&b, ".report");
	path[b.len] = '\0';
	if ((rc = ls_report_write_file(r, path))) {
		count_dropped(dir);
		goto fail;
	}
	prune(dir, ls_cfg.exit_reports);
	return;
fail:
	ls_log("exit report not kept in %s: %s", dir, ls_strerror(-rc));
}

void ls_tree_header(char *buf, size_t cap)
{
	struct ls_buf b;

	ls_buf_init(&b, buf, cap - 1);
	ls_buf_str(&b, "ppid: ");
	ls_buf_u64(&b, (uint64_t)getppid());
	ls_buf_str(&b, "\nancestors: ");
	ls_tree_ancestors(&b);
	ls_buf_str(&b, "\ntree_top: ");
	ls_buf_u64(&b, (uint64_t)T.top);
	ls_buf_str(&b, "\nexited: yes\n");
	buf[b.len] = '\0';
}
