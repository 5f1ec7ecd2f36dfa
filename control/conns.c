/* SPDX-License-Identifier: MIT */
/* control/conns.c: keeps the control port answering under a flood.
 * libmicrohttpd caps connections and cuts idle ones, but a full table
 * then drains at one idle timeout per table-full, and a client that
 * trickles a byte at a time is never idle. So every connection is
 * tracked here: one older than MAX_AGE is cut, and when the table is
 * nearly full the oldest are cut until half of it is free. Cutting is a
 * shutdown(2): libmicrohttpd sees the end of the stream and closes the
 * socket itself, so no descriptor is ever closed under it. All of this
 * runs on the control thread, between libmicrohttpd's own steps. */
#include "internal.h"
#include "../preload/internal.h"

#include <sys/socket.h>
#include <time.h>

#define MAX_AGE_MS     60000u /* no request takes longer */
#define MIN_AGE_MS     250u   /* under pressure, spare the newest */

struct conn {
	int fd;
	bool used, cut;
	uint64_t start_ms;
};

static struct conn tab[LS_CONTROL_MAX_CONNECTIONS];
static unsigned used;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ls_conns_notify(void *cls, struct MHD_Connection *c, void **ctx,
		     enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		uintptr_t slot = (uintptr_t)*ctx;
		if (slot && slot <= LS_CONTROL_MAX_CONNECTIONS && tab[slot - 1].used) {
			tab[slot - 1].used = false;
			used--;
		}
		return;
	}
	const union MHD_ConnectionInfo *ci =
		ls_mhd.conn_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return;
	for (unsigned i = 0; i < LS_CONTROL_MAX_CONNECTIONS; i++) {
		if (tab[i].used)
			continue;
		tab[i] = (struct conn){ ci->connect_fd, true, false, now_ms() };
		used++;
		*ctx = (void *)(uintptr_t)(i + 1);
		return;
	}
}

bool ls_conns_crowded(void)
{
	return used + 4 >= LS_CONTROL_MAX_CONNECTIONS;
}

static void cut(struct conn *k)
{
	shutdown(k->fd, SHUT_RDWR);
	k->cut = true;
}

void ls_conns_trim(void)
{
	uint64_t now = now_ms();
	unsigned live = 0;

	for (unsigned i = 0; i < LS_CONTROL_MAX_CONNECTIONS; i++) {
		struct conn *k = &tab[i];
		if (!k->used || k->cut)
			continue;
		if (now - k->start_ms > MAX_AGE_MS)
			cut(k);
		else
			live++;
	}
	/* Nearly full: cut the oldest until half the table is free. */
	while (live + 4 >= LS_CONTROL_MAX_CONNECTIONS / 2 && ls_conns_crowded()) {
		struct conn *oldest = NULL;
		for (unsigned i = 0; i < LS_CONTROL_MAX_CONNECTIONS; i++) {
			struct conn *k = &tab[i];
			if (k->used && !k->cut && now - k->start_ms >= MIN_AGE_MS &&
			    (!oldest || k->start_ms < oldest->start_ms))
				oldest = k;
		}
		if (!oldest)
			break;
		cut(oldest);
		live--;
	}
}
