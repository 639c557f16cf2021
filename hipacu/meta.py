"""``hipacu.meta(data, ...)``: a meta-analysis from the analyst's own table, in one call.

The columns given decide the data form, as R meta's ``metabin`` / ``metacont`` / ``metagen`` /
``metaprop`` do:

============================================  ==========================  =====================
columns                                       form                        measures
============================================  ==========================  =====================
``events1, n1, events2, n2``                  two arms, events            ``RR``, ``OR``, ``RD``
``mean1, sd1, n1, mean2, sd2, n2``            two arms, means and SDs     ``MD``, ``SMD``, ``ROM``
``estimate`` with ``ci_low, ci_high`` or      one contrast per study      ``RR``, ``OR``, ``HR``,
``sei`` (optionally ``n1, n2`` or ``n``)      (generic inverse variance)  ``ROM``, ``MD``, ``SMD``,
                                                                          ``RD``, ``GEN``
``events, n``                                 one group, events           ``PLO``
============================================  ==========================  =====================

Effect sizes come from :mod:`hipacu.effects` (metafor ``escalc``), the pooled estimate from
:func:`hipacu.pool` (metafor ``rma``); the result, :class:`MetaAnalysis`, keeps both and offers the
figures, the sensitivity and small-study diagnostics, subgroups, meta-regression and
:meth:`MetaAnalysis.grade` (GRADE from the same rule table that grades evidence folders: the
grade is computed from an :class:`~hipacu.review.analysis.AnalysisResult` built from the table, not
by a second engine).

Inputs, as a pandas user expects them (every error names the argument, the column and the row):

- column arguments are column names of ``data`` (``events1="tpos"``), or, without ``data`` (or
  besides it), pandas Series, arrays or lists with one value per study;
- a pandas Series is **aligned by index**: a Series whose index holds the same labels as ``data``'s
  (or as the other Series', in any order) is reordered to it; a Series whose labels differ is
  **refused** (the message lists the labels that do not match) rather than aligned into NaN;
- ``None``/NaN/``pd.NA`` in a column the data form needs is an error that says "missing";
- text is **rejected**, numeric-looking text too (``"12"``): hipacu converts nothing silently; the
  message says how to convert deliberately (``pandas.to_numeric``); booleans are rejected in numeric
  columns;
- counts must be whole numbers, totals >= 1, events <= totals, SDs and standard errors > 0.
"""

from __future__ import annotations

import math
import sys
import types
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from hipacu import effects
from hipacu._checks import PI_METHODS, check_choice, check_flag, check_level, check_test, format_p_text, frozen_array
from hipacu.models.pooling import METHODS, pool
from hipacu.models.protocol import SummaryEstimate
from hipacu.models._stats import critical_value

__all__ = ["meta", "MetaAnalysis", "FORMS", "RATIO", "GENERIC_MEASURES", "DESIGN_CHOICES", "ROB_CHOICES"]

#: Data form -> (the columns it needs, the measures it can give).
FORMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "binary": (("events1", "n1", "events2", "n2"), ("RR", "OR", "RD")),
    "continuous": (("mean1", "sd1", "n1", "mean2", "sd2", "n2"), ("MD", "SMD", "ROM")),
    "generic": (("estimate",), ("RR", "OR", "HR", "ROM", "MD", "SMD", "RD", "GEN")),
    "proportion": (("events", "n"), ("PLO",)),
}
GENERIC_MEASURES = FORMS["generic"][1]
#: Measures pooled on the log scale and reported exponentiated.
RATIO = ("RR", "OR", "HR", "ROM")
_COLUMN_ARGS = ("events1", "n1", "events2", "n2", "mean1", "sd1", "mean2", "sd2", "estimate", "ci_low", "ci_high",
                "sei", "events", "n")
_MEASURE_NAMES = {"RR": "risk ratio", "OR": "odds ratio", "HR": "hazard ratio", "ROM": "ratio of means",
                  "MD": "mean difference", "SMD": "standardised mean difference", "RD": "risk difference",
                  "GEN": "effect", "PLO": "proportion"}
#: Study designs :meth:`MetaAnalysis.grade` accepts (those of an evidence folder's studies.csv).
DESIGN_CHOICES = ("rct", "quasi_randomised", "non_randomised", "prospective_cohort", "retrospective_cohort",
                  "observational", "case_series", "survey")
#: Risk-of-bias judgements per study (RoB 2 overall judgement, or ``not_assessed``).
ROB_CHOICES = ("low", "some_concerns", "high", "not_assessed")
_ROB_DOMAINS = ("randomisation", "deviations", "missing", "measurement", "reporting")
_INDIRECT_KEYS = ("population", "intervention", "comparator", "outcome", "co_intervention")


# --------------------------------------------------------------------------- reading the columns


class _Table:
    """The analyst's columns, resolved once: ``data`` (a DataFrame or None), the row labels used in
    messages, and the index every Series is aligned to."""

    def __init__(self, data, given: dict[str, Any]):
        if data is not None and not isinstance(data, pd.DataFrame):
            if isinstance(data, Mapping):
                data = pd.DataFrame(dict(data))
            else:
                raise ValueError(f"data must be a pandas DataFrame (or a dict of columns); got {type(data).__name__}")
        self.data = data
        series = {k: v for k, v in given.items() if isinstance(v, pd.Series)}
        if data is not None:
            self.index = data.index
        elif series:
            self.index = next(iter(series.values())).index
        else:
            self.index = None
        if self.index is not None and not self.index.is_unique:
            dup = self.index[self.index.duplicated()][0]
            what = "data" if data is not None else f"the Series given as {next(iter(series))}="
            raise ValueError(f"the index of {what} has the label {dup!r} more than once; rows must be identifiable "
                             "(use .reset_index(drop=True) or a unique index)")
        self.labels: list[str] | None = None

    def row(self, i: int) -> str:
        """How a message names row ``i``: its position, its index label and its study label."""
        parts = [f"row {i}"]
        if self.index is not None and not isinstance(self.index, pd.RangeIndex):
            parts.append(f"index {self.index[i]!r}")
        if self.labels is not None:
            parts.append(f"study {self.labels[i]!r}")
        return parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")

    def raw(self, arg: str, value) -> tuple[pd.Series, str]:
        """The values of argument ``arg`` as an object Series in row order, and how to name it."""
        if isinstance(value, str):
            if self.data is None:
                raise ValueError(f"{arg}={value!r} names a column, but no data was given; pass data=DataFrame, or "
                                 f"give {arg} the values themselves")
            if value not in self.data.columns:
                cols = ", ".join(map(repr, self.data.columns))
                raise ValueError(f"{arg}={value!r} is not a column of data; its columns are {cols}")
            return self.data[value].reset_index(drop=True), f"{arg} (column {value!r})"
        if isinstance(value, pd.DataFrame):
            raise ValueError(f"{arg} must be one column (a name, Series or list), not a DataFrame")
        if isinstance(value, pd.Series):
            if self.index is not None and not value.index.equals(self.index):
                if not value.index.is_unique or set(value.index) != set(self.index):
                    extra = [x for x in value.index if x not in set(self.index)][:3]
                    lacking = [x for x in self.index if x not in set(value.index)][:3]
                    whose = "data's" if self.data is not None else "the other Series'"
                    raise ValueError(
                        f"{arg} is a Series whose index does not match {whose} index (labels only in {arg}: {extra}; "
                        f"missing from {arg}: {lacking}); hipacu aligns Series by index and refuses to align "
                        "different labels into missing values: pass values in row order (.to_numpy()) or fix the index")
                value = value.reindex(self.index)
            name = f"{arg} (Series {value.name!r})" if value.name is not None else arg
            return value.reset_index(drop=True), name
        try:
            arr = np.asarray(value, dtype=object)
        except Exception as exc:  # noqa: BLE001 -- anything that is not array-like
            raise ValueError(f"{arg} must be a column name, a pandas Series or a list of values; got {value!r:.60}") from exc
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise ValueError(f"{arg} must be one-dimensional (one value per study); got shape {arr.shape}")
        if self.index is not None and len(arr) != len(self.index):
            raise ValueError(f"{arg} has {len(arr)} values; {'data has' if self.data is not None else 'the other columns have'} "
                             f"{len(self.index)} rows (one value per study)")
        return pd.Series(arr, dtype=object), arg

    def numbers(self, arg: str, value, *, integer=False, positive=False, nonnegative=False, min_value=None) -> np.ndarray:
        """A required numeric column as floats, every cell checked (missing, text, bool, inf, range)."""
        s, name = self.raw(arg, value)
        out = np.empty(len(s))
        for i, v in enumerate(s):
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                raise ValueError(f"{name} is missing at {self.row(i)}; every study needs a value (drop the row or "
                                 "fill it in)")
            if isinstance(v, (bool, np.bool_)):
                raise ValueError(f"{name} at {self.row(i)} is {v!r}, a boolean; a number is needed")
            if isinstance(v, (str, bytes)):
                hint = ("it looks like a number stored as text; hipacu does not convert text silently: convert the "
                        "column deliberately, e.g. df[col] = pandas.to_numeric(df[col])") if _numeric_text(v) else \
                    "a number is needed"
                raise ValueError(f"{name} at {self.row(i)} is the text {v!r}; {hint}")
            try:
                x = float(v)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name} at {self.row(i)} is {v!r}; a number is needed") from exc
            if not math.isfinite(x):
                raise ValueError(f"{name} at {self.row(i)} is {x}; only finite numbers are allowed")
            if integer and x != round(x):
                raise ValueError(f"{name} at {self.row(i)} is {x:g}; it must be a whole number (a count)")
            if positive and x <= 0:
                raise ValueError(f"{name} at {self.row(i)} is {x:g}; it must be > 0")
            if nonnegative and x < 0:
                raise ValueError(f"{name} at {self.row(i)} is {x:g}; it must be >= 0")
            if min_value is not None and x < min_value:
                raise ValueError(f"{name} at {self.row(i)} is {x:g}; it must be >= {min_value:g}")
            out[i] = x
        if len(out) == 0:
            raise ValueError(f"{name} is empty; at least one study is needed")
        if self.index is None:
            self.index = pd.RangeIndex(len(out))
        return out

    def texts(self, arg: str, value) -> list[str]:
        """A required label-like column as strings (missing values are errors)."""
        s, name = self.raw(arg, value)
        out = []
        for i, v in enumerate(s):
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                raise ValueError(f"{name} is missing at {self.row(i)}; every study needs a value")
            out.append(str(v))
        if self.index is None:
            self.index = pd.RangeIndex(len(out))
        return out


def _numeric_text(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _check_le(t: _Table, a: np.ndarray, b: np.ndarray, an: str, bn: str) -> None:
    bad = a > b
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{an} = {a[i]:g} exceeds {bn} = {b[i]:g} at {t.row(i)}; events must be <= the total")


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class MetaAnalysis:
    """A meta-analysis of the analyst's table (:func:`meta`).

    Attributes
    ----------
    measure : str
        metafor's code of the effect measure (``"RR"``, ``"SMD"``, ...).
    form : str
        Data form: ``"binary"``, ``"continuous"``, ``"generic"`` or ``"proportion"`` (:data:`FORMS`).
    labels : tuple of str
        One unique label per study, in row order.
    yi, vi : ndarray
        Effects and sampling variances (log scale for ratio measures, logit for ``PLO``).
    pooled : SummaryEstimate
        The pooled model (:class:`hipacu.PooledEstimate` from :func:`hipacu.pool`, or the result of an
        imported RevMan analysis).
    studies : DataFrame
        The per-study table, indexed by ``labels``: ``yi, vi, sei``, ``estimate, ci_low, ci_high``
        (Wald interval at ``level``, back-transformed: ratios for ratio measures, proportions for
        ``PLO``), ``weight`` (percent), ``n`` (participants, NaN where not given), the input columns
        under hipacu's names (``events1, n1, ...``), ``corrected`` (a zero-cell correction was added)
        and ``group`` (with ``subgroup=``).
    method, test, level, pi
        The model options (:func:`hipacu.pool`).
    lower_is_better : bool or None
        The outcome's direction, when given (favours labels, GRADE's benefit and harm).
    subgroup : str or None
        Name of the subgrouping column.
    data : DataFrame or None
        The analysed rows of the table passed as ``data`` (for moderators and grading columns named
        later).
    log_input : bool or None
        Generic form with a ratio measure: whether the estimates were given as ratios (``True``,
        logged by hipacu) or already on the log scale (``False``).
    source : str
        Where the pooled result comes from (``"hipacu.pool"``, or the RevMan file and its method).
    stored : dict
        RevMan's own stored totals for an imported analysis (empty otherwise).
    title, label1, label2 : str
        Outcome title and the names of arm 1 and arm 2.
    ci_level : float
        Level of the CIs given as input (generic data), e.g. 0.95.
    """

    measure: str
    form: str
    labels: tuple[str, ...]
    yi: np.ndarray
    vi: np.ndarray
    pooled: SummaryEstimate
    studies: pd.DataFrame
    method: str = "REML"
    test: str = "z"
    level: float = 0.95
    pi: str = "metafor"
    lower_is_better: bool | None = None
    subgroup: str | None = None
    data: pd.DataFrame | None = field(default=None, repr=False)
    log_input: bool | None = None
    source: str = "hipacu.pool"
    stored: dict = field(default_factory=dict, repr=False)
    title: str = ""
    label1: str = ""
    label2: str = ""
    ci_level: float = 0.95

    # ------------------------------------------------------------------ scales

    @property
    def k(self) -> int:
        return len(self.labels)

    @property
    def is_ratio(self) -> bool:
        return self.measure in RATIO

    def display(self, value):
        """A value (or array) on the reporting scale: ``exp`` for ratio measures, the proportion
        (``expit``) for ``PLO``, unchanged otherwise."""
        v = np.asarray(value, float)
        if self.is_ratio:
            out = np.exp(v)
        elif self.measure == "PLO":
            out = special.expit(v)
        else:
            out = v
        return float(out) if out.ndim == 0 else out

    @property
    def groups(self) -> tuple[str, ...] | None:
        """Each study's subgroup label (``subgroup=``), or None."""
        return None if "group" not in self.studies.columns else tuple(self.studies["group"])

    # ------------------------------------------------------------------ tables and text

    def to_frame(self) -> pd.DataFrame:
        """The per-study table (a copy of :attr:`studies`); ``pooled.to_frame()`` gives the pooled row."""
        return self.studies.copy()

    def _scale_name(self) -> str:
        if self.is_ratio:
            return f"log {self.measure}"
        return "logit proportion" if self.measure == "PLO" else self.measure

    def summary(self, digits: int = 4) -> str:
        """metafor-like text: the model, each study's effect and weight, the pooled effect on the
        reporting scale (ratios for ratio measures) and on the analysis scale, heterogeneity and the
        prediction interval. p-values read ``p < 0.0001`` or ``p = 0.0123``."""
        p, f = self.pooled, f"{{:.{digits}f}}"
        lev = f"{100 * self.level:g}%"
        name = "proportion" if self.measure == "PLO" else self.measure
        fixed = p.method in ("FE", "MH", "Peto")
        model = ("Common-effect" if fixed else f"Random-effects (tau^2 estimator: {p.method})")
        test = {"z": "z test", "t": "t test", "knha": "Hartung-Knapp", "adhoc": "Hartung-Knapp, ad hoc"}.get(self.test, self.test)
        lines = [f"{model} meta-analysis of the {_MEASURE_NAMES.get(self.measure, self.measure)} (k = {self.k}; {test})"]
        if self.source != "hipacu.pool":
            lines.append(f"source: {self.source}")
        lines.append("")
        width = max([len(s) for s in self.labels] + [14])
        lines.append(f"{'study':<{width}}  {name:>10}  {lev + ' CI':>23}  {'weight':>8}")
        for lab, r in self.studies.iterrows():
            w = "" if pd.isna(r["weight"]) else f"{r['weight']:.2f}%"
            lines.append(f"{lab:<{width}}  {f.format(r['estimate']):>10}  "
                         f"{f.format(r['ci_low']) + ' to ' + f.format(r['ci_high']):>23}  {w:>8}")
        est, lo, hi = (self.display(x) for x in (p.estimate, p.ci_low, p.ci_high))
        lines.append(f"{'pooled':<{width}}  {f.format(est):>10}  {f.format(lo) + ' to ' + f.format(hi):>23}  "
                     f"{'100.00%':>8}")
        pi_lo, pi_hi = getattr(p, "pi_low", np.nan), getattr(p, "pi_high", np.nan)
        if self.k >= 2 and not fixed and np.isfinite(pi_lo) and np.isfinite(pi_hi):
            lines.append(f"{'prediction':<{width}}  {'':>10}  "
                         f"{f.format(self.display(pi_lo)) + ' to ' + f.format(self.display(pi_hi)):>23}")
        stat = "t" if np.isfinite(getattr(p, "df", np.inf)) else "z"
        lines += ["", f"estimate ({self._scale_name()}) = {f.format(p.estimate)}   se = {f.format(p.se)}   "
                      f"{stat} = {getattr(p, 'statistic', p.estimate / p.se):.4f}   {format_p_text(p.pval)}",
                  f"{lev} CI {f.format(p.ci_low)} to {f.format(p.ci_high)}"]
        if self.k >= 2:
            q, qp = getattr(p, "q", np.nan), getattr(p, "q_pval", np.nan)
            het = []
            if not fixed:
                het.append(f"tau^2 = {f.format(p.tau2)} (tau = {f.format(math.sqrt(max(p.tau2, 0.0)))})")
            het.append(f"I^2 = {p.i2:.2f}%")
            if np.isfinite(getattr(p, "h2", np.nan)):
                het.append(f"H^2 = {p.h2:.2f}")
            if np.isfinite(q):
                het.append(f"Q(df = {self.k - 1}) = {f.format(q)}, {format_p_text(qp)}")
            lines.append("Heterogeneity: " + "; ".join(het))
        if "corrected" in self.studies and self.studies["corrected"].any():
            lines.append("zero cells: 0.5 added to every cell of " + ", ".join(self.studies.index[self.studies["corrected"]]))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    # ------------------------------------------------------------------ figures

    def _forest_table(self) -> pd.DataFrame:
        s = self.studies
        return pd.DataFrame({"label": list(self.labels), "estimate": s["estimate"].to_numpy(float),
                             "ci_low": s["ci_low"].to_numpy(float), "ci_high": s["ci_high"].to_numpy(float),
                             "weight": s["weight"].to_numpy(float), "n": s["n"].to_numpy(float)})

    def favours(self) -> tuple[str, str] | None:
        """What lies left and right of the null line: the arm labels in the direction of the outcome."""
        if self.lower_is_better is None or self.form == "proportion":
            return None
        names = (self.label1 or "intervention", self.label2 or "comparator")
        return names if self.lower_is_better else names[::-1]

    def forest(self, *, ax=None, title: str | None = None, favours: tuple[str, str] | None = None, show_pi: bool = True,
               subgroups: bool | None = None):
        """Forest plot (:func:`hipacu.plots.forest`): one row per study with its n, effect, CI and
        weight, the pooled diamond and prediction interval; ratio measures on a log axis. With a
        ``subgroup`` column the studies are listed by subgroup with subtotal diamonds and the test for
        subgroup differences (``subgroups=False`` draws them as one list). Returns the Axes."""
        from hipacu import plots

        measure = self.measure if self.is_ratio else (None if self.measure == "PLO" else self.measure)
        sub = grp = None
        if (subgroups is None and self.subgroup is not None) or subgroups:
            sub, grp = self.subgroups(), list(self.groups or ())
        fav = favours if favours is not None else self.favours()
        if self.measure == "PLO":
            return plots.forest(self.pooled, studies=self._forest_table(), title=title or self.title or None,
                                favours=None, show_pi=show_pi, xlabel="proportion", ax=ax, subgroups=sub, groups=grp)
        # HR is drawn as any ratio: exponentiated on a log axis
        axis_measure = "RR" if self.measure == "HR" else measure
        xlabel = None
        if axis_measure != measure:
            xlabel = self.measure + (f"  (<- favours {fav[0]}  |  favours {fav[1]} ->)" if fav else "")
        return plots.forest(self.pooled, measure=axis_measure, studies=self._forest_table(),
                            title=title or self.title or None, favours=fav, show_pi=show_pi, ax=ax, subgroups=sub,
                            groups=grp, xlabel=xlabel)

    def funnel(self, *, ax=None, contours: bool = True, trim_and_fill: bool = False):
        """Funnel plot (:func:`hipacu.plots.funnel`) on the analysis scale, with contour regions at
        90/95/99% around no effect (``contours``) and, optionally, the trim-and-fill studies."""
        import hipacu
        from hipacu import plots

        cont = hipacu.funnel_contours(0.0, 1.1 * float(np.sqrt(np.max(self.vi)))) if contours else None
        filled = self.trim_and_fill() if trim_and_fill else None
        return plots.funnel(self.pooled, cont, ax=ax, filled=filled, measure=self.measure, yi=self.yi, vi=self.vi)

    # ------------------------------------------------------------------ diagnostics

    def _knha(self) -> bool:
        return self.test in ("knha", "adhoc")

    def _model_method(self) -> str:
        m = self.pooled.method
        return m if m in METHODS else ("FE" if getattr(self.pooled, "tau2", 0.0) == 0 else "DL")

    def leave_one_out(self) -> pd.DataFrame:
        """:func:`hipacu.leave_one_out` with this analysis's model, indexed by the study left out; the
        columns ``estimate, ci_low, ci_high`` are on the analysis scale (log for ratio measures), and
        ``estimate_display, ci_low_display, ci_high_display`` on the reporting scale."""
        from hipacu.diagnostics.sensitivity import leave_one_out

        out = leave_one_out(self.yi, self.vi, method=self._model_method(), test=self.test, level=self.level,
                            labels=list(self.labels))
        for c in ("estimate", "ci_low", "ci_high"):
            out[f"{c}_display"] = self.display(out[c].to_numpy(float))
        return out

    def trim_and_fill(self, **options):
        """:func:`hipacu.trim_and_fill` on the studies (metafor ``trimfill``); ``options`` as there."""
        from hipacu.diagnostics.bias import trim_and_fill

        return trim_and_fill(self.yi, self.vi, **options)

    def egger_test(self, **options):
        """:func:`hipacu.egger_test` on the studies (metafor ``regtest``)."""
        from hipacu.diagnostics.bias import egger_test

        return egger_test(self.yi, self.vi, **options)

    def subgroups(self, column=None, *, tau2: str = "separate"):
        """Pooled estimate per subgroup and the test for subgroup differences
        (:func:`hipacu.subgroup_test`, this analysis's τ² estimator; Hartung-Knapp within subgroups
        when the analysis uses it). ``column``: a column of ``data`` or one label per study (default:
        the ``subgroup`` given to :func:`meta`)."""
        from hipacu.models.subgroups import subgroup_test

        if column is None:
            if self.groups is None:
                raise ValueError("no subgroups: pass column= (a column of data or one label per study), or "
                                 "meta(..., subgroup=column)")
            groups = list(self.groups)
        else:
            groups = _Table(self.data, {"column": column}).texts("column", column)
            if len(groups) != self.k:
                raise ValueError(f"column has {len(groups)} values for k = {self.k} studies")
        return subgroup_test(self.yi, self.vi, np.asarray(groups, dtype=object), method=self._model_method(),
                             tau2=tau2, knha=self._knha(), level=self.level)

    def meta_regression(self, mods, *, intercept: bool = True):
        """Meta-regression on moderators (:func:`hipacu.meta_regression`, metafor ``rma(mods = )``):
        ``mods`` is a column name of ``data``, a list of names, or values (array, Series, DataFrame)."""
        from hipacu.models.regression import meta_regression

        names = [mods] if isinstance(mods, str) else (list(mods) if isinstance(mods, (list, tuple)) and mods
                                                        and all(isinstance(m, str) for m in mods) else None)
        if names is not None:
            t = _Table(self.data, {})
            M = pd.DataFrame({n: t.numbers(f"mods {n!r}", n) for n in names})
        else:
            M = mods
        return meta_regression(self.yi, self.vi, M, method=self._model_method(), knha=self._knha(), level=self.level,
                               intercept=intercept)

    # ------------------------------------------------------------------ GRADE

    def analysis_result(self, **assessment):
        """The :class:`~hipacu.review.analysis.AnalysisResult` that :meth:`grade` grades (the same
        object an evidence folder's analysis produces); keyword arguments as :meth:`grade`."""
        from hipacu._meta_review import analysis_result

        return analysis_result(self, **assessment)

    def grade(self, **assessment):
        """GRADE certainty of this analysis, without an evidence folder.

        Parameters (all keyword)
        ------------------------
        design : str or column
            Study design, for all studies (``"rct"``) or per study (a column of ``data`` or a list):
            one of :data:`DESIGN_CHOICES`. Required: certainty starts high only for randomised
            (and quasi-randomised) trials, so hipacu does not assume it.
        rob : str, column or None
            Risk of bias per study (RoB 2 overall judgement): ``low``, ``some_concerns``, ``high`` or
            ``not_assessed`` (case and spaces are normalised: ``"Some concerns"`` is
            ``some_concerns``). ``None``: not assessed (rated down once, as the rule table says).
        rob_domains : dict, optional
            RoB 2 domains (``randomisation, deviations, missing, measurement, reporting``) -> column
            or values, for the "high in two or more domains" rule.
        mid : float, optional
            Minimal important difference on the measure's **natural** scale: a ratio for ratio
            measures (``0.8`` or ``1.25`` both mean the thresholds RR 0.8 and 1.25; converted to the log
            scale internally and printed as ratios), outcome units for MD, SD units for SMD.
        mid_unit, mid_source : str, optional
            What the MID is measured in; where it comes from.
        lower_is_better : bool, optional
            The outcome's direction (default: as given to :func:`meta`; required for effect measures).
        indirect : dict, optional
            ``population``, ``intervention``, ``comparator``, ``outcome`` -> True/False (all studies) or
            a column / list of booleans per study (True = indirect); ``co_intervention`` -> per-study
            True where a co-intervention was given to one arm only.
        population, intervention, comparator, outcome : str, optional
            Words for the GRADE statement (e.g. ``intervention="BCG vaccine"``).
        unpublished : list of str, optional
            Eligible studies whose results are known to exist but are unpublished (reporting bias).
        control_risk, ois_sd : float, optional
            Comparator risk / outcome SD for the optimal information size (default: from the data).
        overrides : list of (domain, rating, reason), optional
            Curated replacements of a domain's computed rating, each with its reason.
        per, threshold, threshold_label, threshold_source
            Frequency questions (``PLO``): report per this many, and the decision threshold.

        Returns
        -------
        hipacu.review.grading.Grade
            The same object an evidence folder's analysis gets, with a rationale per domain.
        """
        from hipacu.review.grading import grade

        return grade(self.analysis_result(**assessment))

    # ------------------------------------------------------------------ evidence folder and report

    def to_evidence(self, folder, **options) -> Path:
        """Write an evidence folder (topic.toml, studies.csv, outcomes.csv, analyses.toml, README.md)
        holding this analysis, which ``hipacu validate`` accepts and ``hipacu report --evidence``
        reports on. ``source_url`` (required: a URL for every row, or a column of ``data`` holding
        one per row) says where the numbers come from; the grading keywords of :meth:`grade` are
        recorded as the folder's judgements. Returns the folder."""
        from hipacu._meta_review import write_evidence

        return write_evidence(self, Path(folder), **options)

    def report(self, out, *, source_url, jobs: int = 1, **assessment):
        """The HTML report of this analysis (:func:`hipacu.report.build_report`): writes the evidence
        folder ``out/evidence`` (:meth:`to_evidence`) and the report into ``out``. Returns the
        :class:`~hipacu.report.ReportResult`."""
        import importlib.util

        missing = [m for m in ("nbconvert", "nbclient", "nbformat", "ipykernel") if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(f"the HTML report executes notebooks and needs {', '.join(missing)}: install hipacu with "
                              "its notebooks extra, pip install 'hipacu[notebooks]'")
        from hipacu.report import build_report

        out = Path(out)
        folder = self.to_evidence(out / "evidence", source_url=source_url, **assessment)
        return build_report(out, jobs=jobs, evidence=folder, log=lambda *_: None)


# --------------------------------------------------------------------------- meta()


def _form(given: dict[str, Any]) -> str:
    have = {k for k, v in given.items() if v is not None}
    if "estimate" in have:
        form = "generic"
    elif "events1" in have or "events2" in have:
        form = "binary"
    elif have & {"mean1", "mean2", "sd1", "sd2"}:
        form = "continuous"
    elif "events" in have:
        form = "proportion"
    else:
        raise ValueError("no data columns given; give events1, n1, events2, n2 (two arms, events); "
                         "mean1, sd1, n1, mean2, sd2, n2 (two arms, means); estimate with ci_low and ci_high or "
                         "sei (generic inverse variance); or events, n (one group)")
    need = FORMS[form][0]
    missing = [c for c in need if c not in have]
    if missing:
        raise ValueError(f"{form} data needs {', '.join(need)}; {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                         "missing")
    allowed = {"binary": {"events1", "n1", "events2", "n2"},
               "continuous": {"mean1", "sd1", "n1", "mean2", "sd2", "n2"},
               "generic": {"estimate", "ci_low", "ci_high", "sei", "n1", "n2", "n"},
               "proportion": {"events", "n"}}[form]
    extra = sorted(have - allowed)
    if extra:
        raise ValueError(f"{', '.join(extra)} cannot be combined with {form} data ({', '.join(sorted(allowed))}); give "
                         "the columns of one data form")
    if form == "generic":
        ci = {"ci_low", "ci_high"} & have
        if len(ci) == 1:
            raise ValueError(f"generic data: {ci.pop()} is given without its partner; give both ci_low and ci_high, or sei")
        if not ci and "sei" not in have:
            raise ValueError("generic data needs the uncertainty of each estimate: ci_low and ci_high, or sei")
        if ci and "sei" in have:
            raise ValueError("generic data: give either ci_low and ci_high or sei, not both")
        if ("n1" in have) != ("n2" in have):
            raise ValueError("generic data: give both n1 and n2 (participants per arm), or n (total), or neither")
        if "n" in have and "n1" in have:
            raise ValueError("generic data: give n (total participants) or n1 and n2, not both")
    return form


def _ratio_scale(measure: str, est, lo, hi, log, t: _Table) -> bool:
    """Whether generic ratio estimates are given as ratios (``True``) or as logs (``False``)."""
    if log is not None:
        log = check_flag(log, "log")
        if log:
            vals = [("estimate", est)] + ([("ci_low", lo), ("ci_high", hi)] if lo is not None else [])
            for name, v in vals:
                if (v <= 0).any():
                    i = int(np.flatnonzero(v <= 0)[0])
                    raise ValueError(f"log=True says the {measure}s are ratios, but {name} at {t.row(i)} is {v[i]:g} "
                                     "(ratios are > 0); if the values are already logs, pass log=False")
        return log
    values = np.concatenate([est] + ([lo, hi] if lo is not None else []))
    if (values <= 0).any():
        return False  # a ratio cannot be <= 0: these are logs
    hint = ""
    if lo is not None:
        sym_log = np.abs(np.log(hi / est) - np.log(est / lo)) / np.maximum(np.log(hi / lo), 1e-300)
        sym_lin = np.abs((hi - est) - (est - lo)) / np.maximum(hi - lo, 1e-300)
        if (sym_log < sym_lin).all():
            hint = " (the CIs are symmetric on the log scale, as ratio CIs are: probably log=True)"
        elif (sym_lin < sym_log).all():
            hint = " (the CIs are symmetric as given, as CIs of logs are: probably log=False)"
    raise ValueError(f"measure={measure!r}: every estimate{' and CI limit' if lo is not None else ''} is > 0, so they "
                     f"could be {measure}s or log {measure}s{hint}; say which: log=True if they are ratios (e.g. "
                     f"{measure} 0.75, 0.60 to 0.94), log=False if they are already on the log scale")


def meta(data=None, *, measure: str, studlab=None, events1=None, n1=None, events2=None, n2=None, mean1=None,
         sd1=None, mean2=None, sd2=None, estimate=None, ci_low=None, ci_high=None, sei=None, events=None, n=None,
         log: bool | None = None, ci_level: float = 0.95, method: str = "REML", test: str | None = None,
         knha: bool = False, level: float = 0.95, pi: str = "metafor", subgroup=None, lower_is_better: bool | None = None,
         add: float = 0.5, to: str = "only0", title: str = "", label1: str = "", label2: str = "") -> MetaAnalysis:
    """Meta-analysis of a DataFrame (R meta's ``metabin``/``metacont``/``metagen``/``metaprop``, with
    metafor's numbers).

    Parameters
    ----------
    data : DataFrame, optional
        One row per study. Without it, give the columns as Series, arrays or lists.
    measure : str
        Effect measure (metafor codes): see :data:`FORMS` for the measures of each data form.
    studlab : column or values, optional
        Study labels (unique). Default: ``data``'s index when it is not a plain 0..k-1 range, else
        ``Study 1 .. k``.
    events1, n1, events2, n2 : column or values
        Events and participants per arm (arm 1 = intervention): RR, OR, RD (metafor ``escalc``;
        zero cells: ``add`` to every cell of the studies chosen by ``to``, as metafor).
    mean1, sd1, n1, mean2, sd2, n2 : column or values
        Means, SDs and participants per arm: MD, SMD (Hedges' g), ROM.
    estimate, ci_low, ci_high, sei : column or values
        One contrast per study (generic inverse variance): its estimate and either its CI (at
        ``ci_level``) or its standard error. For ratio measures (RR, OR, HR, ROM) say with ``log=``
        whether the values are ratios (``log=True``) or logs (``log=False``); without ``log=`` a value
        <= 0 means logs, and all-positive values are refused as ambiguous (the message says which
        scale the CIs' symmetry suggests). The standard error of a ratio is always on the log scale.
        Optional ``n1, n2`` or ``n``: participants (for the GRADE optimal information size).
    events, n : column or values
        Events and participants of one group: logit proportions (``PLO``).
    method : str
        ``"FE"`` or a τ² estimator (``"REML"`` default, ``"DL"``, ...): :func:`hipacu.pool`.
    test : {"z", "t", "knha", "adhoc"}, optional
        Interval of the pooled estimate (metafor ``test``); default ``"z"`` as metafor, or
        ``"knha"`` with ``knha=True``.
    level : float
        Confidence level of the study and pooled intervals.
    pi : {"metafor", "HTS"}
        Prediction interval method.
    subgroup : column or values, optional
        Subgroup of each study: the forest plot lists studies by subgroup, :meth:`MetaAnalysis.subgroups`
        tests the difference.
    lower_is_better : bool, optional
        Direction of the outcome (for the favours labels and GRADE).
    title, label1, label2 : str
        Outcome title and names of arm 1 and arm 2 (favours labels, the report).

    Returns
    -------
    MetaAnalysis

    Raises
    ------
    ValueError
        A missing or ill-typed column or value (naming the argument, the column and the row), an
        unknown measure for the data form, or a bad option.

    Examples
    --------
    >>> m = hipacu.meta(df, measure="RR", studlab="study", events1="tpos", n1="n1", events2="cpos", n2="n2")
    """
    given = dict(events1=events1, n1=n1, events2=events2, n2=n2, mean1=mean1, sd1=sd1, mean2=mean2, sd2=sd2,
                 estimate=estimate, ci_low=ci_low, ci_high=ci_high, sei=sei, events=events, n=n)
    form = _form(given)
    if measure not in FORMS[form][1]:
        fits = [f for f, (_, ms) in FORMS.items() if measure in ms]
        hint = (f"; {measure} needs {' or '.join(fits)} data ({', '.join(FORMS[fits[0]][0])})" if fits else "")
        raise ValueError(f"measure={measure!r} is not allowed for {form} data; choose one of "
                         f"{', '.join(map(repr, FORMS[form][1]))}{hint}")
    method = check_choice(method, "method", METHODS)
    test = check_test(test, knha)
    level = check_level(level)
    pi = check_choice(pi, "pi", PI_METHODS)
    if lower_is_better is not None:
        lower_is_better = check_flag(lower_is_better, "lower_is_better")
    t = _Table(data, {k: v for k, v in given.items() if v is not None} | {"studlab": studlab, "subgroup": subgroup})

    labels = _labels(t, studlab)
    cols: dict[str, np.ndarray] = {}
    corrected = None
    log_input = None
    if form == "binary":
        cols["events1"] = t.numbers("events1", events1, integer=True, nonnegative=True)
        cols["n1"] = t.numbers("n1", n1, integer=True, min_value=1)
        cols["events2"] = t.numbers("events2", events2, integer=True, nonnegative=True)
        cols["n2"] = t.numbers("n2", n2, integer=True, min_value=1)
    elif form == "continuous":
        for c, v in (("mean1", mean1), ("sd1", sd1), ("n1", n1), ("mean2", mean2), ("sd2", sd2), ("n2", n2)):
            if c.startswith("sd"):
                cols[c] = t.numbers(c, v, positive=True)
            elif c.startswith("n"):
                cols[c] = t.numbers(c, v, integer=True, min_value=2 if measure == "SMD" else 1)
            else:
                cols[c] = t.numbers(c, v, positive=measure == "ROM")
    elif form == "generic":
        cols["estimate"] = t.numbers("estimate", estimate)
        if ci_low is not None:
            cols["ci_low"] = t.numbers("ci_low", ci_low)
            cols["ci_high"] = t.numbers("ci_high", ci_high)
        else:
            cols["sei"] = t.numbers("sei", sei, positive=True)
        for c, v in (("n1", n1), ("n2", n2), ("n", n)):
            if v is not None:
                cols[c] = t.numbers(c, v, integer=True, min_value=1)
    else:
        cols["events"] = t.numbers("events", events, integer=True, nonnegative=True)
        cols["n"] = t.numbers("n", n, integer=True, min_value=1)
    k = len(next(iter(cols.values())))
    for c, v in cols.items():
        if len(v) != k:
            raise ValueError(f"{c} has {len(v)} values; the other columns have {k} (one value per study)")
    if labels is None:
        labels = [f"Study {i + 1}" for i in range(k)]
        t.labels = labels
    elif len(labels) != k:
        raise ValueError(f"studlab has {len(labels)} values for {k} studies")


    if form == "binary":
        _check_le(t, cols["events1"], cols["n1"], "events1", "n1")
        _check_le(t, cols["events2"], cols["n2"], "events2", "n2")
        fn = {"RR": effects.log_risk_ratio, "OR": effects.log_odds_ratio, "RD": effects.risk_difference}[measure]
        es = fn(cols["events1"], cols["n1"], cols["events2"], cols["n2"], add=add, to=to)
        corrected = es.corrected
    elif form == "continuous":
        args = [cols[c] for c in ("mean1", "sd1", "n1", "mean2", "sd2", "n2")]
        es = {"MD": effects.mean_difference, "SMD": effects.smd, "ROM": effects.log_ratio_of_means}[measure](*args)
    elif form == "generic":
        est = cols["estimate"]
        lo, hi = cols.get("ci_low"), cols.get("ci_high")
        if lo is not None:
            for bad, msg in ((lo > est, "ci_low {l:g} is above the estimate {e:g}"),
                             (est > hi, "the estimate {e:g} is above ci_high {h:g}"),
                             (lo == hi, "ci_low equals ci_high ({h:g}): a zero-width interval has no variance")):
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise ValueError(msg.format(l=lo[i], e=est[i], h=hi[i]) + f" at {t.row(i)}; need ci_low <= estimate "
                                     "<= ci_high")
        if measure in RATIO:
            log_input = _ratio_scale(measure, est, lo, hi, log, t)
        elif log is not None and check_flag(log, "log"):
            raise ValueError(f"log=True applies to ratio measures (RR, OR, HR, ROM); {measure} is a difference")
        if lo is not None:
            es = effects.from_ci(est, lo, hi, level=check_level(ci_level, "ci_level"), log=bool(log_input))
        else:
            yi = np.log(est) if log_input else est
            es = effects.EffectSizes(yi, cols["sei"] ** 2, measure)
    else:
        _check_le(t, cols["events"], cols["n"], "events", "n")
        es = effects.logit_proportion(cols["events"], cols["n"], add=add, to=to)
        corrected = es.corrected

    groups = None
    if subgroup is not None:
        groups = t.texts("subgroup", subgroup)
    sub_name = subgroup if isinstance(subgroup, str) else ("subgroup" if subgroup is not None else None)

    with warnings.catch_warnings():
        pooled = pool(es.yi, es.vi, method=method, test=test, level=level, pi=pi)
    analysed = None
    if t.data is not None:  # the rows analysed, indexed by study label (the caller's index is not kept)
        analysed = t.data.reset_index(drop=True)
        analysed.index = pd.Index(labels, name="study")
    return _build(measure=measure, form=form, labels=labels, yi=np.asarray(es.yi, float), vi=np.asarray(es.vi, float),
                  pooled=pooled, cols=cols, corrected=corrected, groups=groups, method=method, test=test, level=level,
                  pi=pi, lower_is_better=lower_is_better, subgroup=sub_name, data=analysed, log_input=log_input,
                  title=title, label1=label1, label2=label2, ci_level=check_level(ci_level, "ci_level"))


def _labels(t: _Table, studlab) -> list[str] | None:
    """Unique study labels (``studlab``, else a non-default index), set on ``t`` so that every later
    message names the study; None when the default ``Study 1 .. k`` applies."""
    if studlab is not None:
        labels = t.texts("studlab", studlab)
    elif t.index is not None and not isinstance(t.index, pd.RangeIndex):
        labels = [str(x) for x in t.index]
    else:
        return None
    seen: dict[str, int] = {}
    for i, lab in enumerate(labels):
        if lab in seen:
            raise ValueError(f"studlab {lab!r} labels rows {seen[lab]} and {i}; study labels must be unique (e.g. "
                             "author and year: df.author + ' ' + df.year.astype(str))")
        seen[lab] = i
    t.labels = labels
    return labels


def _build(*, measure, form, labels, yi, vi, pooled, cols, corrected=None, groups=None, weights=None, **kw) -> MetaAnalysis:
    """Assemble the frozen result and its per-study table (shared by :func:`meta` and the RevMan reader)."""
    level = kw.get("level", 0.95)
    z = float(critical_value(level))
    se = np.sqrt(vi)
    stub = MetaAnalysis(measure=measure, form=form, labels=tuple(labels), yi=frozen_array(yi), vi=frozen_array(vi),
                        pooled=pooled, studies=pd.DataFrame(), **kw)
    w = np.asarray(pooled.weights if weights is None else weights, float)
    table = pd.DataFrame({"yi": yi, "vi": vi, "sei": se, "estimate": stub.display(yi),
                          "ci_low": stub.display(yi - z * se), "ci_high": stub.display(yi + z * se), "weight": w},
                         index=pd.Index(list(labels), name="study"))
    if "n1" in cols and "n2" in cols:
        table["n"] = cols["n1"] + cols["n2"]
    elif "n" in cols:
        table["n"] = cols["n"]
    else:
        table["n"] = np.nan
    for c, v in cols.items():
        table[c] = v
    table["corrected"] = np.zeros(len(yi), bool) if corrected is None else np.asarray(corrected, bool)
    if groups is not None:
        table["group"] = list(groups)
    object.__setattr__(stub, "studies", table)
    return stub


class _CallableModule(types.ModuleType):
    """``hipacu.meta`` is both this module and the function :func:`meta`: importing the submodule
    (``from hipacu.meta import MetaAnalysis``) makes ``hipacu.meta`` the module, so the module itself is
    callable and calls :func:`meta`."""

    def __call__(self, *args, **kwargs) -> MetaAnalysis:
        return meta(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
