/* SPDX-License-Identifier: MIT */
/* preload/weights.c: the Horvitz-Thompson weights of sampled allocations
 * (docs/weights.md). Each sampled allocation of s requested bytes stands
 * for 1/p of its kind, p being the chance it had of being sampled: 1/N in
 * a count-sampled window, 1 - exp(-s/B) in a byte-sampled one. Summing
 * 1/p and s/p per allocation, before any aggregation, keeps a stack of
 * mixed sizes unbiased; summing (1 - p)/p^2 and (1 - p) s^2/p^2 gives
 * unbiased estimates of their variances, because allocations are sampled
 * independently of each other. The translator turns these into 95%
 * intervals. Report building only: never on an allocation's path. */
#include "internal.h"

#include <math.h>

void ls_weights_add(struct ls_weights *w, const struct ls_window_info *info, uint64_t size)
{
	long double s = (long double)size, p;

	if (info->sampling_bytes) {
		/* A zero-byte block cannot cross the byte countdown; count it
		 * as one byte rather than with an infinite weight. */
		p = -expm1l(-(s > 0 ? s : 1) / (long double)info->sampling_bytes);
	} else {
		p = 1.0L / (long double)(info->sampling ? info->sampling : 1);
	}
	long double inv = 1.0L / p, q = (1.0L - p) * inv * inv;
	w->est_count += inv;
	w->est_bytes += s * inv;
	w->var_count += q;
	w->var_bytes += q * s * s;
}

void ls_weights_sum(struct ls_weights *dst, const struct ls_weights *src)
{
	dst->est_count += src->est_count;
	dst->est_bytes += src->est_bytes;
	dst->var_count += src->var_count;
	dst->var_bytes += src->var_bytes;
}

unsigned __int128 ls_weights_round(long double v)
{
	if (!(v > 0))
		return 0;
	if (v >= 0x1p127L)
		return ~(unsigned __int128)0;
	return (unsigned __int128)(v + 0.5L);
}

/* In a count-sampled window the estimates are exact integer products, as
 * in report format 1 (HipHop's est = count x N); long double sums would
 * round them beyond 2^64. */
unsigned __int128 ls_weights_count(const struct ls_weights *w, const struct ls_window_info *info,
				   uint64_t count)
{
	if (!info->sampling_bytes)
		return (unsigned __int128)count * info->sampling;
	return ls_weights_round(w->est_count);
}

unsigned __int128 ls_weights_bytes(const struct ls_weights *w, const struct ls_window_info *info,
				   uint64_t bytes)
{
	if (!info->sampling_bytes)
		return (unsigned __int128)bytes * info->sampling;
	return ls_weights_round(w->est_bytes);
}
