/* SPDX-License-Identifier: MIT */
/* preload/fork.c: fork safety. Prepare takes every lock of ours in the one
 * order the rest of the code nests them (window, report references,
 * stripes and graves, size classes, region, modules), so no other thread
 * holds one across the fork. The child starts with tracking empty: its
 * window is closed, its stacks are freed, and it has no control port
 * unless LEAKSCOPE_FOLLOW_FORK=1 gives it one of its own on port 0. */
#include "internal.h"
#include "../control/internal.h"

static void prepare(void)
{
	ls_guard_enter();
	ls_unwind_prefork();
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
	ls_unwind_postfork_parent();
	ls_guard_leave();
}

static void child(void)
{
	ls_modules_reinit_locks();
	ls_region_reinit_locks();
	ls_arena_reinit_locks();
	ls_stacks_reinit_locks();
	ls_report_reset_refs();
	ls_window_reinit_locks();
	ls_unwind_postfork_child();
	/* The parent's report streams and control thread did not come along. */
	ls_window_forget();
	ls_control_forget();
	if (ls_cfg.follow_fork && !ls_cfg.exec_child && (ls_cfg.port >= 0 || ls_cfg.socket_path))
		ls_control_start(true);
	ls_guard_leave();
}

void ls_fork_init(void)
{
	pthread_atfork(prepare, parent, child);
}
