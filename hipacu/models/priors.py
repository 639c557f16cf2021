"""Prior distributions for the Bayesian random-effects model (:func:`hipacu.models.bayes.bayes`).

Heterogeneity priors act on the between-study standard deviation τ ≥ 0 (as in bayesmeta, whose
``tau.prior`` is a density of τ, not of τ²); the effect prior on μ is normal or, by default
(``mu_prior=None``), improper uniform. Each prior is a small frozen dataclass with a vectorised
``logpdf`` on τ ≥ 0 (``-inf`` below 0 and outside the support), a ``name``, its ``parameters`` and a
``citation``. Proper parametric priors also offer ``cdf`` and ``ppf``.

Four priors depend on the studies' sampling variances ``v = σ²`` (as bayesmeta defines them, read
from ``R/bayesmeta.R`` of bayesmeta 3.4): :func:`jeffreys`, :func:`dumouchel`, :func:`shrinkage`
(and nothing else). Their ``logpdf``/``cdf``/``ppf`` take ``v``: a 1-D array for one analysis, or
an array shaped (studies, analyses) with NaN marking an absent study.

Sources
-------
Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package. *J Stat
Softw* 93(6):1-51, doi:10.18637/jss.v093.i06, Section 2.2 (eqs. 3, 4, 7) and Table 1.
Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT (2015). Predictive distributions for
between-study heterogeneity and simple methods for their application in Bayesian meta-analysis.
*Stat Med* 34(6):984-998, doi:10.1002/sim.6381, Table IV.
Rhodes KM, Turner RM, Higgins JPT (2015). Predictive distributions were developed for the extent
of heterogeneity in meta-analyses of continuous outcome data. *J Clin Epidemiol* 68(1):52-60,
doi:10.1016/j.jclinepi.2014.08.012, Table 3 (and Tables A.3.1, A.3.2 for respiratory and cancer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from hipacu._checks import check_number
from scipy import special

__all__ = [
    "TauPrior",
    "MuNormal",
    "parse_tau_prior",
    "HalfNormal",
    "HalfCauchy",
    "HalfT",
    "Exponential",
    "LogNormal",
    "LogT",
    "Uniform",
    "Jeffreys",
    "DuMouchel",
    "UniformShrinkage",
    "half_normal",
    "half_cauchy",
    "half_t",
    "exponential",
    "log_normal",
    "uniform",
    "jeffreys",
    "dumouchel",
    "shrinkage",
    "normal",
    "turner2015",
    "rhodes2015",
    "TAU_PRIOR_NAMES",
    "TURNER2015_OUTCOMES",
    "TURNER2015_COMPARISONS",
    "RHODES2015_OUTCOMES",
    "RHODES2015_COMPARISONS",
    "RHODES2015_AREAS",
    "tau_prior_from_name",
]

_LOG2 = math.log(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)

ROVER2020 = "Röver C (2020), J Stat Softw 93(6), doi:10.18637/jss.v093.i06"


def _check_positive(value, name: str) -> float:
    return check_number(value, name, positive=True)


def _check_finite(value, name: str) -> float:
    return check_number(value, name)


def _arr(tau) -> np.ndarray:
    return np.asarray(tau, dtype=float)


def _where_nonneg(tau: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` where τ >= 0, ``-inf`` where τ < 0."""
    return np.where(tau >= 0, values, -np.inf)


def _check_p(p) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if np.any(~((p >= 0) & (p <= 1))):
        raise ValueError("p must be probabilities in [0, 1]")
    return p


# --------------------------------------------------------------------------- study-variance helpers


def _variances(v, prior: str) -> np.ndarray:
    if v is None:
        raise ValueError(f"the {prior} prior depends on the studies' sampling variances; pass v=... "
                         "(bayes() does this for you)")
    v = np.asarray(v, dtype=float)
    if v.ndim not in (1, 2) or v.size == 0:
        raise ValueError(f"v must be a 1-D array of sampling variances (one analysis) or 2-D "
                         f"(studies x analyses); got shape {v.shape}")
    ok = np.isnan(v) | (v > 0)
    if not ok.all() or np.isinf(v).any():
        raise ValueError("v must hold sampling variances > 0 (NaN marks an absent study)")
    return v


def _harmonic_mean_variance(v: np.ndarray) -> np.ndarray:
    """``s0² = k / Σ σ_i⁻²`` (Röver 2020, Section 2.2, before eq. 3), per analysis."""
    return np.sum(~np.isnan(v), axis=0) / np.nansum(1.0 / v, axis=0)


# --------------------------------------------------------------------------- base class


class TauPrior:
    """Behaviour shared by the heterogeneity priors (each a frozen dataclass).

    Attributes every prior has: ``name`` (str), ``parameters`` (dict), ``citation`` (str),
    ``proper`` (bool), ``needs_variances`` (bool: depends on the studies' σ²), ``upper`` (upper end
    of the support, ``inf`` if unbounded) and ``tail_power`` ``a``: ``p(τ) = O(τ^a)`` as τ → ∞
    (``-inf`` for tails lighter than any power; for the log-t, whose density is
    ``τ^-1 |log τ|^-(df+1)``, ``a = -1`` with ``tail_log = True``). It decides whether the
    posterior is proper and which of its moments exist.
    """

    name: ClassVar[str] = ""
    proper: ClassVar[bool] = True
    needs_variances: ClassVar[bool] = False
    tail_power: ClassVar[float] = -math.inf
    tail_log: ClassVar[bool] = False

    @property
    def upper(self) -> float:
        return math.inf

    @property
    def parameters(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("citation", "setting")}

    def logpdf(self, tau, v=None) -> np.ndarray:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def pdf(self, tau, v=None) -> np.ndarray:
        """Density (``exp(logpdf)``); for improper priors the unnormalised density."""
        return np.exp(self.logpdf(tau, v))

    def cdf(self, tau, v=None) -> np.ndarray:
        raise ValueError(f"the {self.name} prior is improper; it has no distribution function")

    def ppf(self, p, v=None) -> np.ndarray:
        raise ValueError(f"the {self.name} prior is improper; it has no quantiles")

    def _log_range(self, v: np.ndarray) -> tuple:
        """``(lo, hi)`` in log τ: where the prior's mass starts, and where its density in log τ has
        fallen by ~46 nats (a hint for the quadrature's search, which adds its own margins; ``None``
        where the prior sets no scale). Per analysis for 2-D ``v``."""
        return None, None

    def describe(self) -> str:
        """``name(param=value, ...)`` and whether the prior is proper."""
        pars = ", ".join(f"{k}={v:g}" for k, v in self.parameters.items())
        return f"{self.name}({pars})" + ("" if self.proper else " (improper)")

    def __str__(self) -> str:
        return self.describe()


# --------------------------------------------------------------------------- proper, informative


@dataclass(frozen=True)
class HalfNormal(TauPrior):
    """Half-normal prior ``p(τ) = 2 φ(τ/s)/s`` (bayesmeta ``dhalfnormal``; Röver 2020, Sec. 2.2;
    Friede et al. 2017 recommend ``s = 0.5`` or ``1`` for log odds ratios)."""

    scale: float
    citation: str = ROVER2020 + ", Sec. 2.2 (half-normal)"
    name: ClassVar[str] = "half-normal"

    def __post_init__(self):
        object.__setattr__(self, "scale", _check_positive(self.scale, "scale"))

    def logpdf(self, tau, v=None):
        t = _arr(tau)
        s = self.scale
        return _where_nonneg(t, _LOG2 - math.log(s) - _LOG_SQRT_2PI - 0.5 * (t / s) ** 2)

    def cdf(self, tau, v=None):
        t = np.maximum(_arr(tau), 0.0)
        return special.erf(t / (self.scale * math.sqrt(2)))

    def ppf(self, p, v=None):
        return self.scale * special.ndtri((1 + _check_p(p)) / 2)

    def _log_range(self, v):
        return math.log(self.scale) - 3, math.log(self.scale) + 2.2


@dataclass(frozen=True)
class HalfT(TauPrior):
    """Half-Student-t prior ``p(τ) = 2 t_ν(τ/s)/s`` (bayesmeta ``dhalft``; Gelman 2006)."""

    scale: float
    df: float
    citation: str = ROVER2020 + ", Sec. 2.2 (half-Student-t); Gelman A (2006), Bayesian Anal 1(3):515-534"
    name: ClassVar[str] = "half-t"

    def __post_init__(self):
        object.__setattr__(self, "scale", _check_positive(self.scale, "scale"))
        object.__setattr__(self, "df", _check_positive(self.df, "df"))

    @property
    def tail_power(self) -> float:  # type: ignore[override]
        return -(self.df + 1)

    def logpdf(self, tau, v=None):
        t = _arr(tau)
        s, nu = self.scale, self.df
        z = t / s
        const = _LOG2 - math.log(s) + special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
        return _where_nonneg(t, const - (nu + 1) / 2 * np.log1p(z * z / nu))

    def cdf(self, tau, v=None):
        t = np.maximum(_arr(tau), 0.0)
        return 2 * special.stdtr(self.df, t / self.scale) - 1

    def ppf(self, p, v=None):
        return self.scale * special.stdtrit(self.df, (1 + _check_p(p)) / 2)

    def _log_range(self, v):
        return math.log(self.scale) - 3, math.log(self.scale) + 46 / self.df


@dataclass(frozen=True)
class HalfCauchy(HalfT):
    """Half-Cauchy prior ``p(τ) = 2 / (π s (1 + (τ/s)²))`` (bayesmeta ``dhalfcauchy``; Gelman 2006;
    Polson & Scott 2012): the half-t with one degree of freedom."""

    scale: float
    df: float = 1.0
    citation: str = ROVER2020 + ", Sec. 2.2 (half-Cauchy); Gelman A (2006), Bayesian Anal 1(3):515-534"
    name: ClassVar[str] = "half-Cauchy"

    def __post_init__(self):
        object.__setattr__(self, "scale", _check_positive(self.scale, "scale"))
        if self.df != 1.0:
            raise ValueError(f"df={self.df!r} is not allowed for the half-Cauchy prior (it is 1); use half_t(scale, df)")

    @property
    def parameters(self) -> dict:
        return {"scale": self.scale}


@dataclass(frozen=True)
class Exponential(TauPrior):
    """Exponential prior ``p(τ) = λ exp(-λ τ)``: the maximum-entropy prior for a given prior mean
    ``E[τ] = 1/λ`` (Röver 2020, Sec. 2.2)."""

    rate: float
    citation: str = ROVER2020 + ", Sec. 2.2 (exponential)"
    name: ClassVar[str] = "exponential"

    def __post_init__(self):
        object.__setattr__(self, "rate", _check_positive(self.rate, "rate"))

    def logpdf(self, tau, v=None):
        t = _arr(tau)
        return _where_nonneg(t, math.log(self.rate) - self.rate * t)

    def cdf(self, tau, v=None):
        return -np.expm1(-self.rate * np.maximum(_arr(tau), 0.0))

    def ppf(self, p, v=None):
        return -np.log1p(-_check_p(p)) / self.rate

    def _log_range(self, v):
        return -math.log(self.rate) - 3, math.log(50 / self.rate)


@dataclass(frozen=True)
class LogNormal(TauPrior):
    """Log-normal prior on τ: ``log τ ~ N(meanlog, sdlog²)``.

    Turner et al. (2015) state their priors for τ²: ``log τ² ~ N(μ, σ²)``, which is
    ``log τ ~ N(μ/2, (σ/2)²)`` (bayesmeta ``TurnerEtAlPrior`` makes the same conversion).
    ``setting`` records, for an empirical prior, which row of which table it is.
    """

    meanlog: float
    sdlog: float
    citation: str = ROVER2020 + ", Sec. 2.2 (log-normal)"
    setting: str | None = None
    name: ClassVar[str] = "log-normal"

    def __post_init__(self):
        object.__setattr__(self, "meanlog", _check_finite(self.meanlog, "meanlog"))
        object.__setattr__(self, "sdlog", _check_positive(self.sdlog, "sdlog"))

    def logpdf(self, tau, v=None):
        t = _arr(tau)
        with np.errstate(divide="ignore", invalid="ignore"):
            lt = np.log(t)
            z = (lt - self.meanlog) / self.sdlog
            out = -lt - math.log(self.sdlog) - _LOG_SQRT_2PI - 0.5 * z * z
        return np.where(t > 0, out, -np.inf)

    def cdf(self, tau, v=None):
        t = _arr(tau)
        with np.errstate(divide="ignore"):
            return np.where(t > 0, special.ndtr((np.log(np.maximum(t, 1e-300)) - self.meanlog) / self.sdlog), 0.0)

    def ppf(self, p, v=None):
        return np.exp(self.meanlog + self.sdlog * special.ndtri(_check_p(p)))

    def _log_range(self, v):
        return self.meanlog - 9 * self.sdlog, self.meanlog + 9 * self.sdlog


@dataclass(frozen=True)
class LogT(TauPrior):
    """Log-Student-t prior on τ: ``(log τ - location)/scale ~ t_df``.

    Rhodes et al. (2015) state their priors for τ² as log-t with 5 degrees of freedom,
    ``log τ² = location + scale · T₅``, which is ``log τ = location/2 + (scale/2) · T₅``
    (bayesmeta ``RhodesEtAlPrior`` makes the same conversion).
    """

    location: float
    scale: float
    df: float
    citation: str = "Rhodes KM, Turner RM, Higgins JPT (2015), J Clin Epidemiol 68(1):52-60"
    setting: str | None = None
    name: ClassVar[str] = "log-t"
    tail_power: ClassVar[float] = -1.0
    tail_log: ClassVar[bool] = True

    def __post_init__(self):
        object.__setattr__(self, "location", _check_finite(self.location, "location"))
        object.__setattr__(self, "scale", _check_positive(self.scale, "scale"))
        object.__setattr__(self, "df", _check_positive(self.df, "df"))

    def logpdf(self, tau, v=None):
        t = _arr(tau)
        nu, s = self.df, self.scale
        const = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * math.log(nu * math.pi) - math.log(s)
        with np.errstate(divide="ignore", invalid="ignore"):
            lt = np.log(t)
            z = (lt - self.location) / s
            out = const - (nu + 1) / 2 * np.log1p(z * z / nu) - lt
        return np.where(t > 0, out, -np.inf)

    def cdf(self, tau, v=None):
        t = _arr(tau)
        return np.where(t > 0, special.stdtr(self.df, (np.log(np.maximum(t, 1e-300)) - self.location) / self.scale), 0.0)

    def ppf(self, p, v=None):
        return np.exp(self.location + self.scale * special.stdtrit(self.df, _check_p(p)))

    def _log_range(self, v):
        return self.location - 600 * self.scale, self.location + 250 * self.scale


# --------------------------------------------------------------------------- uniform (proper or not)


@dataclass(frozen=True)
class Uniform(TauPrior):
    """Uniform prior on τ: improper on [0, ∞) when ``upper`` is None (bayesmeta's default
    ``tau.prior = "uniform"``; needs k >= 3 studies under a flat μ prior, Röver 2020, Sec. 2.2
    and Table 1), proper ``1/upper`` on [0, upper] otherwise."""

    upper_bound: float | None = None
    citation: str = ROVER2020 + ", Sec. 2.2 (uniform); Gelman A (2006), Bayesian Anal 1(3):515-534"
    name: ClassVar[str] = "uniform"

    def __post_init__(self):
        if self.upper_bound is not None:
            object.__setattr__(self, "upper_bound", _check_positive(self.upper_bound, "upper"))

    @property
    def proper(self) -> bool:  # type: ignore[override]
        return self.upper_bound is not None

    @property
    def upper(self) -> float:
        return math.inf if self.upper_bound is None else self.upper_bound

    @property
    def tail_power(self) -> float:  # type: ignore[override]
        return 0.0 if self.upper_bound is None else -math.inf

    @property
    def parameters(self) -> dict:
        return {} if self.upper_bound is None else {"upper": self.upper_bound}

    def logpdf(self, tau, v=None):
        t = _arr(tau)
        if self.upper_bound is None:
            return _where_nonneg(t, np.zeros_like(t))
        return np.where((t >= 0) & (t <= self.upper_bound), -math.log(self.upper_bound), -np.inf)

    def cdf(self, tau, v=None):
        if self.upper_bound is None:
            return super().cdf(tau, v)
        return np.clip(_arr(tau) / self.upper_bound, 0.0, 1.0)

    def ppf(self, p, v=None):
        if self.upper_bound is None:
            return super().ppf(p, v)
        return _check_p(p) * self.upper_bound

    def _log_range(self, v):
        return (None, None) if self.upper_bound is None else (math.log(self.upper_bound) - 3, math.log(self.upper_bound))


# --------------------------------------------------------------------------- priors depending on the σ_i


@dataclass(frozen=True)
class Jeffreys(TauPrior):
    """bayesmeta's Jeffreys prior (Tibshirani's variant of Jeffreys' rule, the Berger-Bernardo
    reference prior): ``p(τ) ∝ sqrt(Σ_i (τ / (σ_i² + τ²))²)`` (Röver 2020, eq. 7; bayesmeta
    ``tau.prior = "Jeffreys"``). Improper (``p ~ sqrt(k)/τ`` for large τ); the posterior is
    proper for k >= 2 under a flat μ prior (Bodnar et al. 2017)."""

    citation: str = ROVER2020 + ", eq. 7; Bodnar O et al. (2017), Stat Sin 27:1-20"
    name: ClassVar[str] = "Jeffreys"
    proper: ClassVar[bool] = False
    needs_variances: ClassVar[bool] = True
    tail_power: ClassVar[float] = -1.0

    def logpdf(self, tau, v=None):
        v = _variances(v, self.name)
        t = _arr(tau)
        if v.ndim == 1:
            tt = t[..., None]
            s = np.sum((tt / (v + tt * tt)) ** 2, axis=-1)
        else:
            tt = t[None]
            vv = v.reshape((v.shape[0],) + (1,) * (t.ndim - 1) + (v.shape[1],))
            s = np.nansum((tt / (vv + tt * tt)) ** 2, axis=0)
        with np.errstate(divide="ignore"):
            return _where_nonneg(t, 0.5 * np.log(s))

    def _log_range(self, v):
        return None, None


@dataclass(frozen=True)
class DuMouchel(TauPrior):
    """DuMouchel prior ``p(τ) = s0 / (s0 + τ)²`` with ``s0² = k / Σ σ_i⁻²`` the harmonic mean of
    the squared standard errors: a log-logistic distribution with median ``s0`` (Röver 2020, eq. 4;
    Spiegelhalter et al. 2004; bayesmeta ``tau.prior = "DuMouchel"``)."""

    citation: str = ROVER2020 + ", eq. 4; DuMouchel W, Normand S-L (2000)"
    name: ClassVar[str] = "DuMouchel"
    needs_variances: ClassVar[bool] = True
    tail_power: ClassVar[float] = -2.0

    def logpdf(self, tau, v=None):
        s0 = np.sqrt(_harmonic_mean_variance(_variances(v, self.name)))
        t = _arr(tau)
        with np.errstate(invalid="ignore"):
            return _where_nonneg(t, np.log(s0) - 2 * np.log(s0 + np.maximum(t, 0.0)))

    def cdf(self, tau, v=None):
        s0 = np.sqrt(_harmonic_mean_variance(_variances(v, self.name)))
        t = np.maximum(_arr(tau), 0.0)
        return t / (s0 + t)

    def ppf(self, p, v=None):
        s0 = np.sqrt(_harmonic_mean_variance(_variances(v, self.name)))
        p = _check_p(p)
        with np.errstate(divide="ignore"):
            return s0 * p / (1 - p)

    def _log_range(self, v):
        ls0 = 0.5 * np.log(_harmonic_mean_variance(v))
        return ls0 - 3, ls0 + 46


@dataclass(frozen=True)
class UniformShrinkage(TauPrior):
    """Uniform shrinkage prior ``p(τ) = 2 τ s0² / (s0² + τ²)²``, uniform on the average shrinkage
    ``s0² / (s0² + τ²)``, with ``s0² = k / Σ σ_i⁻²`` (Röver 2020, eq. 3; Daniels 1999; bayesmeta
    ``tau.prior = "shrinkage"``). Median ``s0``."""

    citation: str = ROVER2020 + ", eq. 3; Daniels MJ (1999), Stat Med 18:2337-2348"
    name: ClassVar[str] = "uniform shrinkage"
    needs_variances: ClassVar[bool] = True
    tail_power: ClassVar[float] = -3.0

    def logpdf(self, tau, v=None):
        s02 = _harmonic_mean_variance(_variances(v, self.name))
        t = _arr(tau)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = _LOG2 + np.log(t) + np.log(s02) - 2 * np.log(s02 + t * t)
        return np.where(t >= 0, out, -np.inf)

    def cdf(self, tau, v=None):
        s02 = _harmonic_mean_variance(_variances(v, self.name))
        t = np.maximum(_arr(tau), 0.0)
        return t * t / (s02 + t * t)

    def ppf(self, p, v=None):
        s02 = _harmonic_mean_variance(_variances(v, self.name))
        p = _check_p(p)
        with np.errstate(divide="ignore"):
            return np.sqrt(s02 * p / (1 - p))

    def _log_range(self, v):
        ls0 = 0.5 * np.log(_harmonic_mean_variance(v))
        return ls0 - 3, ls0 + 23


# --------------------------------------------------------------------------- prior for the effect μ


@dataclass(frozen=True)
class MuNormal:
    """Normal prior ``μ ~ N(mean, sd²)`` for the overall effect, the conditionally conjugate prior
    (Röver 2020, Sec. 2.2 and eq. 14). bayesmeta ``mu.prior.mean``, ``mu.prior.sd``."""

    mean: float
    sd: float
    citation: str = ROVER2020 + ", Sec. 2.2 and eq. 14"
    name: ClassVar[str] = "normal"
    proper: ClassVar[bool] = True

    def __post_init__(self):
        object.__setattr__(self, "mean", _check_finite(self.mean, "mean"))
        object.__setattr__(self, "sd", _check_positive(self.sd, "sd"))

    @property
    def parameters(self) -> dict:
        return {"mean": self.mean, "sd": self.sd}

    def logpdf(self, mu) -> np.ndarray:
        z = (_arr(mu) - self.mean) / self.sd
        return -math.log(self.sd) - _LOG_SQRT_2PI - 0.5 * z * z

    def describe(self) -> str:
        return f"normal(mean={self.mean:g}, sd={self.sd:g})"

    def __str__(self) -> str:
        return self.describe()


# --------------------------------------------------------------------------- constructors


def half_normal(scale: float) -> HalfNormal:
    """Half-normal prior for τ with the given ``scale`` (> 0)."""
    return HalfNormal(scale)


def half_cauchy(scale: float) -> HalfCauchy:
    """Half-Cauchy prior for τ with the given ``scale`` (> 0)."""
    return HalfCauchy(scale)


def half_t(scale: float, df: float) -> HalfT:
    """Half-Student-t prior for τ with ``scale`` (> 0) and ``df`` degrees of freedom (> 0)."""
    return HalfT(scale, df)


def exponential(rate: float) -> Exponential:
    """Exponential prior for τ with ``rate`` (> 0); prior mean ``1/rate``."""
    return Exponential(rate)


def log_normal(meanlog: float, sdlog: float) -> LogNormal:
    """Log-normal prior for τ: ``log τ ~ N(meanlog, sdlog²)``."""
    return LogNormal(meanlog, sdlog)


def uniform(upper: float | None = None) -> Uniform:
    """Uniform prior for τ on [0, upper]; improper on [0, ∞) without ``upper``."""
    return Uniform(upper)


def jeffreys() -> Jeffreys:
    """bayesmeta's (improper) Jeffreys prior for τ, Röver (2020) eq. 7."""
    return Jeffreys()


def dumouchel() -> DuMouchel:
    """DuMouchel prior for τ, Röver (2020) eq. 4."""
    return DuMouchel()


def shrinkage() -> UniformShrinkage:
    """Uniform shrinkage prior for τ, Röver (2020) eq. 3."""
    return UniformShrinkage()


def normal(mean: float, sd: float) -> MuNormal:
    """Normal prior for the effect μ."""
    return MuNormal(mean, sd)


#: Priors that ``bayes(tau_prior="...")`` accepts by name (bayesmeta's character options).
TAU_PRIOR_NAMES = {"uniform": uniform, "jeffreys": jeffreys, "dumouchel": dumouchel, "shrinkage": shrinkage}


def tau_prior_from_name(name: str) -> TauPrior:
    """The parameter-free prior called ``name``; ``ValueError`` listing the names otherwise."""
    key = name.lower() if isinstance(name, str) else name
    if key not in TAU_PRIOR_NAMES:
        raise ValueError(f"tau_prior={name!r} is not a known prior name; choose one of "
                         f"{', '.join(map(repr, TAU_PRIOR_NAMES))} or pass a prior object such as half_normal(0.5)")
    return TAU_PRIOR_NAMES[key]()


#: Priors on tau that an ``analyses.toml`` ``prior`` string may name, with their numeric arguments.
TAU_PRIOR_FACTORIES = {"half_normal": half_normal, "half_cauchy": half_cauchy, "half_t": half_t,
                       "exponential": exponential, "log_normal": log_normal, "uniform": uniform,
                       "jeffreys": jeffreys, "dumouchel": dumouchel, "shrinkage": shrinkage}


def parse_tau_prior(text: str) -> TauPrior:
    """A prior written as text, e.g. ``"half_normal(0.5)"``, ``"half_t(0.5, 3)"``, ``"jeffreys()"``
    (the form ``analyses.toml`` uses); ``ValueError`` naming what is allowed otherwise."""
    import re

    m = re.fullmatch(r"\s*([a-z_0-9]+)\s*\(\s*([^()]*)\)\s*", text) if isinstance(text, str) else None
    if m is None or m.group(1) not in TAU_PRIOR_FACTORIES:
        raise ValueError(f"prior={text!r} is not allowed; write one of "
                         f"{', '.join(f'{n}(...)' for n in TAU_PRIOR_FACTORIES)} with numeric arguments, "
                         "e.g. 'half_normal(0.5)'")
    args = [a.strip() for a in m.group(2).split(",") if a.strip()]
    try:
        values = [float(a) for a in args]
    except ValueError as exc:
        raise ValueError(f"prior={text!r}: the arguments must be numbers") from exc
    try:
        return TAU_PRIOR_FACTORIES[m.group(1)](*values)
    except TypeError as exc:
        raise ValueError(f"prior={text!r}: {m.group(1)} takes other arguments ({exc})") from exc


# --------------------------------------------------------------------------- Turner et al. (2015), Table IV

#: Outcome types of Turner et al. (2015), Table IV, keyed by a short name (value: the paper's label).
TURNER2015_OUTCOMES = {
    "all_cause_mortality": "all-cause mortality",
    "obstetric": "obstetric outcomes",
    "cause_specific_mortality": "cause-specific mortality / major morbidity event / composite (mortality or morbidity)",
    "resource_use": "resource use / hospital stay / process",
    "surgical": "surgical / device related success / failure",
    "withdrawals": "withdrawals / drop-outs",
    "internal_structure": "internal / structure-related outcomes",
    "general_physical_health": "general physical health indicators",
    "adverse_events": "adverse events",
    "infection": "infection / onset of new disease",
    "signs_symptoms": "signs / symptoms reflecting continuation / end of condition",
    "pain": "pain",
    "quality_of_life": "quality of life / functioning (dichotomized)",
    "mental_health": "mental health indicators",
    "biological_markers": "biological markers (dichotomized)",
    "subjective": "subjective outcomes (various)",
}

#: Intervention-comparison types of Turner et al. (2015), Table IV.
TURNER2015_COMPARISONS = {
    "pharma_vs_control": "pharmacological vs. placebo / control",
    "pharma_vs_pharma": "pharmacological vs. pharmacological",
    "nonpharma_vs_control": "non-pharmacological vs. placebo / control",
    "nonpharma_vs_pharma": "non-pharmacological vs. pharmacological",
    "nonpharma_vs_nonpharma": "non-pharmacological vs. non-pharmacological",
}

# Turner et al. (2015), Table IV: log-normal predictive distributions for τ² of log odds ratios,
# log τ² ~ N(mu, sigma²). Values as transcribed in bayesmeta 3.4, R/bayesmeta.R ("matrix of mu
# values (see Tab.IV)", "matrix of sigma values (see Tab.IV)"); rows follow TURNER2015_OUTCOMES,
# columns TURNER2015_COMPARISONS.
_TURNER_MU = np.array([
    [-3.95, -4.18, -4.17, -2.92, -3.50],
    [-3.52, -3.75, -3.74, -2.49, -3.08],
    [-3.71, -3.95, -3.93, -2.68, -3.27],
    [-2.34, -2.58, -2.56, -1.31, -1.90],
    [-2.14, -2.37, -2.36, -1.11, -1.69],
    [-2.99, -3.23, -3.21, -1.96, -2.55],
    [-2.71, -2.94, -2.93, -1.67, -2.26],
    [-2.29, -2.53, -2.51, -1.26, -1.85],
    [-1.87, -2.10, -2.10, -0.84, -1.43],
    [-2.49, -2.73, -2.71, -1.46, -2.05],
    [-2.06, -2.29, -2.28, -1.03, -1.61],
    [-1.83, -2.06, -2.05, -0.80, -1.38],
    [-2.54, -2.78, -2.77, -1.51, -2.10],
    [-2.12, -2.35, -2.34, -1.09, -1.67],
    [-1.77, -2.00, -1.99, -0.74, -1.33],
    [-2.70, -2.93, -2.92, -1.67, -2.26],
])
_TURNER_SIGMA = np.array([
    [1.34, 1.41, 1.55, 1.02, 1.26],
    [1.74, 1.79, 1.91, 1.50, 1.68],
    [1.74, 1.79, 1.91, 1.51, 1.68],
    [1.74, 1.79, 1.91, 1.50, 1.68],
    [1.74, 1.79, 1.91, 1.50, 1.68],
    [1.74, 1.79, 1.91, 1.51, 1.68],
    [1.74, 1.79, 1.92, 1.51, 1.68],
    [1.53, 1.58, 1.72, 1.25, 1.46],
    [1.52, 1.58, 1.71, 1.24, 1.45],
    [1.52, 1.58, 1.71, 1.24, 1.45],
    [1.51, 1.58, 1.71, 1.24, 1.45],
    [1.52, 1.58, 1.71, 1.25, 1.45],
    [1.54, 1.60, 1.73, 1.27, 1.47],
    [1.53, 1.60, 1.72, 1.27, 1.47],
    [1.52, 1.58, 1.71, 1.24, 1.45],
    [1.52, 1.58, 1.71, 1.25, 1.45],
])
#: Turner et al. (2015), p. 993: the predictive distribution for a meta-analysis of any outcome
#: and comparison type (bayesmeta ``TurnerEtAlPrior()`` without arguments).
_TURNER_ANY = (-2.56, 1.74)

TURNER2015 = "Turner RM et al. (2015), Stat Med 34(6):984-998, doi:10.1002/sim.6381"


def _lookup(value, name: str, table: dict) -> int:
    if value not in table:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, table))}")
    return list(table).index(value)


def turner2015(outcome: str | None = None, comparison: str | None = None) -> LogNormal:
    """Empirical log-normal prior for τ of a log odds ratio (Turner et al. 2015, Table IV).

    Turner et al. give ``log τ² ~ N(μ, σ²)`` by outcome type and intervention-comparison type;
    this returns the equivalent prior on τ, ``log τ ~ N(μ/2, (σ/2)²)``, as bayesmeta's
    ``TurnerEtAlPrior(outcome, comparator1, comparator2)$dprior`` does. Without arguments, the
    general setting of p. 993 (``μ = -2.56, σ = 1.74``).

    Parameters
    ----------
    outcome : str
        A key of :data:`TURNER2015_OUTCOMES` (e.g. ``"all_cause_mortality"``, ``"surgical"``).
    comparison : str
        A key of :data:`TURNER2015_COMPARISONS` (e.g. ``"pharma_vs_control"``).

    Raises
    ------
    ValueError
        An unknown outcome or comparison type (the message lists the allowed keys), or only one of
        the two given.
    """
    if outcome is None and comparison is None:
        mu, sigma = _TURNER_ANY
        setting = "any outcome, any comparison (p. 993)"
    else:
        if outcome is None or comparison is None:
            raise ValueError("give both outcome=... and comparison=... (or neither, for the general setting); "
                             f"outcome: {', '.join(map(repr, TURNER2015_OUTCOMES))}; "
                             f"comparison: {', '.join(map(repr, TURNER2015_COMPARISONS))}")
        i = _lookup(outcome, "outcome", TURNER2015_OUTCOMES)
        j = _lookup(comparison, "comparison", TURNER2015_COMPARISONS)
        mu, sigma = float(_TURNER_MU[i, j]), float(_TURNER_SIGMA[i, j])
        setting = f"{TURNER2015_OUTCOMES[outcome]}; {TURNER2015_COMPARISONS[comparison]} (Table IV)"
    return LogNormal(mu / 2, sigma / 2, citation=TURNER2015 + ", Table IV", setting=setting)


# --------------------------------------------------------------------------- Rhodes et al. (2015), Table 3

#: Outcome types of Rhodes et al. (2015), Table 3.
RHODES2015_OUTCOMES = {
    "obstetric": "obstetric outcome",
    "resource_use": "resource use and hospital stay / process",
    "internal_structure": "internal and external structure-related outcome",
    "general_health": "general physical health and adverse event and pain and quality of life / functioning",
    "signs_symptoms": "signs / symptoms reflecting continuation / end of condition and infection / onset of new "
                      "acute / chronic disease",
    "mental_health": "mental health outcome",
    "biological_marker": "biological marker",
    "subjective": "various subjectively measured outcomes",
}
#: Intervention-comparison types of Rhodes et al. (2015), Table 3.
RHODES2015_COMPARISONS = {
    "pharma_vs_control": "pharmacological vs. placebo / control",
    "pharma_vs_pharma": "pharmacological vs. pharmacological",
    "nonpharma": "non-pharmacological (any)",
}
#: Medical areas: Table 3 ("other"), Table A.3.1 ("respiratory"), Table A.3.2 ("cancer").
RHODES2015_AREAS = {"other": "Table 3", "respiratory": "Table A.3.1", "cancer": "Table A.3.2"}

# Rhodes et al. (2015): log-t(5) predictive distributions for τ² of standardised mean differences,
# log τ² = location + scale · T5. Values as transcribed in bayesmeta 3.4, R/bayesmeta.R
# ("matrix of location parameter values (see Tab.3)", "... RESPIRATORY DISEASES (see Tab.A.3.1)",
# "... CANCER (see Tab.A.3.2)" and the matching scale matrices); rows follow RHODES2015_OUTCOMES,
# columns RHODES2015_COMPARISONS.
# Note: everywhere else the columns differ by constants (pharma-vs-pharma = pharma-vs-control
# - 0.27 or - 0.28; non-pharmacological = pharma-vs-control + 0.14). Two settings break that
# pattern: Table 3 "mental health", non-pharmacological (-3.85, where the pattern gives -2.85), and
# Table A.3.2 (cancer) "internal structure" (-0.14 and 0.27, where it gives -0.41 and 0.01). They
# may be transcription slips, in bayesmeta or in the paper; they are kept as bayesmeta has them, so
# results match bayesmeta. Check those two settings against the paper before relying on them.
_RHODES_LOCATION = {
    "other": np.array([
        [-4.13, -4.40, -3.99], [-2.55, -2.83, -2.41], [-2.43, -2.70, -2.29], [-3.16, -3.44, -3.02],
        [-3.00, -3.27, -2.86], [-2.99, -3.27, -3.85], [-3.41, -3.68, -3.27], [-2.76, -3.03, -2.62]]),
    "respiratory": np.array([
        [-6.03, -6.31, -5.89], [-4.46, -4.73, -4.32], [-4.33, -4.61, -4.19], [-5.07, -5.34, -4.93],
        [-4.90, -5.18, -4.76], [-4.90, -5.17, -4.76], [-5.31, -5.59, -5.17], [-4.66, -4.94, -4.52]]),
    "cancer": np.array([
        [-1.57, -1.85, -1.43], [0.01, -0.27, 0.15], [-0.13, -0.14, 0.27], [-0.60, -0.88, -0.46],
        [-0.44, -0.71, -0.30], [-0.43, -0.71, -0.29], [-0.85, -1.13, -0.71], [-0.20, -0.48, -0.06]]),
}
_RHODES_SCALE = {
    "other": np.array([
        [2.34, 2.31, 2.11], [2.73, 2.70, 2.57], [2.50, 2.46, 2.32], [2.50, 2.44, 2.27],
        [2.50, 2.47, 2.33], [2.16, 2.14, 1.93], [2.83, 2.78, 2.66], [2.58, 2.59, 2.41]]),
    "respiratory": np.array([
        [2.36, 2.31, 2.21], [2.74, 2.70, 2.57], [2.51, 2.46, 2.33], [2.51, 2.45, 2.28],
        [2.50, 2.47, 2.33], [2.17, 2.14, 1.94], [2.83, 2.78, 2.66], [2.59, 2.59, 2.41]]),
    "cancer": np.array([
        [2.45, 2.41, 2.24], [2.83, 2.79, 2.68], [2.61, 2.56, 2.45], [2.61, 2.55, 2.40],
        [2.60, 2.57, 2.46], [2.28, 2.25, 2.08], [2.93, 2.87, 2.78], [2.68, 2.68, 2.53]]),
}
#: Rhodes et al. (2015), beginning of Sec. 3.3: the general setting (bayesmeta ``RhodesEtAlPrior()``).
_RHODES_ANY = (-3.44, 2.59)
#: Degrees of freedom of the log-t predictive distributions (Rhodes et al. 2015, Sec. 2.3).
RHODES2015_DF = 5.0

RHODES2015 = "Rhodes KM, Turner RM, Higgins JPT (2015), J Clin Epidemiol 68(1):52-60, doi:10.1016/j.jclinepi.2014.08.012"


def rhodes2015(outcome: str | None = None, comparison: str | None = None, area: str = "other") -> LogT:
    """Empirical log-t(5) prior for τ of a standardised mean difference (Rhodes et al. 2015).

    Rhodes et al. give ``log τ² = location + scale · T₅`` by outcome type, comparison type and
    medical area (Table 3; respiratory Table A.3.1, cancer Table A.3.2); this returns the
    equivalent prior on τ (location/2, scale/2), as bayesmeta's
    ``RhodesEtAlPrior(outcome, comparator1, comparator2, area)$dprior``. Without ``outcome`` and
    ``comparison``, the general setting (``location = -3.44, scale = 2.59``, Sec. 3.3).

    Parameters
    ----------
    outcome : str
        A key of :data:`RHODES2015_OUTCOMES`.
    comparison : str
        A key of :data:`RHODES2015_COMPARISONS`.
    area : str
        A key of :data:`RHODES2015_AREAS` (default ``"other"``: Table 3).
    """
    if outcome is None and comparison is None:
        loc, scale = _RHODES_ANY
        setting = "any outcome, any comparison (Sec. 3.3)"
    else:
        if outcome is None or comparison is None:
            raise ValueError("give both outcome=... and comparison=... (or neither, for the general setting); "
                             f"outcome: {', '.join(map(repr, RHODES2015_OUTCOMES))}; "
                             f"comparison: {', '.join(map(repr, RHODES2015_COMPARISONS))}")
        i = _lookup(outcome, "outcome", RHODES2015_OUTCOMES)
        j = _lookup(comparison, "comparison", RHODES2015_COMPARISONS)
        _lookup(area, "area", RHODES2015_AREAS)
        loc, scale = float(_RHODES_LOCATION[area][i, j]), float(_RHODES_SCALE[area][i, j])
        setting = (f"{RHODES2015_OUTCOMES[outcome]}; {RHODES2015_COMPARISONS[comparison]}; "
                   f"{area} ({RHODES2015_AREAS[area]})")
    table = RHODES2015_AREAS.get(area, "Table 3") if outcome is not None else "Sec. 3.3"
    return LogT(loc / 2, scale / 2, RHODES2015_DF, citation=f"{RHODES2015}, {table}", setting=setting)
