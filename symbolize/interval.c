/* SPDX-License-Identifier: MIT */
/* interval.c: the 95% intervals of the estimates (docs/weights.md, "95% intervals"): Garwood's for a count sampled one in N, the scaled Poisson one for any other estimate. */
#include <math.h>
#include <stdbool.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_sf_gamma.h>

#include "translate.h"

/*
 * Garwood's interval. A stack with L allocations still live, each sampled
 * with probability 1/N, has a sampled count C that is binomial (L, 1/N),
 * close to Poisson of mean mu = L/N. For a Poisson X, summing its
 * probabilities gives the incomplete gamma function:
 *
 *     P(X <= c; mu) = Q(c + 1, mu) = P(chi2 with 2c + 2 degrees > 2 mu),
 *     P(X >= c; mu) = P(c, mu)     = P(chi2 with 2c degrees <= 2 mu).
 *
 * The exact (central) 95% interval of mu given X = C is the [mu_lo, mu_hi]
 * for which P(X >= C; mu_lo) = 0.025 and P(X <= C; mu_hi) = 0.025:
 *
 *     mu_lo = chi2(0.025; 2C) / 2   (0 when C = 0),
 *     mu_hi = chi2(0.975; 2C + 2) / 2,
 *
 * chi2(q; d) being the q-quantile of chi-squared with d degrees. The live
 * count is N mu, so its interval is N times that. A binomial count varies
 * less than a Poisson one of the same mean (by 1 - 1/N), so the interval
 * covers at least about 95% (bench/'s accuracy benchmark measures it).
 *
 * The scaled Poisson interval. Any other estimate is a Horvitz-Thompson
 * sum E = sum of w_i over the sampled allocations i, each drawn
 * independently with probability p_i (w_i = 1/p_i for a count, s_i/p_i for
 * bytes), with variance estimate V = sum of (1 - p_i) w_i^2. It is matched
 * by c K, K Poisson of mean k, with the same mean and variance:
 *
 *     c k = E  and  c^2 k = V,  so  k = E^2 / V  and  c = V / E,
 *
 * and takes the interval of c K from Garwood's with the non-integer k
 * (the incomplete gamma function is continuous in k, so are the
 * chi-squared quantiles in their degrees):
 *
 *     lo = c chi2(0.025; 2k) / 2,   hi = c chi2(0.975; 2k + 2) / 2.
 *
 * k is the effective number of samples. With equal weights w (one size in
 * count mode) V = (1 - 1/N) w E and k = C N / (N - 1): the count's
 * interval times the size. Mixed weights make k smaller than C, the
 * interval wider: a stack whose bytes are mostly one sample of small p
 * has k near 1, the spread of a single Poisson sample. An allocation
 * sampled with certainty (p = 1, bytes mode, size >> B) adds to E and not
 * to V: it raises k and lowers c, and V = 0 is the exact [E, E]. Each
 * sample weighs w_i^2 (1 - p_i) <= w_i^2 in V, so k >= 1 whenever the
 * report's figures are consistent.
 *
 * The quantiles. GSL's own inverses fail in the range used here (GSL
 * 2.7.1: gsl_cdf_chisq_Pinv gives NaN from 2 10^6 degrees on and for
 * fewer than 0.05, gsl_cdf_chisq_Qinv is 42% low at 2 10^6, since
 * gsl_cdf_chisq_Q itself goes wrong above its mean from 2 10^9 degrees),
 * so they are solved here: Newton's method on log P(x) in log x, with
 * the regularized lower incomplete gamma gsl_sf_gamma_inc_P (right in
 * both tails), from the Wilson-Hilferty approximation
 *
 *     chi2(q; d) ~ d (1 - 2/(9d) + z_q sqrt(2/(9d)))^3,  z_q normal,
 *
 * inside a bracket that falls back on bisection. For few degrees and the
 * lower tail, P(x) ~ (x/2)^(d/2) / Gamma(d/2 + 1) starts it instead. From
 * 10^10 degrees on Wilson-Hilferty is the answer: its relative error,
 * below 10^-11 at 2 10^6 degrees and shrinking, is less than the rounding
 * of the endpoints, and the density in Newton's step would lose its
 * precision there.
 */

#define WH_ONLY 1e10     /* degrees of freedom from which Wilson-Hilferty is used as it is */
#define MAX_STEPS 100
#define TOLERANCE 1e-13  /* on log x, relative */

/* GSL's default error handler aborts the program on an underflow. */
static void gsl_quiet(void)
{
	static bool done;

	if (!done) {
		gsl_set_error_handler_off();
		done = true;
	}
}

/* Returns the Wilson-Hilferty approximation of chi2(q; d), or 0 when it
 * has none (few degrees, lower tail). */
static double wilson_hilferty(double q, double d)
{
	double h = 2.0 / (9.0 * d), w = 1.0 - h + gsl_cdf_ugaussian_Pinv(q) * sqrt(h);

	return w > 0 ? d * w * w * w : 0;
}

/* Returns the q-quantile of chi-squared with d > 0 degrees of freedom,
 * 0 < q < 1: the x with P(chi2 <= x) = q. Returns 0 when it is below the
 * smallest double. */
static double chisq_quantile(double q, double d)
{
	double a = d / 2, lq = log(q), x0 = wilson_hilferty(q, d);
	double u, ulo = -INFINITY, uhi = INFINITY;

	if (d >= WH_ONLY && x0 > 0)
		return x0;
	if (!(x0 > 0) || d < 1) {
		/* the lower tail of few degrees: P(x) ~ (x/2)^a / Gamma(a + 1) */
		x0 = 2 * exp((lq + gsl_sf_lngamma(a + 1)) / a);
		if (!(x0 > 0))
			return 0;
		if (x0 > d + 10)
			x0 = d + 10;
	}
	u = log(x0);
	for (int i = 0; i < MAX_STEPS; i++) {
		double x = exp(u), p = gsl_sf_gamma_inc_P(a, x / 2), un = NAN, g, slope;

		if (p > 0) {
			g = log(p) - lq;
			if (g == 0)
				return x;
			if (g > 0)
				uhi = u;
			else
				ulo = u;
			/* d log P / d log x = x f(x) / P, f the chi-squared density */
			slope = exp((a - 1) * log(x / 2) - x / 2 - gsl_sf_lngamma(a) - M_LN2 + u - log(p));
			if (slope > 0 && isfinite(slope))
				un = u - g / slope;
		} else {
			ulo = u; /* P underflowed: x is far below the quantile */
		}
		if (fabs(un - u) < TOLERANCE * fmax(1, fabs(u)))
			return exp(un);
		if (!(un > ulo && un < uhi))
			un = isfinite(ulo) && isfinite(uhi) ? (ulo + uhi) / 2 : isfinite(ulo) ? u + 1 : u - 1;
		u = un;
	}
	return exp(u);
}

/* Returns c times the Poisson interval of a count k >= 0 (Garwood's for
 * integers), clamped around e = c k against rounding. */
static struct ls_ci poisson(double k, double c)
{
	struct ls_ci ci;
	double e = c * k;

	gsl_quiet();
	ci.lo = k > 0 ? c * chisq_quantile(0.025, 2 * k) / 2 : 0;
	ci.hi = c * chisq_quantile(0.975, 2 * k + 2) / 2;
	if (!(ci.lo <= e))
		ci.lo = e;
	if (!(ci.hi >= e))
		ci.hi = e;
	return ci;
}

struct ls_ci ls_interval_garwood(uint64_t c, double n)
{
	return poisson((double)c, n);
}

struct ls_ci ls_interval_scaled(double e, double v)
{
	if (!(e > 0))
		return (struct ls_ci){ 0, 0 };
	if (!(v > 0))
		return (struct ls_ci){ e, e };
	return poisson(e * e / v, v / e);
}
