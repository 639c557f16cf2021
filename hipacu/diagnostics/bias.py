"""Small-study effects: funnel-plot asymmetry tests, trim-and-fill and funnel contours.

Everything here reproduces metafor 3.8 (Viechtbauer 2010) and is checked against it
(``tests/reference/make_metafor_bias.R``):

=====================================  ==========================================================
hipacu                                 metafor
=====================================  ==========================================================
``egger_test(yi, vi, model="lm")``     ``regtest(yi, vi, model="lm")`` (Egger et al. 1997)
``egger_test(yi, vi, model="rma",``    ``regtest(rma(yi, vi, method=method), model="rma")``
``method=...)``                        (Sterne & Egger 2005)
``peters_test(yi, vi, ni)``            ``regtest(yi, vi, ni=ni, model="lm", predictor="ninv")``
                                       (Peters et al. 2006)
``begg_test(yi, vi)``                  ``ranktest(yi, vi)`` (Begg & Mazumdar 1994)
``trim_and_fill(yi, vi, method=...)``  ``trimfill(rma(yi, vi, method=method))`` (Duval &
                                       Tweedie 2000a, 2000b)
``funnel_contours(estimate, se_max)``  the pseudo-confidence region lines of ``funnel()``
                                       (contour-enhanced: Peters et al. 2008)
=====================================  ==========================================================

Pooling inside trim-and-fill uses :func:`hipacu.pool` (the vectorised engine). The regression
tests fit a two-column model (intercept + predictor); for ``model="rma"`` that is a mixed-effects
meta-regression (metafor ``rma.uni`` with ``mods``) fitted by the engine of
:mod:`hipacu.models.regression`, as is the slope that chooses trim-and-fill's side.

References
----------
Begg, C. B., & Mazumdar, M. (1994). Operating characteristics of a rank correlation test for
publication bias. Biometrics, 50(4), 1088-1101.
Duval, S., & Tweedie, R. (2000a). Trim and fill: a simple funnel-plot-based method of testing
and adjusting for publication bias in meta-analysis. Biometrics, 56(2), 455-463.
Duval, S., & Tweedie, R. (2000b). A nonparametric "trim and fill" method of accounting for
publication bias in meta-analysis. JASA, 95(449), 89-98.
Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in meta-analysis detected
by a simple, graphical test. BMJ, 315(7109), 629-634.
Peters, J. L., Sutton, A. J., Jones, D. R., Abrams, K. R., & Rushton, L. (2006). Comparison of
two methods to detect publication bias in meta-analysis. JAMA, 295(6), 676-680.
Peters, J. L., Sutton, A. J., Jones, D. R., Abrams, K. R., & Rushton, L. (2008).
Contour-enhanced meta-analysis funnel plots help distinguish publication bias from other causes
of asymmetry. J Clin Epidemiol, 61(10), 991-996.
Stanley, T. D., & Doucouliagos, H. (2014). Meta-regression approximations to reduce publication
selection bias. Research Synthesis Methods, 5(1), 60-78.
Sterne, J. A. C., & Egger, M. (2005). Regression methods to detect publication and other bias in
meta-analysis. In Rothstein, Sutton & Borenstein (Eds.), Publication bias in meta-analysis
(pp. 99-110). Wiley.
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. Journal of
Statistical Software, 36(3), 1-48.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import linalg, special

from hipacu._checks import as_1d, check_choice, check_level, check_same_length, format_p, frozen_array
from hipacu.exceptions import ConvergenceWarning, user_stacklevel
from hipacu.models.pooling import METHODS, PooledEstimate, pool
from hipacu.models.tau2 import MAXITER
from hipacu.models.regression import coefficient_fit
from hipacu.models._stats import critical_value, two_sided_p

__all__ = [
    "EggerResult",
    "RankTestResult",
    "TrimFillResult",
    "FunnelContours",
    "egger_test",
    "peters_test",
    "begg_test",
    "trim_and_fill",
    "funnel_contours",
    "REGRESSION_MODELS",
    "EGGER_PREDICTORS",
    "TRIMFILL_ESTIMATORS",
    "FUNNEL_SIDES",
]

#: ``model`` of the regression tests: weighted regression with multiplicative dispersion
#: (``"lm"``, Egger's original test) or a fixed/mixed-effects meta-regression (``"rma"``).
REGRESSION_MODELS = ("lm", "rma")
#: Predictors of :func:`egger_test`: the standard error (Egger) or the sampling variance
#: (PEESE, Stanley & Doucouliagos 2014).
EGGER_PREDICTORS = ("sei", "vi")
#: Estimators of the number of missing studies (Duval & Tweedie 2000a, 2000b).
TRIMFILL_ESTIMATORS = ("L0", "R0", "Q0")
#: Sides of the funnel plot on which trim-and-fill imputes studies.
FUNNEL_SIDES = ("left", "right")
#: metafor ``trimfill(maxiter=100)``: iteration cap of the trim-and-fill algorithm.
TRIMFILL_MAXITER = 100

# summary.lm's "essentially perfect fit" rule uses 1e-30 (residual SD ~1e-15 of the fitted
# scale); a residual SD below 1e-10 of that scale already makes the t statistic rounding noise.
_PERFECT_FIT = 1e-20
# lm()'s QR rank tolerance: a predictor whose centred norm is below 1e-7 of its norm is collinear
# with the intercept (metafor: "Model matrix no longer of full rank").
_RANK_TOL = 1e-7




# =========================================================================== regression tests


@dataclass(frozen=True)
class EggerResult:
    """A regression test for funnel-plot asymmetry (metafor ``regtest``).

    The model is ``yi = b0 + b1 * x_i (+ u_i) + e_i`` with ``x`` the predictor; the test is of
    ``b1 = 0`` and ``b0`` is the *limit estimate* (the effect as ``x -> 0``, i.e. in an
    infinitely precise study).

    Attributes
    ----------
    statistic : float
        t (``model="lm"``, or ``"rma"`` with ``knha=True``) or z statistic of the predictor's
        coefficient ``b1`` (metafor ``zval``).
    pval : float
        Two-sided p-value of that test.
    df : float
        Degrees of freedom of the t test, ``k - 2``; ``inf`` for the z test.
    limit_estimate : float
        Intercept ``b0``: the estimate as the predictor goes to 0 (metafor ``est``; PET for
        ``predictor="sei"``, PEESE for ``"vi"``, Stanley & Doucouliagos 2014).
    limit_ci_low, limit_ci_high : float
        Confidence interval for the limit estimate at ``level`` (t on ``df`` or z).
    model : str
        ``"lm"`` or ``"rma"``.
    predictor : str
        ``"sei"``, ``"vi"`` or ``"ninv"`` (Peters' test).
    k : int
        Number of studies.
    slope, slope_se : float
        The predictor's coefficient ``b1`` and its standard error.
    limit_se : float
        Standard error of the limit estimate.
    method : str or None
        τ² estimator of the meta-regression (``"FE"`` or a metafor code); ``None`` for ``"lm"``.
    tau2 : float or None
        Residual between-study variance of the meta-regression (0 for ``"FE"``); ``None`` for
        ``"lm"``, whose multiplicative dispersion is not a τ².
    knha : bool
        Whether the meta-regression used the Knapp–Hartung t test.
    level : float
        Confidence level of the limit-estimate interval.
    """

    statistic: float
    pval: float
    df: float
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float
    model: str
    predictor: str
    k: int
    slope: float
    slope_se: float
    limit_se: float
    method: Optional[str]
    tau2: Optional[float]
    knha: bool
    level: float

    def fitted(self, x) -> np.ndarray:
        """The fitted regression line ``limit_estimate + slope * x`` at predictor values ``x``.

        For ``predictor="sei"``, ``x`` is a standard error, so this is the Egger line to draw on a
        funnel plot (effect against standard error).
        """
        return self.limit_estimate + self.slope * np.asarray(x, dtype=float)

    def to_frame(self):
        """One-row DataFrame of every field."""
        import pandas as pd

        return pd.DataFrame([{name: getattr(self, name) for name in self.__dataclass_fields__}])

    def summary(self, digits: int = 4) -> str:
        """Readable text in the spirit of metafor's ``print.regtest``."""
        f = f"{{:.{digits}f}}"
        if self.model == "lm":
            model = "weighted regression with multiplicative dispersion"
        else:
            model = ("fixed-effects" if self.method == "FE" else f"mixed-effects ({self.method})") + (
                " meta-regression model" + (", Knapp-Hartung t test" if self.knha else "")
            )
        pred = {"sei": "standard error", "vi": "sampling variance", "ninv": "inverse of the sample size"}
        test = f"t = {self.statistic:.4f}, df = {self.df:g}" if np.isfinite(self.df) else f"z = {self.statistic:.4f}"
        return "\n".join(
            [
                f"Regression test for funnel plot asymmetry (k = {self.k})",
                f"Model:     {model}",
                f"Predictor: {pred[self.predictor]}",
                "",
                f"Test for funnel plot asymmetry: {test}, p = {format_p(self.pval)}",
                f"Limit estimate (as {self.predictor} -> 0): b = {f.format(self.limit_estimate)} "
                f"({100 * self.level:g}% CI {f.format(self.limit_ci_low)} to {f.format(self.limit_ci_high)})",
            ]
        )

    def __str__(self) -> str:
        return self.summary()


def _check_full_rank(x: np.ndarray, what: str) -> None:
    """Raise unless the predictor varies (metafor: 'Model matrix no longer of full rank')."""
    if np.linalg.norm(x - x.mean()) <= _RANK_TOL * np.linalg.norm(x):
        raise ValueError(
            f"the predictor ({what}) is the same for every study, so it is collinear with the intercept "
            "and the regression test cannot be fitted (metafor: 'Model matrix no longer of full rank')"
        )


def _perfect_fit(resid_w: np.ndarray, fitted_w: np.ndarray, df: int) -> bool:
    """summary.lm's 'essentially perfect fit' rule, at a looser threshold (see _PERFECT_FIT)."""
    resvar = (resid_w @ resid_w) / df
    scale = fitted_w.mean() ** 2 + fitted_w.var(ddof=1)
    return bool(resvar <= scale * _PERFECT_FIT)


def _crit_and_p(stat: np.ndarray, df: float, level: float):
    return critical_value(level, df), two_sided_p(stat, df)


def _lm_fit(y: np.ndarray, v: np.ndarray, X: np.ndarray):
    """Weighted least squares with weights ``1/v`` and multiplicative dispersion (R ``lm``).

    ``b = (X'WX)⁻¹X'Wy``, ``Var(b) = s² (X'WX)⁻¹`` with ``s² = Σ w (y - Xb)² / (k - p)``; solved by
    QR decomposition as R does.
    """
    k, p = X.shape
    sw = 1 / np.sqrt(v)
    Xw, yw = X * sw[:, None], y * sw
    q, r = np.linalg.qr(Xw)
    beta = linalg.solve_triangular(r, q.T @ yw)
    fitted = Xw @ beta
    resid = yw - fitted
    df = k - p
    if _perfect_fit(resid, fitted, df):
        raise ValueError(
            "the weighted regression fits the effects exactly (e.g. all effects identical), so the "
            "residual variance is 0 and the asymmetry t test is undefined "
            "(metafor reports rounding noise with the warning 'essentially perfect fit')"
        )
    s2 = resid @ resid / df
    rinv = linalg.solve_triangular(r, np.eye(p))
    cov = s2 * (rinv @ rinv.T)
    return beta, np.sqrt(np.diag(cov)), float(df), None


def _rma_fit(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, knha: bool):
    """Fixed/mixed-effects meta-regression (metafor ``rma.uni(yi, vi, mods=X, intercept=FALSE)``).

    Fitted by the meta-regression engine of :mod:`hipacu.models.regression` (``b = (X'WX)⁻¹X'Wy``,
    ``Var(b) = (X'WX)⁻¹`` with ``W = diag(1/(v + τ²))``; with ``knha`` the variance is scaled by
    ``Σ w (y - Xb)² / (k-p)`` and tests use t on ``k - p`` df, Knapp & Hartung 2003). Here a τ²
    estimator that does not converge in ``MAXITER`` iterations is an error (metafor stops too), and
    so is a perfect fit under ``knha``.
    """
    k, p = X.shape
    fit = coefficient_fit(y, v, X, method, knha, maxiter=MAXITER)
    if not fit.converged:
        how = "Fisher-scoring iterations (metafor: 'Fisher scoring algorithm did not converge')"
        raise ValueError(
            f"the {method} estimator of the asymmetry meta-regression did not converge in {MAXITER} "
            + (how if method in ("ML", "REML", "EB") else "iterations")
        )
    beta = fit.coefficients
    if knha:
        sw = 1 / np.sqrt(v + fit.tau2)
        xb = X @ beta
        if _perfect_fit(sw * (y - xb), sw * xb, k - p):
            raise ValueError(
                "the meta-regression fits the effects exactly (e.g. all effects identical), so the "
                "Knapp-Hartung variance factor is 0 and the t test is undefined "
                "(metafor reports t = +/-Inf from rounding noise)"
            )
    return beta, fit.se, fit.df, fit.tau2


def _regression_test(y, v, x, *, model, method, knha, level, predictor, what) -> EggerResult:
    k = len(y)
    _check_full_rank(x, what)
    X = np.column_stack([np.ones(k), x])
    if model == "lm":
        beta, se, df, tau2 = _lm_fit(y, v, X)
    else:
        beta, se, df, tau2 = _rma_fit(y, v, X, method, knha)
    stat = beta / se
    crit, pvals = _crit_and_p(stat, df, level)
    return EggerResult(
        statistic=float(stat[1]),
        pval=float(pvals[1]),
        df=df,
        limit_estimate=float(beta[0]),
        limit_ci_low=float(beta[0] - crit * se[0]),
        limit_ci_high=float(beta[0] + crit * se[0]),
        model=model,
        predictor=predictor,
        k=k,
        slope=float(beta[1]),
        slope_se=float(se[1]),
        limit_se=float(se[0]),
        method=None if model == "lm" else method,
        tau2=None if model == "lm" else float(tau2),
        knha=bool(knha) if model == "rma" else False,
        level=level,
    )


def _regression_args(yi, vi, model, method, knha, level, test_name):
    y = as_1d(yi, "yi")
    v = as_1d(vi, "vi", positive=True)
    k = check_same_length(yi=y, vi=v)
    check_choice(model, "model", REGRESSION_MODELS)
    check_choice(method, "method", METHODS)
    if not isinstance(knha, (bool, np.bool_)):
        raise ValueError(f"knha={knha!r} is not allowed; use True or False")
    if knha and model == "lm":
        raise ValueError("knha=True applies to model='rma' only; model='lm' already uses a t test on k - 2 df")
    level = check_level(level)
    if k < 3:
        raise ValueError(f"{test_name} needs k >= 3 studies; got k = {k}")
    return y, v, k, level


def egger_test(
    yi, vi, *, model: str = "lm", method: str = "FE", predictor: str = "sei", knha: bool = False, level: float = 0.95
) -> EggerResult:
    """Egger's regression test for funnel-plot asymmetry, and its meta-regression version.

    ``model="lm"`` (default) is the classical test (Egger et al. 1997, in the weighted form of
    Sterne & Egger 2005): weighted least squares of ``yi`` on ``sei = sqrt(vi)`` with weights
    ``1/vi`` and a multiplicative dispersion parameter, t test of the slope on ``k - 2`` df.
    (Equivalent to regressing the standard normal deviate ``yi/sei`` on the precision ``1/sei``:
    Egger's intercept is this slope.) metafor: ``regtest(yi, vi, model="lm")``.

    ``model="rma"`` fits the fixed- or mixed-effects meta-regression ``yi = b0 + b1 sei + u + e``
    with τ² estimated by ``method`` and tests ``b1`` by z (t on ``k - 2`` df with ``knha``).
    metafor: ``regtest(rma(yi, vi, method=method, test="z"|"knha"), model="rma")``. The default
    ``method="FE"`` is the fixed-effects version; metafor's own default for a bare vector is
    ``"REML"``.

    Parameters
    ----------
    yi, vi : array-like
        Effects and sampling variances, one per study (k >= 3).
    model : {"lm", "rma"}
    method : str
        τ² estimator for ``model="rma"``: ``"FE"`` or one of ``hipacu.METHODS`` (ignored for
        ``"lm"``).
    predictor : {"sei", "vi"}
        ``"sei"`` (Egger; the limit estimate is PET) or ``"vi"`` (the limit estimate is PEESE,
        Stanley & Doucouliagos 2014).
    knha : bool
        Knapp–Hartung t test for ``model="rma"``.
    level : float
        Confidence level for the limit estimate's interval.

    Returns
    -------
    EggerResult

    Raises
    ------
    ValueError
        k < 3; all sampling variances equal (the predictor is collinear with the intercept);
        a perfect fit under ``"lm"`` or ``knha`` (all effects identical: the test is undefined);
        bad input or options.
    """
    y, v, k, level = _regression_args(yi, vi, model, method, knha, level, "Egger's test")
    check_choice(predictor, "predictor", EGGER_PREDICTORS)
    x = np.sqrt(v) if predictor == "sei" else v
    what = "standard error" if predictor == "sei" else "sampling variance"
    return _regression_test(y, v, x, model=model, method=method, knha=knha, level=level, predictor=predictor, what=what)


def peters_test(
    yi, vi, ni, *, model: str = "lm", method: str = "FE", knha: bool = False, level: float = 0.95
) -> EggerResult:
    """Peters' regression test: the effect regressed on the inverse of the total sample size.

    Weighted regression of ``yi`` on ``1/ni`` with weights ``1/vi`` (``model="lm"``, multiplicative
    dispersion, t test on ``k - 2`` df), as metafor ``regtest(yi, vi, ni=ni, model="lm",
    predictor="ninv")``. Peters et al. (2006) proposed it for log odds ratios, where ``1/n`` is
    not a function of the effect itself (unlike its standard error); their paper weights by a
    function of the arm sizes, while metafor (and hipacu) weight by ``1/vi``. ``model="rma"``
    gives the meta-regression version, as :func:`egger_test`. The intercept is the limit estimate
    as ``n -> inf``.

    Parameters
    ----------
    yi, vi : array-like
        Effects and sampling variances (k >= 3).
    ni : array-like
        Total sample size of each study (> 0).
    model, method, knha, level
        As :func:`egger_test`.

    Returns
    -------
    EggerResult
        With ``predictor="ninv"``.
    """
    y, v, k, level = _regression_args(yi, vi, model, method, knha, level, "Peters' test")
    n = as_1d(ni, "ni", positive=True)
    check_same_length(yi=y, ni=n)
    return _regression_test(
        y, v, 1 / n, model=model, method=method, knha=knha, level=level, predictor="ninv", what="1/ni"
    )


# =========================================================================== rank correlation


@dataclass(frozen=True)
class RankTestResult:
    """Begg and Mazumdar's rank correlation test (metafor ``ranktest``).

    Attributes
    ----------
    kendall_tau : float
        Kendall's tau-b between the standardised effects and the sampling variances.
    pval : float
        Two-sided p-value for tau = 0: exact (permutation distribution of Kendall's statistic) when
        there are no ties, else the normal approximation with the tie-corrected variance.
    k : int
        Number of studies.
    exact : bool
        Whether ``pval`` is exact.
    """

    kendall_tau: float
    pval: float
    k: int
    exact: bool

    def to_frame(self):
        """One-row DataFrame of every field."""
        import pandas as pd

        return pd.DataFrame([{name: getattr(self, name) for name in self.__dataclass_fields__}])

    def summary(self) -> str:
        how = "exact" if self.exact else "normal approximation (ties)"
        return (
            f"Rank correlation test for funnel plot asymmetry (k = {self.k})\n"
            f"Kendall's tau = {self.kendall_tau:.4f}, p = {format_p(self.pval)} ({how})"
        )

    def __str__(self) -> str:
        return self.summary()


def _kendall_null_cdf_tails(n: int, q: int) -> tuple[float, float]:
    """``P(T <= q)`` and ``P(T >= q)`` for Kendall's concordance count under independence.

    The number of concordant pairs of a random permutation of ``n`` has the Mahonian distribution
    (permutations by number of inversions): its probability generating function is
    ``Π_{m=1..n} (1 + z + ... + z^{m-1}) / m`` (Kendall 1938). Built by repeated convolution,
    which keeps both tails accurate (R's ``pKendall`` returns the upper tail as ``1 - cdf``).
    """
    pmf = np.ones(1)
    for m in range(2, n + 1):
        pmf = np.convolve(pmf, np.full(m, 1.0 / m))
    return float(pmf[: q + 1].sum()), float(pmf[q:].sum())


def begg_test(yi, vi) -> RankTestResult:
    """Begg and Mazumdar's (1994) rank correlation test for funnel-plot asymmetry.

    Kendall's tau-b between the standardised deviates ``(yi - θ̂) / sqrt(vi - 1/Σw)`` (``θ̂`` the
    fixed-effect estimate, ``w = 1/vi``) and the variances ``vi``. As metafor ``ranktest(yi, vi)``
    (which calls ``cor.test(..., method="kendall", exact=TRUE)``): without ties the p-value is
    exact for every k, from the null distribution of the number of concordant pairs, two-sided as
    ``min(1, 2 min(P(T <= q), P(T >= q)))``; with ties it is the normal approximation
    ``z = S / sqrt(Var S)`` with the tie-corrected variance (Kendall 1970, eq. 4.3; no continuity
    correction) and a warning, as R gives.

    Parameters
    ----------
    yi, vi : array-like
        Effects and sampling variances (k >= 2).

    Returns
    -------
    RankTestResult

    Raises
    ------
    ValueError
        k < 2; all effects identical or all variances equal (tau is undefined: metafor returns NA
        or, for identical effects, a tau from rounding noise).
    """
    y = as_1d(yi, "yi")
    v = as_1d(vi, "vi", positive=True)
    k = check_same_length(yi=y, vi=v)
    if k < 2:
        raise ValueError(f"Begg's rank test needs k >= 2 studies; got k = {k}")
    if np.ptp(y) == 0:
        raise ValueError(
            "all effects are identical, so the standardised effects do not vary and Kendall's tau is undefined"
        )
    if np.ptp(v) == 0:
        raise ValueError("all sampling variances are equal, so Kendall's tau with the variances is undefined")
    w = 1 / v
    theta = (w * y).sum() / w.sum()
    ystar = (y - theta) / np.sqrt(v - 1 / w.sum())

    iu = np.triu_indices(k, 1)
    sx = np.sign(ystar[:, None] - ystar[None, :])[iu]
    sy = np.sign(v[:, None] - v[None, :])[iu]
    s = int((sx * sy).sum())
    n0 = k * (k - 1) // 2
    n1, n2 = int((sx == 0).sum()), int((sy == 0).sum())
    tau = s / np.sqrt(float(n0 - n1) * float(n0 - n2))

    ties = min(len(np.unique(ystar)), len(np.unique(v))) < k
    if not ties:
        q = (s + n0) // 2  # number of concordant pairs
        lower, upper = _kendall_null_cdf_tails(k, q)
        p = upper if 2 * q > n0 else lower
        return RankTestResult(kendall_tau=float(tau), pval=min(2 * p, 1.0), k=k, exact=True)

    warnings.warn(
        "ties among the standardised effects or the variances: the exact p-value of Kendall's tau is not "
        "available, so the normal approximation is used (as R's cor.test and metafor's ranktest)",
        UserWarning,
        stacklevel=user_stacklevel(),
    )

    def tie_sums(a):
        t = np.unique(a, return_counts=True)[1].astype(float)
        t = t[t > 1]
        return (t * (t - 1)).sum(), (t * (t - 1) * (2 * t + 5)).sum(), (t * (t - 1) * (t - 2)).sum()

    x1, x2, x3 = tie_sums(ystar)
    y1, y2, y3 = tie_sums(v)
    var_s = (k * (k - 1) * (2 * k + 5) - x2 - y2) / 18 + x1 * y1 / (2 * k * (k - 1))
    if k > 2:  # triple ties need k >= 3
        var_s += x3 * y3 / (9 * k * (k - 1) * (k - 2))
    z = s / np.sqrt(var_s)
    return RankTestResult(kendall_tau=float(tau), pval=float(2 * special.ndtr(-abs(z))), k=k, exact=False)


# =========================================================================== funnel contours


@dataclass(frozen=True)
class FunnelContours:
    """Pseudo-confidence contour lines of a funnel plot (effect on x, standard error on y).

    For each level ``L`` the lines are ``estimate ± z_L sqrt(se² + tau2)`` with
    ``z_L = Φ⁻¹(1 - (1-L)/2)``, over the grid ``se``; exactly what metafor's ``funnel()`` draws
    (``refline``, ``level``, ``addtau2``). With ``estimate = 0`` they are the significance
    contours of a contour-enhanced funnel plot (Peters et al. 2008).

    Attributes
    ----------
    estimate : float
        Reference line (the pooled estimate, or 0 for significance contours).
    tau2 : float
        Between-study variance added to ``se²`` (0 for the classical funnel).
    levels : tuple of float
        Confidence levels, in the order given.
    crit : ndarray, shape (n_levels,)
        Normal critical values ``z_L``.
    se : ndarray, shape (n_points,)
        Standard-error grid from 0 to ``se_max``, increasing.
    left, right : ndarray, shape (n_levels, n_points)
        Left and right bounds for each level along ``se``.
    """

    estimate: float
    tau2: float
    levels: tuple
    crit: np.ndarray
    se: np.ndarray
    left: np.ndarray
    right: np.ndarray

    def to_frame(self):
        """Long DataFrame with columns ``level, se, left, right`` (one row per level and grid point)."""
        import pandas as pd

        n = len(self.se)
        return pd.DataFrame(
            {
                "level": np.repeat(np.asarray(self.levels, dtype=float), n),
                "se": np.tile(self.se, len(self.levels)),
                "left": self.left.ravel(),
                "right": self.right.ravel(),
            }
        )


def funnel_contours(
    estimate: float, se_max: float, levels=(0.90, 0.95, 0.99), *, tau2: float = 0.0, n_points: int = 100
) -> FunnelContours:
    """Contour lines of a funnel plot, ready to draw (metafor ``funnel(..., level=, refline=)``).

    Parameters
    ----------
    estimate : float
        Where the funnel is centred: the pooled estimate, or 0 for a contour-enhanced funnel plot
        whose regions mark p-value thresholds (Peters et al. 2008).
    se_max : float
        Largest standard error of the grid (> 0). metafor's default y-axis runs to
        ``1.1 * max(sei)``.
    levels : float or sequence of float
        Confidence levels in (0, 1), e.g. 0.95.
    tau2 : float
        Add τ² to the sampling variance (metafor ``addtau2=TRUE``); 0 by default.
    n_points : int
        Grid size (>= 2). With ``tau2 = 0`` the lines are straight, so 2 points are exact; more
        points keep them smooth after a transformation of the x-axis (e.g. ``exp`` for ratios).

    Returns
    -------
    FunnelContours
    """
    try:
        est = float(estimate)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"estimate must be a number; got {estimate!r}") from exc
    if not np.isfinite(est):
        raise ValueError(f"estimate is {est}; only finite numbers are allowed")
    smax = as_1d(se_max, "se_max", positive=True)
    if smax.size != 1:
        raise ValueError(f"se_max must be one number; got {smax.size}")
    t2 = as_1d(tau2, "tau2", nonnegative=True)
    if t2.size != 1:
        raise ValueError(f"tau2 must be one number; got {t2.size}")
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2; got {n_points!r}")
    lev = np.atleast_1d(np.asarray(levels, dtype=object))
    if lev.ndim != 1 or lev.size == 0:
        raise ValueError(f"levels must be one or more numbers between 0 and 1; got {levels!r}")
    levs = tuple(check_level(x, "levels") for x in lev)
    crit = special.ndtri(1 - (1 - np.asarray(levs)) / 2)
    se = np.linspace(0.0, float(smax[0]), int(n_points))
    half = crit[:, None] * np.sqrt(se[None, :] ** 2 + float(t2[0]))
    return FunnelContours(
        estimate=est,
        tau2=float(t2[0]),
        levels=levs,
        crit=frozen_array(crit),
        se=frozen_array(se),
        left=frozen_array(est - half),
        right=frozen_array(est + half),
    )


# =========================================================================== trim and fill


@dataclass(frozen=True)
class TrimFillResult:
    """Trim-and-fill analysis (metafor ``trimfill``).

    Attributes
    ----------
    k0 : int
        Estimated number of missing studies.
    se_k0 : float
        Standard error of ``k0`` (Duval & Tweedie 2000b). NaN where the estimator's variance formula
        is negative, which happens when the unrounded L0/Q0 estimate is well below 0 (metafor
        prints NA there too).
    p_k0 : float or None
        For ``estimator="R0"``, the p-value of H0: no missing studies on that side
        (``2^-(k0+1)``); ``None`` otherwise.
    side : str
        ``"left"`` or ``"right"``: where the missing studies were imputed.
    estimator : str
        ``"L0"``, ``"R0"`` or ``"Q0"``.
    method : str
        Model used to trim and to pool (``"FE"`` or a τ² estimator).
    filled_yi, filled_vi : ndarray, shape (k0,)
        The imputed studies: mirror images ``2 μ̂ - y`` of the ``k0`` most extreme studies on the
        other side, about the trimmed estimate ``μ̂``, with those studies' variances.
    filled : PooledEstimate
        Pooled estimate on the observed plus imputed studies (observed first), with ``method``.
        Equal to ``original`` when ``k0 = 0``.
    original : PooledEstimate
        Pooled estimate on the observed studies.
    trimmed_estimate : float
        The estimate after trimming ``k0`` studies, about which the fill is mirrored.
    iterations : int
        Iterations of the trim-and-fill algorithm.
    """

    k0: int
    se_k0: float
    p_k0: Optional[float]
    side: str
    estimator: str
    method: str
    filled_yi: np.ndarray
    filled_vi: np.ndarray
    filled: PooledEstimate
    original: PooledEstimate
    trimmed_estimate: float
    iterations: int

    @property
    def augmented_yi(self) -> np.ndarray:
        """Observed effects followed by the imputed ones (what ``filled`` pools)."""
        return np.concatenate([self.original.yi, self.filled_yi])

    @property
    def augmented_vi(self) -> np.ndarray:
        """Observed variances followed by the imputed ones."""
        return np.concatenate([self.original.vi, self.filled_vi])

    @property
    def is_filled(self) -> np.ndarray:
        """Boolean mask over the augmented studies: True for imputed ones (metafor ``fill``)."""
        return np.r_[np.zeros(self.original.k, bool), np.ones(self.k0, bool)]

    def to_frame(self):
        """One row per augmented study: ``yi, vi, sei, filled`` (observed studies first)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "yi": self.augmented_yi,
                "vi": self.augmented_vi,
                "sei": np.sqrt(self.augmented_vi),
                "filled": self.is_filled,
            }
        )

    def funnel_contours(self, levels=(0.90, 0.95, 0.99), *, se_max: Optional[float] = None, n_points: int = 100):
        """Contours centred on the filled estimate, as metafor's ``funnel(trimfill(...))`` draws.

        ``se_max`` defaults to ``1.1 * max(sei)`` over the augmented studies (metafor's y-axis).
        """
        if se_max is None:
            se_max = 1.1 * float(np.sqrt(self.augmented_vi.max()))
        return funnel_contours(self.filled.estimate, se_max, levels, n_points=n_points)

    def summary(self, digits: int = 4) -> str:
        f = f"{{:.{digits}f}}"
        se = "NA" if np.isnan(self.se_k0) else f.format(self.se_k0)
        lines = [
            f"Trim and fill ({self.estimator}, {self.method} model)",
            f"Estimated number of missing studies on the {self.side} side: {self.k0} (SE = {se})",
        ]
        if self.p_k0 is not None:
            lines.append(f"Test of H0: no missing studies on the {self.side} side: p = {format_p(self.p_k0)}")
        o, g = self.original, self.filled
        lines += [
            f"Observed (k = {o.k}): estimate = {f.format(o.estimate)} ({f.format(o.ci_low)} to {f.format(o.ci_high)})",
            f"Filled   (k = {g.k}): estimate = {f.format(g.estimate)} ({f.format(g.ci_low)} to {f.format(g.ci_high)})",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _sqrt_or_nan(x: float) -> float:
    return float(np.sqrt(x)) if x >= 0 else float("nan")


def _k0_step(r: np.ndarray, k: int, estimator: str) -> tuple[float, float]:
    """One estimate of k0 (unrounded) and its SE from residuals ``r`` about the trimmed estimate.

    Signed ranks of ``|r|`` (ties broken by position, R ``rank(ties.method="first")``);
    ``S_r`` = sum of the positive signed ranks (Wilcoxon), ``γ*`` = the length of the rightmost
    run of positive ranks. Duval & Tweedie (2000b), eqs. for L0, R0 and Q0; metafor ``trimfill``.
    """
    order = np.argsort(np.abs(r), kind="stable")
    ranks = np.empty(k)
    ranks[order] = np.arange(1, k + 1)
    signed = np.sign(r) * ranks
    if estimator == "R0":
        neg = signed < 0
        if not neg.any():
            raise ValueError(
                "the R0 estimator is undefined here: no study lies below the trimmed estimate "
                "(metafor fails with 'argument must be coercible to non-negative integer'); use L0"
            )
        k0 = k - float(np.max(-signed[neg])) - 1
        return k0, _sqrt_or_nan(2 * max(0.0, k0) + 2)
    sr = float(signed[signed > 0].sum())
    if estimator == "L0":
        k0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
    else:  # Q0
        arg = 2 * k**2 - 4 * sr + 0.25
        if arg < 0:
            raise ValueError(
                f"the Q0 estimator is undefined here: 2k² - 4 S_r + 1/4 = {arg:g} < 0 "
                "(metafor fails with 'missing value where TRUE/FALSE needed'); use L0 or R0"
            )
        k0 = k - 0.5 - np.sqrt(arg)
    var_sr = (
        k * (k + 1) * (2 * k + 1) + 10 * k0**3 + 27 * k0**2 + 17 * k0 - 18 * k * k0**2 - 18 * k * k0 + 6 * k**2 * k0
    ) / 24
    if estimator == "L0":
        return k0, 4 * _sqrt_or_nan(var_sr) / (2 * k - 1)
    return k0, 2 * _sqrt_or_nan(var_sr) / _sqrt_or_nan((k - 0.5) ** 2 - k0 * (2 * k - k0 - 1))


def _choose_side(y: np.ndarray, v: np.ndarray, method: str) -> str:
    """metafor's rule: slope of the meta-regression of y on sei (with ``method``) < 0 -> "right"."""
    k = len(y)
    sei = np.sqrt(v)
    if np.linalg.norm(sei - sei.mean()) <= _RANK_TOL * np.linalg.norm(sei):
        raise ValueError(
            "side=None chooses the side from the slope of the effects on their standard errors, but all "
            "sampling variances are equal so the slope is undefined; pass side='left' or side='right'"
        )
    if method != "FE" and k < 3:
        raise ValueError(
            f"side=None chooses the side from a meta-regression on the standard errors, which with "
            f"method={method!r} needs k >= 3 studies; got k = {k}. Pass side='left' or side='right'"
        )
    X = np.column_stack([np.ones(k), sei])
    with warnings.catch_warnings():  # metafor suppresses this fit's warnings
        warnings.simplefilter("ignore", ConvergenceWarning)
        beta, _, _, _ = _rma_fit(y, v, X, method, knha=False)
    return "right" if beta[1] < 0 else "left"


def trim_and_fill(
    yi,
    vi,
    *,
    method: str = "FE",
    estimator: str = "L0",
    side: Optional[str] = None,
    maxiter: int = TRIMFILL_MAXITER,
) -> TrimFillResult:
    """Duval and Tweedie's trim-and-fill method (metafor ``trimfill(rma(yi, vi, method=method))``).

    The studies are ranked on the side where studies are presumed missing: with ``side="left"``
    (missing small effects) the largest effects are trimmed, with ``"right"`` the smallest. From
    ``k0 = 0``, repeat: pool the ``k - k0`` remaining studies (``method``) to ``μ̂``; rank
    ``|y - μ̂|`` over all k studies; re-estimate ``k0`` (rounded, truncated at 0) by ``L0 = (4 S_r -
    k(k+1)) / (2k - 1)``, ``R0 = γ* - 1`` or ``Q0 = k - 1/2 - sqrt(2k² - 4 S_r + 1/4)`` (Duval &
    Tweedie 2000a, 2000b); until ``k0`` repeats. Then the ``k0`` trimmed studies are mirrored about
    the last ``μ̂`` (``2μ̂ - y``, same variances) and all ``k + k0`` studies are pooled with
    ``method``.

    Parameters
    ----------
    yi, vi : array-like
        Effects and sampling variances (k >= 2).
    method : str
        ``"FE"`` (default, Duval & Tweedie's fixed-effect version) or a τ² estimator
        (``hipacu.METHODS``), used both to trim and for the final pooling ("equal-equal" or
        "random-random" in metafor's words).
    estimator : {"L0", "R0", "Q0"}
        Estimator of the number of missing studies.
    side : {"left", "right"} or None
        Side of the funnel plot where studies are imputed. ``None`` chooses as metafor does: fit
        the meta-regression of ``yi`` on ``sqrt(vi)`` with ``method`` (Egger-type slope); a
        negative slope means ``"right"``, otherwise ``"left"``.
    maxiter : int
        Iteration cap (metafor's default 100).

    Returns
    -------
    TrimFillResult

    Raises
    ------
    ValueError
        k < 2; all effects identical (the ranks are degenerate: metafor fails or returns rounding
        noise); ``side=None`` with equal variances (the slope is undefined) or, for a random-effects
        ``method``, with k = 2; the R0 or Q0 estimator undefined for the data; no convergence in
        ``maxiter`` iterations (metafor: "Trim and fill algorithm did not converge").
    """
    y = as_1d(yi, "yi")
    v = as_1d(vi, "vi", positive=True)
    k = check_same_length(yi=y, vi=v)
    check_choice(method, "method", METHODS)
    check_choice(estimator, "estimator", TRIMFILL_ESTIMATORS)
    if side is not None:
        check_choice(side, "side", FUNNEL_SIDES)
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 1:
        raise ValueError(f"maxiter must be a positive integer; got {maxiter!r}")
    if k < 2:
        raise ValueError(f"trim-and-fill needs k >= 2 studies; got k = {k} (metafor: 'Stopped because k = 1')")
    if np.ptp(y) == 0:
        raise ValueError(
            "all effects are identical: the funnel plot has no asymmetry to estimate and the signed ranks "
            "of trim-and-fill are degenerate (metafor fails to converge or returns rounding noise)"
        )

    original = pool(y, v, method=method)
    if side is None:
        side = _choose_side(y, v, method)

    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * y, kind="stable")  # R sort(): stable radix sort
    ys, vs = sign * y[order], v[order]

    k0, k0_prev, iterations = 0, -1, 0
    beta = se_k0 = float("nan")
    while k0 != k0_prev:
        k0_prev = k0
        iterations += 1
        if iterations > maxiter:
            raise ValueError(
                f"trim-and-fill did not converge in maxiter={maxiter} iterations (k0 keeps changing; "
                "metafor: 'Trim and fill algorithm did not converge')"
            )
        with warnings.catch_warnings():  # metafor suppresses the warnings of these fits
            warnings.simplefilter("ignore", ConvergenceWarning)
            beta = pool(ys[: k - k0], vs[: k - k0], method=method).estimate
        k0_raw, se_k0 = _k0_step(ys - beta, k, estimator)
        if not np.isfinite(k0_raw):  # pragma: no cover - guarded in _k0_step
            raise ValueError(f"the {estimator} estimate of k0 is undefined for these data")
        k0 = max(0, int(np.round(k0_raw)))  # R round(): half to even, as numpy
        if not np.isnan(se_k0):
            se_k0 = max(0.0, se_k0)

    if k0 > 0:
        filled_yi = sign * (2 * beta - ys[k - k0 :])
        filled_vi = vs[k - k0 :].copy()
        filled = pool(np.r_[y, filled_yi], np.r_[v, filled_vi], method=method)
    else:
        filled_yi, filled_vi = np.empty(0), np.empty(0)
        filled = original
    return TrimFillResult(
        k0=k0,
        se_k0=float(se_k0),
        p_k0=float(0.5 ** (k0 + 1)) if estimator == "R0" else None,
        side=side,
        estimator=estimator,
        method=method,
        filled_yi=frozen_array(filled_yi),
        filled_vi=frozen_array(filled_vi),
        filled=filled,
        original=original,
        trimmed_estimate=float(sign * beta),
        iterations=iterations,
    )
