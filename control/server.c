/* SPDX-License-Identifier: MIT */
/* control/server.c: the control port's sockets and thread.
 *
 * The thread gives itself a descriptor table of its own before it opens
 * anything (close_range with CLOSE_RANGE_UNSHARE: a new table holding
 * nothing), and every descriptor of the control port lives only there:
 * the listening socket, libmicrohttpd's epoll set, each connection, the
 * port file while it is written. A daemon that closes every descriptor,
 * dup2s over them or opens its own epoll set cannot reach ours, and ours
 * can never be the host's; forks and execs do not inherit them.
 * Every process listens on its own Unix socket in the runtime directory
 * (docs/process-trees.md); the first process of a tree also on the TCP
 * port (or LEAKSCOPE_SOCKET). The thread accepts on all of them and hands
 * each connection to one libmicrohttpd daemon that has no listening
 * socket of its own.
 * The first process loads libmicrohttpd on the starting thread (at load,
 * before the host runs) and waits until it listens, so a taken port is
 * known at once. A forked child reuses the parent's copy. An exec'd child
 * loads it only when a first client connects, on the control thread,
 * and fork waits (bounded) for such a load in progress, so no fork
 * catches the dynamic loader half-way through it. The thread's recursion
 * guard stays set, so its allocations are never sampled. */
#include "internal.h"
#include "../preload/internal.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* rename() only; no stdio streams in the preload */
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BACKLOG          512
#define CONN_TIMEOUT_S   5u    /* idle or slow clients are cut after this */
#define CONN_MEMORY      ((size_t)32 * 1024) /* bounds URL and headers */

struct ls_mhd_api ls_mhd;
static bool wrote_port_file; /* this process wrote LEAKSCOPE_PORT_FILE */
/* Orders the thread's bind and port-file write against exit, which
 * removes both: a short-lived child's thread must not make them after. */
static pthread_mutex_t sock_lock = PTHREAD_MUTEX_INITIALIZER;
static bool exiting;

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

/* ---- port file ------------------------------------------------------ */

/* Writes one line to LEAKSCOPE_PORT_FILE through a temporary file and
 * rename, so readers never see half a line. */
static void port_file(const char *line)
{
	char path[4096], tmp[4096 + 32];
	struct ls_buf b;

	if (!ls_cfg.port_file)
		return;
	if (!ls_expand_pid(ls_cfg.port_file, path, sizeof(path))) {
		ls_log("cannot write LEAKSCOPE_PORT_FILE %s: the path is too long once %%p is "
		       "expanded", ls_cfg.port_file);
		return;
	}
	ls_buf_init(&b, tmp, sizeof(tmp) - 1);
	ls_buf_str(&b, path);
	ls_buf_str(&b, ".tmp.");
	ls_buf_u64(&b, (uint64_t)getpid());
	tmp[b.len] = '\0';
	pthread_mutex_lock(&sock_lock);
	int fd = exiting ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
				     0600);
	if (fd < 0) {
		if (!exiting)
			ls_log("cannot write LEAKSCOPE_PORT_FILE %s: %s", path, ls_strerror(errno));
		pthread_mutex_unlock(&sock_lock);
		return;
	}
	int rc = ls_write_all(fd, line, strlen(line));
	close(fd);
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		ls_log("cannot write LEAKSCOPE_PORT_FILE %s: %s", path, ls_strerror(-rc));
	}
	wrote_port_file = !rc;
	pthread_mutex_unlock(&sock_lock);
}

void ls_control_quiet(void)
{
	char path[4096];
	struct stat st;

	/* Only a port file this pid already has: one written before an exec
	 * (a LEAKSCOPE_FOLLOW_FORK child that then exec'd) would otherwise
	 * name a port that closed with the old image. No file is created. */
	if (!ls_cfg.port_file || !strstr(ls_cfg.port_file, "%p") ||
	    !ls_expand_pid(ls_cfg.port_file, path, sizeof(path)) || lstat(path, &st))
		return;
	port_file("error: exec'd by a process under leakscope, with its settings: "
		  "no control port of its own\n");
}

static bool is_loopback(const char *host)
{
	return !strcmp(host, "127.0.0.1") || !strcmp(host, "::1") ||
	       !strcmp(host, "localhost") || !strncmp(host, "127.", 4);
}

/* True when the port file already names a port where something answers:
 * a child exec'd with the parent's environment must not overwrite the
 * parent's port file with its own failure. */
static bool port_file_live(void)
{
	char path[4096], buf[16];
	uint64_t port;

	if (!ls_cfg.port_file || ls_cfg.socket_path ||
	    !ls_expand_pid(ls_cfg.port_file, path, sizeof(path)))
		return false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (ls_query_u64(buf, 1, 65535, &port))
		return false;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, is_loopback(ls_cfg.bind) ? "127.0.0.1" : ls_cfg.bind,
		      &sa.sin_addr) != 1)
		return false;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return false;
	bool live = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(s);
	return live;
}

/* ---- start-up hand-over ---------------------------------------------- */

/* The starting thread waits until the control thread listens (or gave
 * up), and writes the control thread's start-up message itself: its
 * descriptor 2 is the host's stderr, which the control thread reaches
 * only by name (not at all when it is a socket, as under systemd). */
static struct {
	sem_t done;
	bool waiting;
	int rc;
	char msg[512];
} boot;

static void boot_log(const char *fmt, const char *a, const char *b)
{
	if (!boot.waiting) {
		ls_log(fmt, a, b);
		return;
	}
	struct ls_buf m;
	ls_buf_init(&m, boot.msg, sizeof(boot.msg) - 1);
	/* fmt has exactly two %s: the callers below. */
	for (const char *f = fmt; *f; f++) {
		if (f[0] == '%' && f[1] == 's') {
			ls_buf_str(&m, a);
			a = b;
			f++;
		} else {
			ls_buf_ch(&m, *f);
		}
	}
	boot.msg[m.len] = '\0';
}

static void boot_done(int rc)
{
	boot.rc = rc;
	if (boot.waiting)
		sem_post(&boot.done);
}

static int fail(const char *what, int err)
{
	char line[512];
	struct ls_buf b;

	ls_buf_init(&b, line, sizeof(line) - 2);
	ls_buf_str(&b, "error: ");
	ls_buf_str(&b, what);
	ls_buf_str(&b, ": ");
	ls_buf_str(&b, ls_strerror(err));
	line[b.len] = '\n';
	line[b.len + 1] = '\0';
	boot_log("control port disabled, %s: %s; the program runs on without it",
		 what, ls_strerror(err));
	if (!port_file_live())
		port_file(line);
	return -err;
}

/* ---- sockets -------------------------------------------------------- */


/* Opens the TCP listening socket; *port gets the bound port. */
static int open_tcp(const char *host, int want, int *port, bool quiet)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd = -1, err;

	memset(&ss, 0, sizeof(ss));
	if (!strcmp(host, "localhost"))
		host = "127.0.0.1";
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)want);
		len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)want);
		len = sizeof(*v6);
	} else {
		return quiet ? -EINVAL :
		       fail("LEAKSCOPE_BIND is not an IPv4 or IPv6 address", EINVAL);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return quiet ? -errno : fail("socket", errno);
	/* SO_REUSEADDR lets us rebind over TIME_WAIT; unlike SO_REUSEPORT it
	 * never lets a second listener share the port. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, BACKLOG)) {
		err = errno;
		close(fd);
		if (quiet)
			return -err;
		char what[128];
		struct ls_buf b;
		ls_buf_init(&b, what, sizeof(what) - 1);
		ls_buf_str(&b, "cannot listen on ");
		ls_buf_str(&b, host);
		ls_buf_ch(&b, ':');
		ls_buf_u64(&b, (uint64_t)want);
		what[b.len] = '\0';
		return fail(what, err);
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*port = ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
	return fd;
}

/* Opens a Unix socket with mode 0600 at path, or -errno. An existing
 * socket file is replaced only when nobody answers on it. */
static int bind_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool alive = probe >= 0 && !connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		if (probe >= 0)
			close(probe);
		if (!alive)
			unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) ||
	    listen(fd, BACKLOG)) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

static int open_unix(const char *path)
{
	int fd = bind_unix(path);

	if (fd == -ENAMETOOLONG)
		return fail("LEAKSCOPE_SOCKET path is too long", ENAMETOOLONG);
	return fd < 0 ? fail("cannot listen on LEAKSCOPE_SOCKET", -fd) : fd;
}


/* ---- libmicrohttpd -------------------------------------------------- */

static bool mhd_loaded;
/* Held by the control thread of an exec'd child while it loads
 * libmicrohttpd; fork waits for it (ls_control_prefork). */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static bool prefork_locked, child_no_load;

/* Loads libmicrohttpd once per process image. false with the reason in
 * *why. */
static bool load_mhd(const char **why)
{
	if (mhd_loaded)
		return true;
	if (child_no_load) {
		*why = "forked while the parent was loading it";
		return false;
	}
	pthread_mutex_lock(&load_lock);
	void *h = mhd_loaded ? NULL : dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
	if (!mhd_loaded && !h) {
		*why = dlerror();
		pthread_mutex_unlock(&load_lock);
		return false;
	}
	bool ok = mhd_loaded;
#define SYM(field, name) (*(void **)&ls_mhd.field = dlsym(h, name))
	if (!ok)
		ok = SYM(start_daemon, "MHD_start_daemon") && SYM(run, "MHD_run") &&
		     SYM(add_connection, "MHD_add_connection") &&
		     SYM(get_timeout, "MHD_get_timeout") &&
		     SYM(daemon_info, "MHD_get_daemon_info") &&
		     SYM(lookup_value, "MHD_lookup_connection_value") &&
		     SYM(get_values, "MHD_get_connection_values") &&
		     SYM(from_buffer, "MHD_create_response_from_buffer") &&
		     SYM(from_callback, "MHD_create_response_from_callback") &&
		     SYM(add_header, "MHD_add_response_header") &&
		     SYM(queue, "MHD_queue_response") && SYM(destroy, "MHD_destroy_response") &&
		     SYM(conn_info, "MHD_get_connection_info");
#undef SYM
	if (!ok)
		*why = "missing symbols";
	mhd_loaded = ok;
	pthread_mutex_unlock(&load_lock);
	return ok;
}

void ls_control_prefork(void)
{
	/* A load takes milliseconds; the bound keeps a stuck one from
	 * stalling the host's fork for long. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	prefork_locked = !pthread_mutex_timedlock(&load_lock, &until);
}

void ls_control_postfork_parent(void)
{
	if (prefork_locked)
		pthread_mutex_unlock(&load_lock);
}

static struct MHD_Daemon *start_daemon(void)
{
	return ls_mhd.start_daemon(
		MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, ls_control_answer, NULL,
		MHD_OPTION_CONNECTION_LIMIT, LS_CONTROL_MAX_CONNECTIONS,
		MHD_OPTION_NOTIFY_CONNECTION, ls_conns_notify, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, ls_control_completed, NULL,
		MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY,
		MHD_OPTION_END);
}

/* ---- the runtime-directory socket ------------------------------------- */

/* The socket this process made in the runtime directory
 * (ls_tree_socket): see sock_lock. */
/* The errno of this process's own failure to make it; a forked child
 * failing the same way stays silent (its parent said so already). */
static int sock_err;

/* Makes D/PID.sock. The listening descriptor, or -1 (logged once per
 * tree). */
/* One attempt at D/PID.sock for the current effective uid: the
 * descriptor, or -errno with the reason in *why and in path the
 * directory or socket that failed. */
static int try_rundir(char *path, size_t cap, const char **why)
{
	char dir[4096];
	struct ls_buf b;

	int rc = ls_tree_dir(dir, sizeof(dir), why);
	if (rc) {
		memcpy(path, dir, strnlen(dir, cap - 1));
		path[strnlen(dir, cap - 1)] = '\0';
		return rc;
	}
	ls_buf_init(&b, path, cap - 1);
	ls_buf_str(&b, dir);
	ls_buf_ch(&b, '/');
	ls_buf_u64(&b, (uint64_t)getpid());
	ls_buf_str(&b, ".sock");
	path[b.len] = '\0';
	if (b.overflow) {
		*why = "the path is too long for a Unix socket";
		return -ENAMETOOLONG;
	}
	pthread_mutex_lock(&sock_lock);
	int fd = exiting ? -ECANCELED : bind_unix(path);
	if (fd >= 0)
		ls_tree_socket_set(path);
	pthread_mutex_unlock(&sock_lock);
	if (fd < 0)
		*why = ls_strerror(-fd);
	return fd;
}

static int open_rundir(void)
{
	char path[108];
	const char *why = "";
	int inherited = sock_err, fd = -EPERM;

	/* nginx and Apache workers drop to another user right after the
	 * fork, maybe while this runs: then the directory of the new user
	 * is the one to use, and a second try finds it. */
	for (int tries = 0; tries < 3; tries++) {
		uid_t uid = geteuid();
		fd = try_rundir(path, sizeof(path), &why);
		if (fd >= 0 || fd == -ECANCELED || geteuid() == uid)
			break;
	}
	if (fd >= 0)
		return fd;
	if (fd != -ECANCELED) {
		sock_err = -fd;
		if (inherited != sock_err)
			ls_log("no control socket %s: %s", path, why);
	}
	return -1;
}

void ls_control_exit(void)
{
	pthread_mutex_lock(&sock_lock);
	exiting = true;
	if (ls_tree_socket())
		unlink(ls_tree_socket());
	ls_tree_socket_set(NULL);
	pthread_mutex_unlock(&sock_lock);
	/* A per-process port file (LEAKSCOPE_PORT_FILE with %p) goes with
	 * the process; a shared one is the user's. */
	char path[4096];
	if (wrote_port_file && strstr(ls_cfg.port_file, "%p") &&
	    ls_expand_pid(ls_cfg.port_file, path, sizeof(path)))
		unlink(path);
}

/* ---- the thread ----------------------------------------------------- */

/* Gives this thread a descriptor table of its own, holding nothing. 0 or
 * -errno. close_range does it in one step (Linux 5.9); otherwise
 * unshare, then close every copy the new table received. */
static int private_table(void)
{
	if (!syscall(SYS_close_range, 0u, ~0u, CLOSE_RANGE_UNSHARE))
		return 0;
	if (syscall(SYS_unshare, CLONE_FILES))
		return -errno;
	struct rlimit rl;
	unsigned top = !getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < (1u << 20) ?
		       (unsigned)rl.rlim_cur : 1u << 20;
	for (unsigned fd = 0; fd < top; fd++)
		close((int)fd);
	return 0;
}

static enum ls_control_role role_arg;
/* The TCP port this process listens on (0: none). A child forked by the
 * process that holds the first process's port is its heir: when that
 * parent ends (daemon(3) forks and exits at once), the heir takes the
 * port, so `curl :8088` keeps reaching a server that daemonized. */
static bool first_port;   /* this process listens on the first one */
static pid_t heir_of;

#define MAX_LISTEN 2

/* Accepts every pending connection on lfd and hands it to d (started
 * on the first one). false when libmicrohttpd cannot be had. */
static bool accept_all(int lfd, struct MHD_Daemon **d, int ep)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int c = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			return true; /* EAGAIN, or a client that went away */
		if (!*d) {
			const char *why = NULL;
			if (load_mhd(&why))
				*d = start_daemon();
			if (!*d) {
				close(c);
				ls_log("control socket stopped: cannot start libmicrohttpd (%s)",
				       why ? why : ls_strerror(errno ? errno : EIO));
				return false;
			}
			const union MHD_DaemonInfo *di =
				ls_mhd.daemon_info(*d, MHD_DAEMON_INFO_EPOLL_FD);
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = -1 };
			if (!di || epoll_ctl(ep, EPOLL_CTL_ADD, di->epoll_fd, &ev)) {
				close(c);
				ls_log("control socket stopped: cannot watch libmicrohttpd's epoll set");
				return false;
			}
		}
		if (len > sizeof(ss) || len < sizeof(sa_family_t))
			len = sizeof(sa_family_t);
		/* MHD_add_connection closes the socket itself on failure. */
		ls_mhd.add_connection(*d, c, (struct sockaddr *)&ss, len);
	}
}

/* The heir's parent is gone: listen on the port it held, if nobody
 * else took it. Quiet: a sibling may have been faster. */
static void take_port(int ep)
{
	int port = 0;

	heir_of = 0;
	int fd = open_tcp(ls_cfg.bind, ls_cfg.port, &port, true);
	if (fd < 0)
		return;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		return;
	}
	first_port = true;
	char line[32];
	struct ls_buf b;
	ls_buf_init(&b, line, sizeof(line) - 1);
	ls_buf_u64(&b, (uint64_t)port);
	ls_buf_ch(&b, '\n');
	line[b.len] = '\0';
	port_file(line);
}

static void *serve(void *arg)
{
	int lfd[MAX_LISTEN], nl = 0, port = 0, fd;
	enum ls_control_role role = role_arg;

	(void)arg;
	ls_guard_enter(); /* for the thread's whole life */
	prctl(PR_SET_NAME, "leakscope", 0, 0, 0);
	/* Building a report is bulk work: let the host's threads go first. */
	setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	int rc = private_table();
	if (rc) {
		boot_done(fail("cannot give the control thread a descriptor table of its own",
			       -rc));
		return NULL;
	}
	ls_tls.private_fds = 1;
	bool tcp = !ls_cfg.socket_path && ls_cfg.port >= 0 &&
		   (role == LS_CONTROL_TOP || (role == LS_CONTROL_FORK_CHILD && ls_cfg.follow_fork));
	if (role == LS_CONTROL_TOP && ls_cfg.socket_path) {
		if ((fd = open_unix(ls_cfg.socket_path)) < 0) {
			boot_done(fd);
			return NULL;
		}
		lfd[nl++] = fd;
	} else if (tcp) {
		fd = open_tcp(ls_cfg.bind, role == LS_CONTROL_TOP ? ls_cfg.port : 0, &port, false);
		if (fd < 0) {
			boot_done(fd);
			return NULL;
		}
		lfd[nl++] = fd;
		first_port = role == LS_CONTROL_TOP;
	}
	if ((fd = open_rundir()) >= 0)
		lfd[nl++] = fd;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; ep >= 0 && i < nl; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd[i] };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev)) {
			close(ep);
			ep = -1;
		}
	}
	if (nl == 0 || ep < 0) {
		boot_done(nl ? fail("epoll_create1", errno) : -ENOENT);
		return NULL;
	}
	/* The first process starts libmicrohttpd now, to know it works
	 * before the host runs; a child when a client first comes. */
	struct MHD_Daemon *d = NULL;
	if (role == LS_CONTROL_TOP || mhd_loaded) {
		const union MHD_DaemonInfo *di = NULL;
		if ((d = start_daemon()))
			di = ls_mhd.daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = -1 };
		if (!di || epoll_ctl(ep, EPOLL_CTL_ADD, di->epoll_fd, &ev)) {
			boot_done(fail("libmicrohttpd failed to start", errno ? errno : EIO));
			return NULL;
		}
	}
	if (tcp || (role == LS_CONTROL_TOP && ls_cfg.socket_path)) {
		/* The port is known now: connections made meanwhile wait in
		 * the backlog. */
		char line[32];
		struct ls_buf b;
		ls_buf_init(&b, line, sizeof(line) - 1);
		if (!tcp)
			ls_buf_str(&b, "unix");
		else
			ls_buf_u64(&b, (uint64_t)port);
		ls_buf_ch(&b, '\n');
		line[b.len] = '\0';
		port_file(line);
	}
	boot_done(0);

	/* Nothing the host does reaches these descriptors, so a failure here
	 * is libmicrohttpd's own: retry a little, then stop rather than spin. */
	for (unsigned failures = 0; failures < 10;) {
		struct epoll_event ev[MAX_LISTEN + 1];
		if (heir_of && getppid() != heir_of)
			take_port(ep);
		int wait_ms = ls_conns_crowded() ? 50 : 1000;
		MHD_UNSIGNED_LONG_LONG t;
		if (d && ls_mhd.get_timeout(d, &t) == MHD_YES && t < (unsigned)wait_ms)
			wait_ms = (int)t;
		int n = epoll_wait(ep, ev, MAX_LISTEN + 1, wait_ms);
		for (int i = 0; i < n; i++)
			if (ev[i].data.fd >= 0 && !accept_all(ev[i].data.fd, &d, ep))
				return NULL;
		if (!d)
			continue;
		enum MHD_Result r = ls_mhd.run(d);
		ls_conns_trim();
		if (r == MHD_YES) {
			failures = 0;
			continue;
		}
		failures++;
		struct timespec pause = { 0, 200 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	ls_log("control port stopped: libmicrohttpd failed 10 times in a row");
	return NULL;
}

int ls_control_start(enum ls_control_role role)
{
	pthread_t tid;
	pthread_attr_t attr;
	sigset_t all, old;
	const char *why = NULL;

	if (role == LS_CONTROL_TOP) {
		if (!ls_cfg.socket_path && !is_loopback(ls_cfg.bind) && !ls_cfg.token)
			ls_log("WARNING: control port bound to %s without LEAKSCOPE_TOKEN: "
			       "anyone who reaches it can read heap addresses and stacks",
			       ls_cfg.bind);
		if (!load_mhd(&why)) {
			ls_log("control port disabled: cannot load libmicrohttpd.so.12 (%s)",
			       why ? why : "unknown reason");
			port_file("error: cannot load libmicrohttpd.so.12\n");
			return -ENOENT;
		}
	}
	role_arg = role;
	boot.msg[0] = '\0';
	boot.rc = -ETIMEDOUT;
	/* Only the first process waits for its thread, to know its port: a
	 * fork that execs at once must stay cheap. */
	boot.waiting = role == LS_CONTROL_TOP && !sem_init(&boot.done, 0, 0);

	/* The thread blocks every signal, so the host's handlers keep
	 * running on the host's own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	int rc = pthread_create(&tid, &attr, serve, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		boot.waiting = false;
		return fail("cannot start the control thread", rc);
	}
	if (!boot.waiting)
		return 0;
	/* Binding takes microseconds; a bound keeps a stuck start-up from
	 * holding the host's start for long. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	while (sem_timedwait(&boot.done, &until) && errno == EINTR)
		;
	boot.waiting = false;
	if (boot.msg[0])
		ls_log("%s", boot.msg);
	return boot.rc;
}

void ls_control_postfork_child(void)
{
	/* The control thread and its descriptor table did not come along;
	 * the child's table never held a descriptor of ours. The socket
	 * file is the parent's, and so is a load the parent had under way. */
	boot.waiting = false;
	ls_tree_socket_set(NULL);
	wrote_port_file = false;
	/* Only the first process's port is inherited (a LEAKSCOPE_FOLLOW_FORK
	 * child's port 0 is its own), down a chain of forks whose parents
	 * exit (fork, setsid, fork). */
	heir_of = first_port || heir_of ? ls_tree_forking() : 0;
	first_port = false;
	pthread_mutex_init(&sock_lock, NULL);
	child_no_load = !mhd_loaded && !prefork_locked;
	pthread_mutex_init(&load_lock, NULL);
}
