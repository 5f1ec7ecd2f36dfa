/* SPDX-License-Identifier: MIT */
/* fixture.h: lets a golden-test program write a leakscope report of its own stacks. */
#ifndef FIXTURE_H
#define FIXTURE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Warms up backtrace() (its first call loads libgcc_s, which allocates). */
void fx_begin(void);

/* Records the caller's stack as one leak record, the way leakscope's
 * preload does: skip more frames of the hook, then the first address is a
 * call site (return address - 1) and the rest are return addresses, up to
 * (not including) the first frame in libc. */
void fx_capture(int skip, unsigned long count, unsigned long bytes);

/* Writes the report to argv[1] (maps with build ID "-": the test driver
 * fills them in). With argv[2] == "wait", prints "ready" and waits for
 * stdin to close, so the driver can use --pid. Returns main's status. */
int fx_finish(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
