/* SPDX-License-Identifier: MIT */
/* preload/fork.c: fork safety and what a child inherits. Prepare takes
 * every lock of ours in the one order the rest of the code nests them
 * (window, report references, stripes and graves, size classes, region,
 * modules), so no other thread holds one across the fork. The child's
 * tracking starts empty: what the parent sampled is not the child's. A
 * window open in the parent is open in the child too, with the same
 * sampling, from the fork on, so workers forked during a window are
 * covered (docs/process-trees.md). The child gets a control socket of
 * its own in the runtime directory. */
#include "internal.h"
#include "../control/internal.h"

static void prepare(void)
{
	ls_guard_enter();
	ls_unwind_prefork();
	ls_control_prefork();
	ls_tree_prefork();
	ls_window_lock();
	ls_report_lock_refs();
	ls_stacks_lock_all();
	ls_arena_lock_all();
	ls_region_lock_all();
	ls_modules_lock();
}

static void parent(void)
{
	ls_modules_unlock();
	ls_region_unlock_all();
	ls_arena_unlock_all();
	ls_stacks_unlock_all();
	ls_report_unlock_refs();
	ls_window_unlock();
	ls_control_postfork_parent();
	ls_unwind_postfork_parent();
	ls_guard_leave();
	/* An exec'd child that forks is a server with workers: it gets its
	 * control thread now rather than at a later allocation. */
	ls_sample_pending_fire();
}

static void child(void)
{
	ls_modules_reinit_locks();
	ls_region_reinit_locks();
	ls_arena_reinit_locks();
	ls_stacks_reinit_locks();
	ls_series_postfork_child();
	ls_report_reset_refs();
	ls_window_reinit_locks();
	ls_unwind_postfork_child();
	ls_control_postfork_child();
	ls_tree_postfork_child();
	ls_sample_pending_take(); /* the child starts its own thread below */
	/* The child draws its own samples: with the parent's generator state
	 * every worker would sample the same allocations. */
	ls_tls.rng = 0;
	/* The parent's report streams and control thread did not come along. */
	bool bytes = false;
	uint64_t sampling = ls_window_forget(&bytes);
	if (sampling) {
		int rc = ls_window_open(bytes, sampling);
		if (rc)
			ls_log("forked child: cannot open the parent's window here: %s",
			       ls_strerror(-rc));
	}
	if (ls_cfg.port >= 0 || ls_cfg.socket_path)
		ls_control_start(LS_CONTROL_FORK_CHILD);
	ls_guard_leave();
}

void ls_fork_init(void)
{
	pthread_atfork(prepare, parent, child);
}
