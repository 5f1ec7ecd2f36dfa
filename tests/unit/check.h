/* SPDX-License-Identifier: MIT */
/* tests/unit/check.h: the unit tests' whole framework. CHECK prints one
 * "ok - " or "not ok - " line; main returns check_status(). */
#ifndef LS_CHECK_H
#define LS_CHECK_H

#include <stdio.h>

static int check_failed;

#define CHECK(cond, ...)                                                \
	do {                                                            \
		int ok_ = !!(cond);                                     \
		printf("%s - ", ok_ ? "ok" : "not ok");                 \
		printf(__VA_ARGS__);                                    \
		if (!ok_) {                                             \
			printf("  [%s:%d: %s]", __FILE__, __LINE__, #cond); \
			check_failed++;                                 \
		}                                                       \
		printf("\n");                                           \
		fflush(stdout);                                         \
	} while (0)

static inline int check_status(void)
{
	return check_failed ? 1 : 0;
}

#endif
