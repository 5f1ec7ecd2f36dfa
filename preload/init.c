/* SPDX-License-Identifier: MIT */
/* preload/init.c: start-up and exit. The constructor sets everything up
 * with the recursion guard held; the destructor writes LEAKSCOPE_REPORT
 * when a window is still open. Hooks keep working before and after both. */
#include "internal.h"
#include "../control/internal.h"

#include <string.h>

_Atomic bool ls_ready;

#define EXEC_CHILD_DELAY_NS (20 * 1000 * 1000)

static void start_exec_child(void)
{
	ls_control_start(LS_CONTROL_EXEC_CHILD);
}

void ls_init(void)
{
	static _Atomic int once;

	if (atomic_exchange(&once, 1))
		return;
	ls_guard_enter();
	ls_log_init();
	ls_real_init();
	ls_config_load();
	ls_stacks_init();
	ls_arena_init();
	ls_fork_init();
	if (!ls_region_size())
		ls_log("no address range for sampled blocks: %s; every sample will be "
		       "dropped and counted (no_arena in /leak-status)", ls_region_problem());
	ls_tree_init();
	/* An exec'd child is quiet: its parent named the allocators already. */
	if (!ls_cfg.exec_child)
		ls_coverage_check(true);
	/* libunwind is loaded by the first window, not here, and an exec'd
	 * child loads libmicrohttpd only when a client comes: one that never
	 * opens a window pays only for what is above and a thread. */
	bool control = ls_cfg.port >= 0 || ls_cfg.socket_path;
	if (control && !ls_cfg.exec_child)
		ls_control_start(LS_CONTROL_TOP);
	if (ls_cfg.exec_child)
		ls_control_quiet();
	/* An exec'd child starts its control thread from an allocation made
	 * 20 ms or more after start, or when it forks: /bin/true and CGI
	 * scripts never pay for a thread. One that samples from the start
	 * pays for sampling anyway. */
	if (control && ls_cfg.exec_child && (ls_cfg.sampling || ls_cfg.sampling_bytes))
		ls_control_start(LS_CONTROL_EXEC_CHILD);
	else if (control && ls_cfg.exec_child)
		ls_sample_pending(EXEC_CHILD_DELAY_NS, start_exec_child);
	int rc = ls_cfg.sampling ? ls_window_on(ls_cfg.sampling) :
		 ls_cfg.sampling_bytes ? ls_window_open(true, ls_cfg.sampling_bytes) : 0;
	if (rc)
		ls_log("%s=%lu: cannot open a window: %s",
		       ls_cfg.sampling ? "LEAKSCOPE_SAMPLING" : "LEAKSCOPE_SAMPLING_BYTES",
		       (unsigned long)(ls_cfg.sampling ? ls_cfg.sampling : ls_cfg.sampling_bytes),
		       ls_strerror(-rc));
	atomic_store(&ls_ready, true);
	ls_guard_leave();
}

__attribute__((constructor(101))) static void ctor(void)
{
	ls_init();
}

/* At exit (exit, return from main): the runtime-directory socket goes,
 * and a window still open leaves its report in LEAKSCOPE_REPORT and in
 * the runtime directory, where a tree report of an ancestor finds it. */
__attribute__((destructor)) static void dtor(void)
{
	struct ls_window_info info;
	static char extra[1024];

	if (!atomic_load(&ls_ready))
		return;
	ls_guard_enter();
	ls_control_exit();
	ls_report_ref();
	if (ls_window_off(&info)) {
		ls_report_unref();
		ls_guard_leave();
		return;
	}
	struct ls_report *r = ls_report_build(&info, 0, LS_REPORT_TEXT);
	if (!r) {
		ls_log("cannot write the report at exit: out of memory building it");
		ls_guard_leave();
		return;
	}
	if (ls_cfg.report_path) {
		char path[4096];
		int rc = ls_report_write_file(r, ls_cfg.report_path);
		if (rc)
			ls_log("cannot write LEAKSCOPE_REPORT %s: %s",
			       ls_expand_pid(ls_cfg.report_path, path, sizeof(path)) ? path :
			       ls_cfg.report_path, ls_strerror(-rc));
	}
	ls_tree_header(extra, sizeof(extra));
	ls_report_set_extra(r, extra);
	ls_report_rewind(r);
	ls_tree_exit_report(r);
	ls_report_free(r);
	ls_guard_leave();
}
