"""Bayesian random-effects meta-analysis (``hipacu.bayes``) against bayesmeta's published output.

Sources (bayesmeta 3.4 as published on CRAN, 2024-02-15)
--------------------------------------------------------
- [JSS] Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
  J Stat Softw 93(6):1-51, doi:10.18637/jss.v093.i06 (shipped with bayesmeta as
  ``inst/doc/Roever2020-bayesmeta.pdf``). Example: Crins et al. (2014), log odds ratios,
  ``ma01 <- bayesmeta(crins.es, mu.prior.mean = 0, mu.prior.sd = 4, tau.prior = function(t)
  dhalfnormal(t, scale = 0.5))`` (p. 21), printed on pp. 21-28; ``ma05`` (two randomized studies),
  pp. 32-33; the Turner et al. prior, p. 31; the REML connection, pp. 31-32.
- [VIG] bayesmeta's vignette "An introduction to meta-analysis using the bayesmeta package"
  (``inst/doc/bayesmeta.html``): the eight-schools data ``Rubin1981``, ``schools.example.1``
  (normal(0, 50) prior for mu, half-Cauchy(25) for tau) and ``schools.example.2`` (both uniform).
- Data: ``data/CrinsEtAl2014.R`` (= JSS Table 3, p. 20) and ``data/Rubin1981.R`` (= the vignette's
  ``print(Rubin1981)``) of bayesmeta 3.4.

The bayesmeta package documentation (``man/*.Rd``) has examples for ``SnedecorCochran``,
``Peto1980``, ``Cochran1954`` and others, but they print no numbers (R CMD check does not record
output), so there is nothing published to compare those with; they are not used here.

How the numbers compare (a known, explained divergence)
--------------------------------------------------------
bayesmeta computes everything about tau from its exact marginal with ``integrate()`` and
``uniroot()`` (relative tolerance 2^16 eps ~ 1.5e-11): those printed values are matched to their
printed digits. Everything about mu, the prediction and the shrinkage estimates comes from its
DIRECT mixture, an approximation with a Kullback-Leibler step of delta = 1 % between components
(JSS Sec. 2.11; 17 components for ``ma01``); hipacu integrates exactly instead (tested against
``scipy.integrate.quad`` below). So for those values two tests are made:

(a) DIRECT emulation: Röver & Friede's (2017) discretisation, as bayesmeta 3.4 sets it up
    (``discretize()`` in ``R/bayesmeta.R``: first reference point tau = 0, bins bounded by the
    maximal symmetrised divergence over mu, prediction and all shrinkage conditionals, upper end
    the 1 - epsilon quantile), built on hipacu's exact tau posterior and conditional moments,
    reproduces bayesmeta's printed mean, sd, median, quantiles and probabilities to the printed 7
    significant digits (and the printed number of support points). This pins data, model, priors
    and the tau posterior exactly.
(b) hipacu's exact values differ from the printed ones only by that discretisation: asserted within
    ``TOL_DIRECT_SD`` posterior standard deviations (plus R's ``optimize()`` tolerance for modes and
    shortest intervals, which bayesmeta finds with ``optimize()`` at its default tolerance).

Two printings of ``ma01`` in the JSS disagree (p. 22 ``print(ma01)``: tau 95 % upper 0.8607305,
mu interval -2.2312306 to -0.9264079; p. 23 ``ma01$summary``: 0.8607193, -2.2311251 to -0.9263075);
the paper's chunks were evaluated with different package versions. The p. 23 values are the ones
that the documented algorithm gives (0.8607193 is the exact 95 % quantile, the shortest interval
being [0, q95] there) and the ones used here.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, optimize, special, stats

import hipacu
from hipacu import effects
from hipacu.exceptions import ConvergenceWarning
from hipacu.models import bayes as bayes_mod
from hipacu.models import priors as P
from hipacu.models.bayes import BayesEstimate, bayes, bayes_batch
from hipacu.models.protocol import SUMMARY_FIELDS, SummaryEstimate

# ------------------------------------------------------------------------------------ tolerances

#: Values printed with 7 significant digits (R's default print): half a unit of the 7th digit,
#: relative. bayesmeta's own integrate()/uniroot() tolerance (1.5e-11) is far below it.
TOL_PRINTED_7SF = 5e-7
#: Values printed with 4 decimals (the vignette's escalc() output).
TOL_PRINTED_4DP = 0.5e-4
#: Values printed with 2 decimals (forest-plot labels, JSS Figures 2 and 6).
TOL_PRINTED_2DP = 0.5e-2
#: JSS p. 20 prints the half-normal(0.5) prior's 95 % point as 0.98.
TOL_PRINTED_2SF = 0.5e-2
#: bayesmeta's DIRECT discretisation of the mu / prediction / shrinkage mixtures (delta = 1 %):
#: hipacu's exact values are within this many posterior sds of bayesmeta's printed ones (the
#: largest difference over the examples below is 0.5 % of an sd, for shrinkage modes; the
#: guarantee bayesmeta states, KL <= delta, is looser: Pinsker gives |ΔP| <= 0.07).
TOL_DIRECT_SD = 1e-2
#: R's optimize() default tolerance, .Machine$double.eps^0.25 (modes, shortest intervals).
TOL_R_OPTIMIZE = 1.22e-4
#: Numerical integration: hipacu's summaries against adaptive Gauss-Kronrod quadrature
#: (scipy.integrate.quad at epsrel 1e-12) and against a four times finer grid, in posterior sds
#: (measured: typically below 1e-13; worst 1.4e-10, the τ median under the heavy-tailed log-t
#: prior). The stated accuracy of hipacu.bayes is 1e-9 posterior sds.
TOL_QUADRATURE = 1e-9
#: Limits reached by a prior scale of 1e-8 (errors are O(scale²/σ²) ~ 1e-16) and rounding.
TOL_LIMIT = 1e-9
#: bayes_batch against bayes on the same row (same engine; only summation order differs).
TOL_BATCH = 1e-9
#: The τ mode maximises a log density evaluated in floating point, which locates a maximum only to
#: about sqrt(eps · |log density|) posterior sds (the top is flat to second order; |log density|
#: is ~170 for 200 studies), in posterior sds.
TOL_MODE = 1e-6
#: Closed forms evaluated two ways (prior densities against scipy.stats).
TOL_CLOSED_FORM = 1e-12

# ------------------------------------------------------------------------------------ data

# bayesmeta 3.4 data/CrinsEtAl2014.R, rows reordered c(4,3,5,2,1,6) as the file does (= JSS Table 3):
CRINS_LABELS = ("Heffron (2003)", "Gibelli (2004)", "Schuller (2005)", "Ganschow (2005)", "Spada (2006)", "Gras (2008)")
CRINS_EXP_EVENTS = np.array([14, 16, 3, 9, 4, 0])       # exp.AR.events
CRINS_EXP_TOTAL = np.array([61, 28, 18, 54, 36, 50])    # exp.total
CRINS_CONT_EVENTS = np.array([15, 19, 8, 29, 11, 3])    # cont.AR.events
CRINS_CONT_TOTAL = np.array([20, 28, 12, 54, 36, 34])   # cont.total
CRINS_RANDOMIZED = np.array([True, False, False, False, True, False])  # "randomized" == "yes"

# bayesmeta 3.4 data/Rubin1981.R (= vignette print(Rubin1981)):
SCHOOLS = tuple("ABCDEFGH")
SCHOOLS_EFFECT = np.array([28.39, 7.94, -2.75, 6.82, -0.64, 0.63, 18.01, 12.16])
SCHOOLS_STDERR = np.array([14.9, 10.2, 16.3, 11.0, 9.4, 11.4, 10.4, 17.6])


@pytest.fixture(scope="module")
def crins_es():
    # escalc(measure = "OR", ...) with metafor's default add = 1/2 to tables with a zero cell
    return effects.log_odds_ratio(CRINS_EXP_EVENTS, CRINS_EXP_TOTAL, CRINS_CONT_EVENTS, CRINS_CONT_TOTAL)


@pytest.fixture(scope="module")
def ma01(crins_es):
    return bayes(crins_es.yi, crins_es.vi, tau_prior=P.half_normal(0.5), mu_prior=P.normal(0, 4), labels=CRINS_LABELS)


@pytest.fixture(scope="module")
def schools1():
    return bayes(SCHOOLS_EFFECT, sei=SCHOOLS_STDERR, tau_prior=P.half_cauchy(25), mu_prior=P.normal(0, 50), labels=SCHOOLS)


@pytest.fixture(scope="module")
def schools2():
    return bayes(SCHOOLS_EFFECT, sei=SCHOOLS_STDERR, tau_prior=P.uniform(), labels=SCHOOLS)


def rel(x, ref, tol):
    assert_allclose(x, ref, rtol=tol, atol=0)


# ------------------------------------------------------------------------------------ DIRECT emulation


def direct_support(res: BayesEstimate, delta: float = 0.01, epsilon: float = 1e-4):
    """Röver & Friede (2017) DIRECT support points and weights as bayesmeta 3.4 constructs them
    (``discretize(delta = 0.01, epsilon = 0.0001, alldivs = TRUE)``), from hipacu's exact τ posterior
    (``res.cdf(·, "tau")``) and conditional moments. An independent implementation of the published
    algorithm, used only to show where bayesmeta's printed mixture figures come from."""

    def comps(t):
        out = [res.conditional_moments(t), res.conditional_moments(t, "pred")]
        out += [res.conditional_moments(t, "theta", study=i) for i in range(res.k)]
        return np.array(out, dtype=float)

    def div(t1, t2):  # JSS Appendix D: symmetrised KL divergence of two normals, maximised
        a, b = comps(t1), comps(t2)
        m1, s1, m2, s2 = a[:, 0], a[:, 1], b[:, 0], b[:, 1]
        return np.max((m1 - m2) ** 2 * 0.5 * (1 / s1**2 + 1 / s2**2) + (s1**2 - s2**2) ** 2 / (2 * s1**2 * s2**2))

    def next_point(t0):
        up = max(1.0, 2 * t0)
        while div(t0, up) <= delta:
            up *= 2
        return optimize.brentq(lambda t: div(t0, t) - delta, t0, up, xtol=1e-13, rtol=1e-14)

    maxtau = res.quantile(1 - epsilon, "tau")
    upper = next_point(0.0)
    taus, weights = [0.0], [res.cdf(upper, "tau")]
    prev, tau = weights[0], upper
    while tau <= maxtau or len(taus) < 2:
        ref = next_point(tau)
        upper = next_point(ref)
        p = res.cdf(upper, "tau")
        taus.append(ref)
        weights.append(max(0.0, p - prev))
        prev, tau = p, upper
    w = np.array(weights)
    return np.array(taus), w / w.sum()


def direct_mixture(res: BayesEstimate, of: str = "mu", study=None):
    """bayesmeta's mixture for ``of``: mean, sd, CDF and quantile function."""
    taus, w = direct_support(res)
    m, s = res.conditional_moments(taus, of, study=study) if of == "theta" else res.conditional_moments(taus, of)
    mean = float(np.sum(w * m))
    sd = float(np.sqrt(np.sum(w * ((m - mean) ** 2 + s**2))))

    def cdf(q):
        return float(np.sum(w * special.ndtr((q - m) / s)))

    def quantile(p):
        return optimize.brentq(lambda q: cdf(q) - p, mean - 30 * sd, mean + 30 * sd, xtol=1e-13)

    return dict(n=len(taus), mean=mean, sd=sd, cdf=cdf, quantile=quantile)


# ==================================================================================== JSS: CrinsEtAl2014


def test_crins_log_odds_ratios_match_the_vignettes_escalc_output(crins_es):
    # VIG, print(crins.es[, c("publication", "yi", "vi")]) (4 decimals)
    assert_allclose(crins_es.yi, [-2.3097, -0.4595, -2.3026, -1.7579, -1.2585, -2.4179], atol=TOL_PRINTED_4DP)
    assert_allclose(crins_es.vi, [0.3594, 0.3096, 0.7750, 0.2078, 0.4122, 2.3373], atol=TOL_PRINTED_4DP)


def test_crins_tau_posterior_matches_jss(ma01):
    # JSS p. 23, ma01$summary, column tau: median, mean, sd, 95 % (shortest) upper limit
    rel(ma01.tau_median, 0.3445023, TOL_PRINTED_7SF)
    rel(ma01.tau_mean, 0.3810562, TOL_PRINTED_7SF)
    rel(ma01.tau_sd, 0.2593672, TOL_PRINTED_7SF)
    lo, hi = ma01.interval("tau", "shortest")
    assert lo == 0.0  # JSS p. 23: "95% lower 0.0000000"
    rel(hi, 0.8607193, TOL_PRINTED_7SF)
    # JSS p. 25: 1 - ma01$pposterior(tau = 1) = 0.02097488
    rel(1 - ma01.cdf(1.0, "tau"), 0.02097488, TOL_PRINTED_7SF)
    # JSS p. 25: ma01$qposterior(tau.p = 0.99) = 1.109186 (6 digits printed)
    rel(ma01.quantile(0.99, "tau"), 1.109186, TOL_PRINTED_7SF * 10)
    # JSS p. 26: ma01$post.interval(tau.level = 0.99) = [0, 1.109186] (shortest)
    assert ma01.interval("tau", "shortest", 0.99)[0] == 0.0
    # JSS p. 27: central 99 % interval 0.003547657 1.205400562 (= qposterior(tau.p = c(0.005, 0.995)))
    rel(ma01.interval("tau", "central", 0.99), [0.003547657, 1.205400562], TOL_PRINTED_7SF)
    # JSS p. 23: tau mode 0.2453139, found by optimize()
    assert abs(ma01.tau_mode - 0.2453139) <= TOL_R_OPTIMIZE


def test_crins_direct_emulation_reproduces_printed_mixture_figures(ma01):
    mu = direct_mixture(ma01, "mu")
    assert mu["n"] == 17  # JSS p. 18: "the effect marginal is based on a 17-component normal mixture"
    # JSS p. 23, ma01$summary, column mu: median, mean, sd
    rel(mu["quantile"](0.5), -1.5734819, TOL_PRINTED_7SF)
    rel(mu["mean"], -1.5764365, TOL_PRINTED_7SF)
    rel(mu["sd"], 0.3295301, TOL_PRINTED_7SF)
    # JSS p. 25: 1 - ma01$pposterior(mu = 0) = 6.187343e-05
    rel(1 - mu["cdf"](0.0), 6.187343e-05, TOL_PRINTED_7SF)
    # JSS p. 23, column theta (the predictive distribution): median, mean, sd
    pred = direct_mixture(ma01, "pred")
    rel(pred["quantile"](0.5), -1.5701653, TOL_PRINTED_7SF)
    rel(pred["mean"], -1.5764365, TOL_PRINTED_7SF)
    rel(pred["sd"], 0.5671855, TOL_PRINTED_7SF)
    # JSS pp. 27-28, ma01$theta[, 1:2]: median, mean, sd of the shrinkage estimates
    for i, (median, mean, sd) in enumerate([(-1.7411356, -1.7778965, 0.4229425), (-1.2821722, -1.2339736, 0.4488759)]):
        th = direct_mixture(ma01, "theta", study=i)
        rel(th["quantile"](0.5), median, TOL_PRINTED_7SF)
        rel(th["mean"], mean, TOL_PRINTED_7SF)
        rel(th["sd"], sd, TOL_PRINTED_7SF)


def test_crins_exact_mixture_figures_are_within_bayesmetas_discretisation(ma01):
    sd_mu, sd_pred = ma01.mu_sd, ma01.pred_sd
    tol = TOL_DIRECT_SD * sd_mu
    # JSS p. 23, column mu: mode, median, mean, sd, shortest 95 % interval
    assert abs(ma01.mu_mode - (-1.5691214)) <= tol + TOL_R_OPTIMIZE
    assert abs(ma01.mu_median - (-1.5734819)) <= tol
    assert abs(ma01.mu_mean - (-1.5764365)) <= tol
    assert abs(ma01.mu_sd - 0.3295301) <= tol
    assert_allclose(ma01.interval("mu", "shortest"), [-2.2311251, -0.9263075], atol=tol + TOL_R_OPTIMIZE)
    # JSS p. 23, column theta (prediction): mode, median, mean, sd, shortest interval
    tol = TOL_DIRECT_SD * sd_pred
    assert abs(ma01.pred_mode - (-1.5632732)) <= tol + TOL_R_OPTIMIZE
    assert abs(ma01.pred_median - (-1.5701653)) <= tol
    assert abs(ma01.pred_sd - 0.5671855) <= tol
    assert_allclose(ma01.interval("pred", "shortest"), [-2.7661319, -0.4072970], atol=tol + TOL_R_OPTIMIZE)
    # JSS pp. 27-28, ma01$theta[, 1:2]: mode, median, mean, sd, shortest 95 % interval
    printed = {0: (-1.6711220, -1.7411356, -1.7778965, 0.4229425, -2.6561049, -0.9920023),
               1: (-1.3895876, -1.2821722, -1.2339736, 0.4488759, -2.0455088, -0.3089461)}
    for i, (mode, median, mean, sd, lo, hi) in printed.items():
        tol = TOL_DIRECT_SD * ma01.theta_sd[i]
        assert abs(ma01.theta_mode[i] - mode) <= tol + TOL_R_OPTIMIZE
        assert abs(ma01.theta_median[i] - median) <= tol
        assert abs(ma01.theta_mean[i] - mean) <= tol
        assert abs(ma01.theta_sd[i] - sd) <= tol
        assert_allclose(ma01.interval("theta", "shortest", study=i), [lo, hi], atol=tol + TOL_R_OPTIMIZE)
    # JSS p. 22, Figure 2 (2 decimals, from the same DIRECT figures): mean -1.57 [-2.23, -0.93],
    # prediction -1.57 [-2.77, -0.41]
    assert_allclose([ma01.estimate, *ma01.interval("mu", "shortest")], [-1.57, -2.23, -0.93],
                    atol=TOL_PRINTED_2DP + TOL_DIRECT_SD * sd_mu)
    assert_allclose([ma01.pred_median, *ma01.interval("pred", "shortest")], [-1.57, -2.77, -0.41],
                    atol=TOL_PRINTED_2DP + TOL_DIRECT_SD * sd_pred)
    # JSS p. 25: P(mu > 0) = 6.187343e-05 (DIRECT); the exact tail probability is 6.013e-05
    assert abs((1 - ma01.cdf(0.0)) - 6.187343e-05) <= 2e-6


def test_crins_two_randomized_studies(crins_es):
    ma05 = bayes(crins_es.yi[CRINS_RANDOMIZED], crins_es.vi[CRINS_RANDOMIZED], tau_prior=P.half_normal(0.5),
                 mu_prior=P.normal(0, 4))
    # JSS p. 33: ma05$pposterior(mu = 0) = 0.9974968 (DIRECT mixture)
    rel(direct_mixture(ma05, "mu")["cdf"](0.0), 0.9974968, TOL_PRINTED_7SF)
    assert abs(ma05.cdf(0.0) - 0.9974968) <= 1e-4
    # JSS p. 33, Figure 6 (2 decimals, DIRECT figures): mean -1.78 [-2.86, -0.69], prediction -1.78 [-3.25, -0.28]
    assert_allclose([ma05.estimate, *ma05.interval("mu", "shortest")], [-1.78, -2.86, -0.69],
                    atol=TOL_PRINTED_2DP + TOL_DIRECT_SD * ma05.mu_sd)
    assert_allclose([ma05.pred_median, *ma05.interval("pred", "shortest")], [-1.78, -3.25, -0.28],
                    atol=TOL_PRINTED_2DP + TOL_DIRECT_SD * ma05.pred_sd)


def test_conditional_moments_at_the_reml_tau_are_the_frequentist_estimate(crins_es):
    # JSS pp. 31-32: ma03 <- bayesmeta(crins.es, tau.prior = "Jeffreys"); ma04 <- rma(crins.es);
    # sqrt(ma04$tau2) = 0.4670268; ma03$cond.moment(tau = 0.4670268) = (-1.591513, 0.3340882)
    ma03 = bayes(crins_es.yi, crins_es.vi, tau_prior=P.jeffreys())
    mean, sd = ma03.conditional_moments(0.4670268)
    rel(mean, -1.591513, TOL_PRINTED_7SF)
    rel(sd, 0.3340882, TOL_PRINTED_7SF)
    reml = hipacu.pool(crins_es.yi, crins_es.vi, method="REML")
    rel(math.sqrt(reml.tau2), 0.4670268, TOL_PRINTED_7SF)  # JSS p. 32
    # and at hipacu's own REML tau the conditional moments are its estimate and se exactly
    mean, sd = ma03.conditional_moments(math.sqrt(reml.tau2))
    assert_allclose([mean, sd], [reml.estimate, reml.se], rtol=TOL_LIMIT)


def test_turner_prior_quantiles_match_jss():
    # JSS p. 31: TurnerEtAlPrior("surgical", "pharmacological", "placebo / control")$qprior(c(.025, .5, .975))
    tp = P.turner2015("surgical", "pharma_vs_control")
    rel(tp.ppf([0.025, 0.5, 0.975]), [0.06233896, 0.34300852, 1.88734045], TOL_PRINTED_7SF)
    # JSS Figure 1 legend: log-normal(-1.07, 0.87)
    assert (tp.meanlog, tp.sdlog) == pytest.approx((-1.07, 0.87), abs=1e-12)


def test_half_normal_prior_95_percent_point_matches_jss():
    # JSS p. 20: half-normal scale 0.5 confines tau to <= 0.98 with 95 % probability
    assert abs(P.half_normal(0.5).ppf(0.95) - 0.98) <= TOL_PRINTED_2SF


# ==================================================================================== vignette: Rubin1981


def test_schools_example_1_tau(schools1):
    # VIG, print(schools.example.1$summary), column tau
    assert schools1.tau_mode == 0.0
    rel(schools1.tau_median, 4.758539, TOL_PRINTED_7SF)
    rel(schools1.tau_mean, 5.884511, TOL_PRINTED_7SF)
    rel(schools1.tau_sd, 4.869904, TOL_PRINTED_7SF)
    lo, hi = schools1.interval("tau", "shortest")
    assert lo == 0.0
    rel(hi, 15.165894, TOL_PRINTED_7SF)
    # VIG: qposterior(tau.p = 0.95) = 15.16589; central 95 %: 0.2199559 18.0531718
    rel(schools1.quantile(0.95, "tau"), 15.16589, TOL_PRINTED_7SF)
    rel(schools1.interval("tau"), [0.2199559, 18.0531718], TOL_PRINTED_7SF)
    rel([schools1.tau_ci_low, schools1.tau_ci_high], [0.2199559, 18.0531718], TOL_PRINTED_7SF)


def test_schools_example_1_direct_emulation(schools1):
    mu = direct_mixture(schools1, "mu")
    # VIG, print(schools.example.1$summary), column mu
    rel(mu["quantile"](0.5), 7.962961, TOL_PRINTED_7SF)
    rel(mu["mean"], 7.985729, TOL_PRINTED_7SF)
    rel(mu["sd"], 4.995762, TOL_PRINTED_7SF)
    # VIG: 1 - pposterior(mu = 0) = 0.9487521; qposterior(mu.p = 0.95) = 16.11009
    rel(1 - mu["cdf"](0.0), 0.9487521, TOL_PRINTED_7SF)
    rel(mu["quantile"](0.95), 16.11009, TOL_PRINTED_7SF)
    pred = direct_mixture(schools1, "pred")  # column theta
    rel(pred["quantile"](0.5), 7.926819, TOL_PRINTED_7SF)
    rel(pred["sd"], 9.126767, TOL_PRINTED_7SF)
    # VIG, schools.example.1$theta[, c("A", "G", "H")]: median, mean, sd
    for study, (median, mean, sd) in {"A": (10.093581, 11.095255, 7.901084), "G": (9.786985, 10.336032, 6.631039),
                                      "H": (8.266594, 8.474644, 7.456906)}.items():
        th = direct_mixture(schools1, "theta", study=study)
        rel(th["quantile"](0.5), median, TOL_PRINTED_7SF)
        rel(th["mean"], mean, TOL_PRINTED_7SF)
        rel(th["sd"], sd, TOL_PRINTED_7SF)


def test_schools_example_1_exact_within_discretisation(schools1):
    r = schools1
    tol = TOL_DIRECT_SD * r.mu_sd
    # VIG, column mu: mode, median, mean, sd, shortest interval (-1.823353, 17.824562)
    assert abs(r.mu_mode - 7.929503) <= tol + TOL_R_OPTIMIZE
    for got, printed in ((r.mu_median, 7.962961), (r.mu_mean, 7.985729), (r.mu_sd, 4.995762)):
        assert abs(got - printed) <= tol
    assert_allclose(r.interval("mu", "shortest"), [-1.823353, 17.824562], atol=tol + TOL_R_OPTIMIZE)
    tol = TOL_DIRECT_SD * r.pred_sd  # column theta: mode, median, mean, sd, interval
    for got, printed in ((r.pred_mode, 7.865547), (r.pred_median, 7.926819), (r.pred_mean, 7.985729), (r.pred_sd, 9.126767)):
        assert abs(got - printed) <= tol + TOL_R_OPTIMIZE
    assert_allclose(r.interval("pred", "shortest"), [-10.623526, 26.827377], atol=tol + TOL_R_OPTIMIZE)
    # VIG, schools.example.1$theta: mode, median, mean, sd, 95 % lower, upper for A, G, H
    printed = {"A": (8.845856, 10.093581, 11.095255, 7.901084, -3.209562, 28.169723),
               "G": (8.933348, 9.786985, 10.336032, 6.631039, -2.138807, 24.230908),
               "H": (8.023126, 8.266594, 8.474644, 7.456906, -6.528854, 24.110315)}
    for study, (mode, median, mean, sd, lo, hi) in printed.items():
        i = SCHOOLS.index(study)
        tol = TOL_DIRECT_SD * r.theta_sd[i]
        for got, want in ((r.theta_mode[i], mode), (r.theta_median[i], median), (r.theta_mean[i], mean), (r.theta_sd[i], sd)):
            assert abs(got - want) <= tol + TOL_R_OPTIMIZE
        assert_allclose(r.interval("theta", "shortest", study=study), [lo, hi], atol=tol + TOL_R_OPTIMIZE)
    assert abs((1 - r.cdf(0.0)) - 0.9487521) <= 1e-4  # VIG (DIRECT); exact 0.948769
    assert abs(r.quantile(0.95) - 16.11009) <= tol


def test_schools_example_2_uniform_priors(schools2):
    r = schools2
    # VIG, print(schools.example.2$summary), column tau (exact in bayesmeta)
    assert r.tau_mode == 0.0
    rel(r.tau_median, 5.227732, TOL_PRINTED_7SF)
    rel(r.tau_mean, 6.585992, TOL_PRINTED_7SF)
    rel(r.tau_sd, 5.685974, TOL_PRINTED_7SF)
    rel(r.interval("tau", "shortest")[1], 17.265797, TOL_PRINTED_7SF)
    # columns mu and theta: DIRECT emulation at printed digits ...
    mu, pred = direct_mixture(r, "mu"), direct_mixture(r, "pred")
    rel([mu["quantile"](0.5), mu["mean"], mu["sd"]], [8.055861, 8.092138, 5.246683], TOL_PRINTED_7SF)
    rel([pred["quantile"](0.5), pred["mean"], pred["sd"]], [8.008111, 8.092138, 10.148132], TOL_PRINTED_7SF)
    # ... and the exact values within the discretisation error
    for got, printed, sd in ((r.mu_mode, 8.007138, r.mu_sd), (r.mu_median, 8.055861, r.mu_sd), (r.mu_sd, 5.246683, r.mu_sd),
                             (r.pred_mode, 7.927789, r.pred_sd), (r.pred_median, 8.008111, r.pred_sd),
                             (r.pred_sd, 10.148132, r.pred_sd)):
        assert abs(got - printed) <= TOL_DIRECT_SD * sd + TOL_R_OPTIMIZE
    assert_allclose(r.interval("mu", "shortest"), [-2.176157, 18.406330], atol=TOL_DIRECT_SD * r.mu_sd + TOL_R_OPTIMIZE)
    assert_allclose(r.interval("pred", "shortest"), [-12.511817, 29.014749], atol=TOL_DIRECT_SD * r.pred_sd + TOL_R_OPTIMIZE)


# ==================================================================================== integration accuracy


def _quad_reference(y, v, tau_prior, mu_prior):
    """log p(y), moments of τ and μ, and P(μ <= mean) by adaptive quadrature over log τ."""
    y, v = np.asarray(y, float), np.asarray(v, float)

    def parts(t):
        vt = v + t * t
        if mu_prior is not None:
            vt, yy = np.r_[vt, mu_prior.sd**2], np.r_[y, mu_prior.mean]
        else:
            yy = y
        w = 1 / vt
        sw = w.sum()
        m = np.sum(w * yy) / sw
        ll = -0.5 * ((len(yy) - 1) * np.log(2 * np.pi) + np.log(vt).sum() + np.sum(w * (yy - m) ** 2) + np.log(sw))
        return ll, m, 1 / sw

    xs = np.linspace(np.log(v.min()) / 2 - 30, np.log(v.max()) / 2 + 30, 3001)
    lps = np.array([parts(np.exp(x))[0] + float(tau_prior.logpdf(np.exp(x), v)) + x for x in xs])
    x0, c = xs[np.argmax(lps)], np.max(lps)
    xhi = math.log(tau_prior.upper) if math.isfinite(tau_prior.upper) else x0 + 75

    def integral(f, upper=None):
        top = xhi if upper is None else upper

        def g(x):
            t = math.exp(x)
            with np.errstate(all="ignore"):
                val = math.exp(parts(t)[0] + float(tau_prior.logpdf(t, v)) + x - c)
            return val * f(t) if val > 0 else 0.0
        # the log-t prior's lower tail is polynomial in log τ: integrate it down to log τ = -700
        edges = [-700.0 if tau_prior.tail_log else x0 - 75, x0 - 3, x0, x0 + 3, xhi, top]
        edges = sorted(set(e for e in edges if e <= top))
        return sum(integrate.quad(g, a, b, epsabs=0, epsrel=1e-12, limit=1000)[0] for a, b in zip(edges, edges[1:]))

    z = integral(lambda t: 1.0)
    out = {"log_marginal_likelihood": math.log(z) + c}
    out["tau_mean"] = integral(lambda t: t) / z
    out["tau_sd"] = math.sqrt(integral(lambda t: (t - out["tau_mean"]) ** 2) / z)
    out["mu_mean"] = integral(lambda t: parts(t)[1]) / z
    out["mu_sd"] = math.sqrt(integral(lambda t: parts(t)[2] + (parts(t)[1] - out["mu_mean"]) ** 2) / z)
    out["pred_sd"] = math.sqrt(integral(lambda t: parts(t)[2] + t * t + (parts(t)[1] - out["mu_mean"]) ** 2) / z)
    q = out["mu_mean"] + 0.7 * out["mu_sd"]
    out["mu_cdf"] = (q, integral(lambda t: special.ndtr((q - parts(t)[1]) / math.sqrt(parts(t)[2]))) / z)
    tq = out["tau_mean"]
    out["tau_cdf"] = (tq, integral(lambda t: 1.0, upper=math.log(tq)) / z)
    return out


ACCURACY_CASES = {
    "crins, half-normal(0.5), normal(0, 4)": ("crins", P.half_normal(0.5), P.normal(0, 4)),
    "crins, Jeffreys, flat": ("crins", P.jeffreys(), None),
    "crins, Turner prior": ("crins", P.turner2015("surgical", "pharma_vs_control"), None),
    "crins, uniform(upper=2)": ("crins", P.uniform(2.0), None),
    "crins, Rhodes log-t prior": ("crins", P.rhodes2015("obstetric", "pharma_vs_control"), P.normal(0, 4)),
    "schools, uniform, flat": ("schools", P.uniform(), None),
    "schools, DuMouchel": ("schools", P.dumouchel(), None),
    "schools, shrinkage, normal(0, 50)": ("schools", P.shrinkage(), P.normal(0, 50)),
    "one study, half-normal(0.5)": ("one", P.half_normal(0.5), None),
    "200 studies, exponential(2)": ("many", P.exponential(2.0), None),
}


def _case_data(name, crins_es):
    if name == "crins":
        return crins_es.yi, crins_es.vi
    if name == "schools":
        return SCHOOLS_EFFECT, SCHOOLS_STDERR**2
    if name == "one":
        return crins_es.yi[:1], crins_es.vi[:1]
    rng = np.random.default_rng(2026)
    v = rng.uniform(0.01, 0.5, 200)
    return rng.normal(0.2, np.sqrt(0.1 + v)), v


@pytest.mark.parametrize("case", list(ACCURACY_CASES))
def test_quadrature_agrees_with_adaptive_quadrature(case, crins_es):
    data, tau_prior, mu_prior = ACCURACY_CASES[case]
    y, v = _case_data(data, crins_es)
    r = bayes(y, v, tau_prior=tau_prior, mu_prior=mu_prior)
    assert r.converged
    ref = _quad_reference(y, v, tau_prior, mu_prior)
    assert abs(r.grid.log_norm - ref["log_marginal_likelihood"]) <= TOL_QUADRATURE
    assert abs(r.tau_mean - ref["tau_mean"]) <= TOL_QUADRATURE * r.tau_sd
    assert abs(r.tau_sd - ref["tau_sd"]) <= TOL_QUADRATURE * r.tau_sd
    for name in ("mu_mean", "mu_sd"):
        assert abs(getattr(r, name) - ref[name]) <= TOL_QUADRATURE * r.mu_sd
    assert abs(r.pred_sd - ref["pred_sd"]) <= TOL_QUADRATURE * r.pred_sd
    q, p = ref["mu_cdf"]
    assert abs(r.cdf(q) - p) <= TOL_QUADRATURE
    q, p = ref["tau_cdf"]
    assert abs(r.cdf(q, "tau") - p) <= TOL_QUADRATURE


@pytest.mark.parametrize("case", list(ACCURACY_CASES))
def test_quadrature_agrees_with_a_four_times_finer_grid(case, crins_es, monkeypatch):
    data, tau_prior, mu_prior = ACCURACY_CASES[case]
    y, v = _case_data(data, crins_es)
    r = bayes(y, v, tau_prior=tau_prior, mu_prior=mu_prior)
    monkeypatch.setattr(bayes_mod, "N_NODES", 4 * bayes_mod.N_NODES)
    fine = bayes(y, v, tau_prior=tau_prior, mu_prior=mu_prior)
    for prefix, sd in (("tau", r.tau_sd), ("mu", r.mu_sd), ("pred", r.pred_sd)):
        for stat in ("median", "mean", "sd", "mode"):
            name = f"{prefix}_{stat}"
            tol = TOL_MODE if name == "tau_mode" else TOL_QUADRATURE
            assert abs(getattr(r, name) - getattr(fine, name)) <= tol * sd, name
    assert_allclose([r.ci_low, r.ci_high, r.pi_low, r.pi_high], [fine.ci_low, fine.ci_high, fine.pi_low, fine.pi_high],
                    rtol=0, atol=TOL_QUADRATURE * r.pred_sd)
    assert_allclose([r.tau_ci_low, r.tau_ci_high], [fine.tau_ci_low, fine.tau_ci_high], rtol=0, atol=TOL_QUADRATURE * r.tau_sd)
    assert_allclose(r.theta_median, fine.theta_median, rtol=0, atol=TOL_QUADRATURE * r.theta_sd.max())


def test_bayes_factors_satisfy_savage_dickey_and_direct_integration(ma01, crins_es):
    # BF(tau = 0) = p(y | tau = 0) / p(y) = p(tau = 0 | y) / p(tau = 0)  (Savage-Dickey)
    assert_allclose(ma01.bf_tau0, ma01.pdf(0.0, "tau") / float(P.half_normal(0.5).pdf(0.0)), rtol=TOL_QUADRATURE)
    # BF(mu = 0) = p(y | mu = 0) / p(y), p(y | mu = 0) = ∫ Π N(y_i; 0, v_i + τ²) p(τ) dτ
    y, v = crins_es.yi, crins_es.vi

    def integrand(t):
        return math.exp(np.sum(stats.norm.logpdf(y, 0.0, np.sqrt(v + t * t))) + float(P.half_normal(0.5).logpdf(t)))

    p0 = integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-12, limit=500)[0]
    assert_allclose(ma01.bf_mu0, p0 / math.exp(ma01.log_marginal_likelihood), rtol=1e-9)


# ==================================================================================== analytic limits


def test_tau_prior_concentrated_at_zero_gives_the_common_effect_posterior(crins_es):
    fe = hipacu.pool(crins_es.yi, crins_es.vi, method="FE")
    for prior in (P.half_normal(1e-8), P.uniform(1e-8), P.exponential(1e8)):
        r = bayes(crins_es.yi, crins_es.vi, tau_prior=prior)
        assert r.converged
        assert abs(r.estimate - fe.estimate) <= TOL_LIMIT
        assert abs(r.mu_mean - fe.estimate) <= TOL_LIMIT
        assert abs(r.se - fe.se) <= TOL_LIMIT
        z = stats.norm.ppf(0.975)
        assert_allclose([r.ci_low, r.ci_high], [fe.estimate - z * fe.se, fe.estimate + z * fe.se], atol=TOL_LIMIT)
        assert_allclose([r.pi_low, r.pi_high], [r.ci_low, r.ci_high], atol=TOL_LIMIT)  # no heterogeneity to predict
        # shrinkage with tau -> 0: every study's effect is the common effect
        assert_allclose(r.theta_mean, fe.estimate, atol=TOL_LIMIT)
        assert_allclose(r.theta_sd, fe.se, atol=TOL_LIMIT)


def test_normal_mu_prior_with_tau_at_zero_is_the_conjugate_normal_posterior(crins_es):
    y, v = crins_es.yi, crins_es.vi
    r = bayes(y, v, tau_prior=P.half_normal(1e-8), mu_prior=P.normal(1.0, 0.5))
    prec = np.sum(1 / v) + 1 / 0.25
    mean = (np.sum(y / v) + 1.0 / 0.25) / prec
    assert abs(r.mu_mean - mean) <= TOL_LIMIT
    assert abs(r.mu_sd - prec**-0.5) <= TOL_LIMIT


def test_vague_normal_mu_prior_approaches_the_flat_prior(crins_es):
    flat = bayes(crins_es.yi, crins_es.vi, tau_prior=P.half_normal(0.5))
    vague = bayes(crins_es.yi, crins_es.vi, tau_prior=P.half_normal(0.5), mu_prior=P.normal(0, 1e7))
    # the normal prior adds 1/sd² = 1e-14 to a precision of ~10: relative effect ~1e-15
    for name in ("mu_median", "mu_sd", "tau_median", "pred_sd"):
        assert abs(getattr(flat, name) - getattr(vague, name)) <= TOL_LIMIT


def test_one_study_with_a_proper_tau_prior_and_flat_mu_prior(crins_es):
    # k = 1: p(y | τ) does not depend on τ, so p(τ | y) = p(τ); μ | τ ~ N(y, σ² + τ²)
    y, v, s = crins_es.yi[0], crins_es.vi[0], 0.5
    r = bayes([y], [v], tau_prior=P.half_normal(s))
    assert r.k == 1 and r.converged
    assert abs(r.tau_median - s * stats.norm.ppf(0.75)) <= TOL_QUADRATURE * r.tau_sd
    assert abs(r.tau_mean - s * math.sqrt(2 / math.pi)) <= TOL_QUADRATURE * r.tau_sd
    assert abs(r.mu_median - y) <= TOL_QUADRATURE * r.mu_sd  # symmetric about y
    assert abs(r.mu_sd - math.sqrt(v + s * s)) <= TOL_QUADRATURE * r.mu_sd  # E[τ²] = s²
    assert abs(r.pred_sd - math.sqrt(v + 2 * s * s)) <= TOL_QUADRATURE * r.pred_sd
    assert abs(r.i2 - 100 * r.tau2 / (r.tau2 + v)) <= TOL_CLOSED_FORM  # k = 1: s² = σ_1²


def test_one_study_with_an_improper_tau_prior_is_refused():
    for prior in (P.uniform(), P.jeffreys(), "uniform", "jeffreys"):
        with pytest.raises(ValueError, match="one study carries no information on tau"):
            bayes([0.1], [0.04], tau_prior=prior)


def test_improper_posteriors_are_refused_with_the_studies_needed():
    with pytest.raises(ValueError, match="needs k >= 3"):
        bayes([0.1, 0.3], [0.04, 0.05], tau_prior=P.uniform())
    with pytest.raises(ValueError, match="needs k >= 2"):
        bayes([0.1], [0.04], tau_prior=P.uniform(), mu_prior=P.normal(0, 1))
    # allowed: Jeffreys with k = 2 (flat mu), uniform with k = 2 and a normal mu prior,
    # Jeffreys with k = 1 and a normal mu prior (Röver 2020, Table 1 footnote)
    assert bayes([0.1, 0.3], [0.04, 0.05], tau_prior=P.jeffreys()).converged
    assert bayes([0.1, 0.3], [0.04, 0.05], tau_prior=P.uniform(), mu_prior=P.normal(0, 1)).converged
    assert bayes([0.1], [0.04], tau_prior=P.jeffreys(), mu_prior=P.normal(0, 1)).converged


def test_moments_that_do_not_exist_are_infinite():
    # half-Cauchy, k = 2, flat mu: p(τ | y) ~ τ^-3, so E[τ] exists and E[τ²] does not
    r = bayes([0.1, 0.5], [0.04, 0.05], tau_prior=P.half_cauchy(1.0))
    assert np.isfinite(r.tau_mean) and r.tau_sd == np.inf and r.se == np.inf
    assert np.isfinite(r.estimate) and np.isfinite(r.ci_low)  # quantiles exist


def test_quantiles_are_right_when_the_posterior_has_no_variance():
    # k = 1, flat mu prior, DuMouchel prior (tail τ^-2): E[τ] is infinite, and so is the sd of mu;
    # its quantiles exist: F(q) = ∫ Φ((q - y)/sqrt(σ² + τ²)) s0/(s0 + τ)² dτ with s0 = σ
    y, v = 0.25, 0.04
    r = bayes([y], [v], tau_prior=P.dumouchel())
    assert r.se == np.inf and r.converged
    s0 = math.sqrt(v)

    def cdf(q):
        return integrate.quad(lambda t: special.ndtr((q - y) / math.sqrt(v + t * t)) * s0 / (s0 + t) ** 2, 0, np.inf,
                              limit=500, epsabs=0, epsrel=1e-12)[0]

    for p, got in ((0.025, r.ci_low), (0.5, r.estimate), (0.975, r.ci_high)):
        assert abs(cdf(got) - p) <= TOL_QUADRATURE


def test_mirroring_the_data_mirrors_the_effect_and_keeps_tau(ma01, crins_es):
    m = bayes(-crins_es.yi, crins_es.vi, tau_prior=P.half_normal(0.5), mu_prior=P.normal(0, 4))
    for name in ("tau_median", "tau_mean", "tau_sd", "tau_mode", "mu_sd", "pred_sd"):
        assert abs(getattr(m, name) - getattr(ma01, name)) <= TOL_LIMIT
    for name in ("mu_median", "mu_mean", "mu_mode", "pred_median"):
        assert abs(getattr(m, name) + getattr(ma01, name)) <= TOL_LIMIT
    assert abs(m.ci_low + ma01.ci_high) <= TOL_LIMIT
    assert_allclose(m.theta_median, -ma01.theta_median, atol=TOL_LIMIT)


def test_shifting_the_data_shifts_the_effect_under_a_flat_mu_prior(crins_es):
    a = bayes(crins_es.yi, crins_es.vi, tau_prior=P.half_normal(0.5))
    b = bayes(crins_es.yi + 3.0, crins_es.vi, tau_prior=P.half_normal(0.5))
    assert abs(b.estimate - a.estimate - 3.0) <= TOL_LIMIT
    assert abs(b.tau_median - a.tau_median) <= TOL_LIMIT
    assert_allclose(b.theta_mean - 3.0, a.theta_mean, atol=TOL_LIMIT)


def test_study_order_does_not_matter(ma01, crins_es):
    order = [3, 0, 5, 1, 4, 2]
    r = bayes(crins_es.yi[order], crins_es.vi[order], tau_prior=P.half_normal(0.5), mu_prior=P.normal(0, 4))
    for name in ("estimate", "se", "tau_median", "pi_high"):
        assert abs(getattr(r, name) - getattr(ma01, name)) <= TOL_LIMIT
    assert_allclose(r.theta_median, ma01.theta_median[order], atol=TOL_LIMIT)


def test_credible_intervals_nest_and_shortest_is_not_longer(ma01):
    c, s = ma01.interval("mu"), ma01.interval("mu", "shortest")
    assert s[1] - s[0] <= c[1] - c[0]
    assert ma01.pi_low < ma01.ci_low < ma01.estimate < ma01.ci_high < ma01.pi_high
    assert_allclose(ma01.cdf(ma01.quantile([0.1, 0.5, 0.9])), [0.1, 0.5, 0.9], atol=1e-12)
    assert_allclose(ma01.cdf(ma01.quantile([0.1, 0.5, 0.9], "tau"), "tau"), [0.1, 0.5, 0.9], atol=1e-12)
    # the density integrates to the distribution function
    assert abs(integrate.quad(ma01.pdf, -10, ma01.estimate)[0] - 0.5) <= 1e-9
    assert abs(integrate.quad(lambda t: ma01.pdf(t, "tau"), 0, ma01.tau_median)[0] - 0.5) <= 1e-9


# ==================================================================================== priors


def test_prior_densities_match_scipy():
    t = np.array([0.0, 0.01, 0.3, 1.0, 4.0])
    cases = [(P.half_normal(0.7), stats.halfnorm(scale=0.7)), (P.half_cauchy(0.5), stats.halfcauchy(scale=0.5)),
             (P.exponential(2.5), stats.expon(scale=1 / 2.5)), (P.uniform(2.0), stats.uniform(0, 2.0))]
    for prior, ref in cases:
        assert_allclose(prior.logpdf(t), ref.logpdf(t), rtol=TOL_CLOSED_FORM)
        assert_allclose(prior.cdf(t), ref.cdf(t), rtol=TOL_CLOSED_FORM, atol=1e-15)
    ht = P.half_t(0.4, 3.0)
    assert_allclose(ht.logpdf(t), np.log(2) + stats.t.logpdf(t / 0.4, 3.0) - np.log(0.4), rtol=TOL_CLOSED_FORM)
    ln = P.log_normal(-1.0, 0.6)
    assert_allclose(ln.logpdf(t[1:]), stats.lognorm(0.6, scale=math.exp(-1.0)).logpdf(t[1:]), rtol=TOL_CLOSED_FORM)
    assert ln.logpdf(0.0) == -np.inf and P.half_normal(1).logpdf(-0.1) == -np.inf
    for prior in (P.half_normal(0.7), P.half_t(0.4, 3), P.log_normal(-1, 0.6), P.exponential(2), P.dumouchel()):
        p = np.array([0.05, 0.5, 0.95])
        vv = SCHOOLS_STDERR**2
        assert_allclose(prior.cdf(prior.ppf(p, vv), vv), p, rtol=1e-12)


def test_variance_dependent_priors_follow_roever_2020():
    v = SCHOOLS_STDERR**2
    t = np.array([0.5, 3.0, 10.0, 40.0])
    s02 = len(v) / np.sum(1 / v)  # harmonic mean of the squared standard errors (JSS p. 9)
    assert_allclose(P.shrinkage().pdf(t, v), 2 * t * s02 / (s02 + t**2) ** 2, rtol=TOL_CLOSED_FORM)  # eq. 3
    s0 = math.sqrt(s02)
    assert_allclose(P.dumouchel().pdf(t, v), s0 / (s0 + t) ** 2, rtol=TOL_CLOSED_FORM)  # eq. 4
    jeff = np.array([math.sqrt(np.sum((x / (v + x * x)) ** 2)) for x in t])
    assert_allclose(P.jeffreys().pdf(t, v), jeff, rtol=TOL_CLOSED_FORM)  # eq. 7
    # medians s0 (JSS p. 9); proper priors integrate to 1
    assert_allclose([P.shrinkage().ppf(0.5, v), P.dumouchel().ppf(0.5, v)], [s0, s0], rtol=TOL_CLOSED_FORM)
    for prior in (P.shrinkage(), P.dumouchel()):
        assert abs(integrate.quad(lambda x, p=prior: float(p.pdf(x, v)), 0, np.inf, limit=200)[0] - 1) <= 1e-8
    # one value per analysis for 2-D variances (studies x analyses, NaN absent)
    V = np.stack([v, np.r_[v[:5], np.nan, np.nan, np.nan]], axis=1)
    got = P.jeffreys().logpdf(np.array([[3.0, 3.0]]), V)[0]
    assert_allclose(got, [P.jeffreys().logpdf(3.0, v), P.jeffreys().logpdf(3.0, v[:5])], rtol=TOL_CLOSED_FORM)


def test_empirical_priors_convert_tau2_parameters_to_tau():
    # Turner et al. (2015) Table IV: all-cause mortality, pharmacological vs placebo: N(-3.95, 1.34²) for log τ²
    tp = P.turner2015("all_cause_mortality", "pharma_vs_control")
    assert (tp.meanlog, tp.sdlog) == pytest.approx((-3.95 / 2, 1.34 / 2))
    assert P.turner2015().parameters == pytest.approx({"meanlog": -1.28, "sdlog": 0.87})  # p. 993: N(-2.56, 1.74²)
    # Rhodes et al. (2015) Table 3: obstetric, pharmacological vs placebo: log-t5(-4.13, 2.34) for τ²
    rp = P.rhodes2015("obstetric", "pharma_vs_control")
    assert (rp.location, rp.scale, rp.df) == pytest.approx((-4.13 / 2, 2.34 / 2, 5))
    assert (P.rhodes2015().location, P.rhodes2015().scale) == pytest.approx((-1.72, 1.295))  # Sec. 3.3
    # the density is that of log τ = location + scale · T5
    t = np.array([0.05, 0.2, 1.0])
    assert_allclose(rp.logpdf(t), stats.t.logpdf((np.log(t) - rp.location) / rp.scale, 5) - np.log(rp.scale) - np.log(t),
                    rtol=TOL_CLOSED_FORM)
    assert "Table IV" in tp.citation and "Table 3" in rp.citation
    assert P.rhodes2015("obstetric", "pharma_vs_control", area="cancer").location == pytest.approx(-1.57 / 2)


# ==================================================================================== bad input


@pytest.mark.parametrize("make, argument", [
    (lambda: P.half_normal(-1), "scale=-1"), (lambda: P.half_cauchy(0), "scale=0"), (lambda: P.half_t(1, 0), "df=0"),
    (lambda: P.exponential(-2), "rate=-2"), (lambda: P.log_normal(0, 0), "sdlog=0"), (lambda: P.uniform(0), "upper=0"),
    (lambda: P.normal(0, -1), "sd=-1"), (lambda: P.half_normal(float("nan")), "scale=nan"),
])
def test_non_positive_parameters_are_refused_naming_the_argument(make, argument):
    with pytest.raises(ValueError, match=argument) as info:
        make()
    assert "must be a finite number > 0" in str(info.value)


def test_unknown_empirical_prior_categories_list_the_allowed_ones():
    with pytest.raises(ValueError, match="outcome='surgery' is not allowed; choose one of .*'surgical'"):
        P.turner2015("surgery", "pharma_vs_control")
    with pytest.raises(ValueError, match="comparison='placebo' is not allowed; choose one of .*'pharma_vs_control'"):
        P.turner2015("surgical", "placebo")
    with pytest.raises(ValueError, match="area='lung' is not allowed; choose one of 'other', 'respiratory', 'cancer'"):
        P.rhodes2015("obstetric", "pharma_vs_control", area="lung")
    with pytest.raises(ValueError, match="give both outcome"):
        P.rhodes2015("obstetric")


def test_bad_arguments_to_bayes_are_refused():
    y, v = [0.1, 0.3, -0.2], [0.04, 0.05, 0.06]
    with pytest.raises(ValueError, match="tau_prior='cauchy' is not a known prior name; choose one of 'uniform'"):
        bayes(y, v, tau_prior="cauchy")
    with pytest.raises(ValueError, match="tau_prior=0.5 is not allowed"):
        bayes(y, v, tau_prior=0.5)
    with pytest.raises(ValueError, match="mu_prior"):
        bayes(y, v, mu_prior=(0, 1))
    with pytest.raises(ValueError, match="exactly one of vi"):
        bayes(y, v, sei=v)
    with pytest.raises(ValueError, match="exactly one of vi"):
        bayes(y)
    with pytest.raises(ValueError, match=r"vi\[1\] is -0.05; it must be > 0"):
        bayes(y, [0.04, -0.05, 0.06])
    with pytest.raises(ValueError, match="yi has 3, vi has 2"):
        bayes(y, v[:2])
    with pytest.raises(ValueError, match="labels has 2 entries"):
        bayes(y, v, labels=["a", "b"])
    with pytest.raises(ValueError, match="level=95"):
        bayes(y, v, level=95)
    r = bayes(y, v)
    with pytest.raises(ValueError, match="kind='hpd' is not allowed; choose one of 'central', 'shortest'"):
        r.interval("mu", "hpd")
    with pytest.raises(ValueError, match="of='sigma' is not allowed"):
        r.cdf(0.0, "sigma")
    with pytest.raises(ValueError, match="needs study="):
        r.quantile(0.5, "theta")
    with pytest.raises(ValueError, match="study=7 is not allowed"):
        r.quantile(0.5, "theta", study=7)


def test_bad_batches_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        bayes_batch([[0.1, 0.2]], [[0.1, 0.2, 0.3]])
    with pytest.raises(ValueError, match=r"V\[0, 1\] is NaN but the other is not"):
        bayes_batch([[0.1, 0.2]], [[0.1, np.nan]])
    with pytest.raises(ValueError, match=r"V\[0, 0\] = -0.1"):
        bayes_batch([[0.1, 0.2]], [[-0.1, 0.1]])
    with pytest.raises(ValueError, match="row 1 of Y has no study"):
        bayes_batch([[0.1, 0.2], [np.nan, np.nan]], [[0.1, 0.1], [np.nan, np.nan]])
    with pytest.raises(ValueError, match="one study carries no information"):
        bayes_batch([[0.1, 0.2], [0.3, np.nan]], [[0.1, 0.1], [0.1, np.nan]], tau_prior=P.jeffreys())


# ==================================================================================== protocol, result, batch


def test_result_satisfies_the_summary_estimate_protocol(ma01):
    assert isinstance(ma01, SummaryEstimate)
    for name in SUMMARY_FIELDS:
        assert hasattr(ma01, name)
    assert ma01.method == "bayes" and ma01.k == 6 and ma01.level == 0.95
    assert math.isnan(ma01.pval)
    assert ma01.estimate == ma01.mu_median and ma01.se == ma01.mu_sd
    assert_allclose((ma01.ci_low, ma01.ci_high), ma01.interval("mu"), rtol=0, atol=1e-12 * ma01.mu_sd)
    assert_allclose((ma01.pi_low, ma01.pi_high), ma01.interval("pred"), rtol=0, atol=1e-12 * ma01.pred_sd)
    assert abs(ma01.tau2 - ma01.tau_median**2) == 0.0
    assert abs(ma01.quantile(0.5, "tau") ** 2 - ma01.tau2) <= 1e-12  # = posterior median of τ²
    wv = 1 / ma01.vi
    s2 = (ma01.k - 1) * wv.sum() / (wv.sum() ** 2 - (wv**2).sum())  # Higgins & Thompson (2002), eq. 9
    assert abs(ma01.i2 - 100 * ma01.tau2 / (ma01.tau2 + s2)) <= TOL_CLOSED_FORM


def test_result_is_frozen_and_its_arrays_read_only(ma01):
    with pytest.raises(dataclasses.FrozenInstanceError):
        ma01.estimate = 0.0
    for a in (ma01.theta_median, ma01.yi, ma01.grid.weight, ma01.grid.tau):
        with pytest.raises(ValueError):
            a[0] = 0.0


def test_summary_and_frames(ma01):
    text = ma01.summary()
    assert "marginal posterior summary" in text and "half-normal(scale=0.5)" in text and "normal(mean=0, sd=4)" in text
    assert f"{ma01.tau_median:.4f}" in text and f"{ma01.estimate:.4f}" in text
    assert str(ma01) == text
    frame = ma01.to_frame()
    assert len(frame) == 1 and frame.loc[0, "estimate"] == ma01.estimate and frame.loc[0, "tau_prior"] == "half-normal(scale=0.5)"
    shr = ma01.shrinkage_frame()
    assert list(shr["study"]) == list(CRINS_LABELS) and shr.loc[0, "median"] == ma01.theta_median[0]
    assert ma01.interval("theta", study="Gibelli (2004)") == ma01.interval("theta", study=1)


def test_batch_rows_equal_single_analyses():
    rng = np.random.default_rng(11)
    n, k = 12, 7
    V = rng.uniform(0.01, 0.3, (n, k))
    Y = rng.normal(0.2, np.sqrt(0.05 + V))
    Y[3, 5:], V[3, 5:] = np.nan, np.nan  # absent studies
    Y[8, 1:], V[8, 1:] = np.nan, np.nan  # k = 1
    for tau_prior, mu_prior in ((P.half_normal(0.5), None), (P.jeffreys(), P.normal(0, 2)), (P.dumouchel(), None)):
        if not tau_prior.proper:
            Yb, Vb = np.delete(Y, 8, axis=0), np.delete(V, 8, axis=0)
        else:
            Yb, Vb = Y, V
        batch = bayes_batch(Yb, Vb, tau_prior=tau_prior, mu_prior=mu_prior)
        assert len(batch) == len(Yb) and batch.converged.all()
        for i in range(len(Yb)):
            keep = ~np.isnan(Yb[i])
            one = bayes(Yb[i][keep], Vb[i][keep], tau_prior=tau_prior, mu_prior=mu_prior)
            assert batch.k[i] == one.k
            for name in ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "mu_mode",
                         "mu_mean", "tau_median", "tau_mean", "tau_sd", "tau_mode", "tau_ci_low", "tau_ci_high",
                         "pred_mode", "pred_median", "pred_mean", "pred_sd", "log_marginal_likelihood"):
                a, b = getattr(batch, name)[i], getattr(one, name)
                tol = (TOL_MODE * one.tau_sd) if name == "tau_mode" else TOL_BATCH * (1 + abs(b))
                assert a == b or (np.isnan(a) and np.isnan(b)) or abs(a - b) <= tol, (name, i)
    frame = batch.to_frame()
    assert len(frame) == len(batch) and "estimate" in frame and frame["method"].eq("bayes").all()


def test_unconverged_integration_warns_and_is_flagged(monkeypatch, crins_es):
    monkeypatch.setattr(bayes_mod, "TAIL_MASS", 0.0)  # no grid can meet a zero tail mass
    with pytest.warns(ConvergenceWarning, match="did not meet its accuracy checks"):
        r = bayes(crins_es.yi, crins_es.vi)
    assert not r.converged
    assert "WARNING" in r.summary()


def test_public_names():
    assert hipacu.bayes is bayes and hipacu.priors.half_normal(0.5) == P.half_normal(0.5)
    from hipacu.priors import turner2015  # noqa: F401
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bayes([0.1, 0.2, 0.3], [0.01, 0.02, 0.03], tau_prior="shrinkage")
