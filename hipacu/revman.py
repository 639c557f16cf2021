"""``hipacu.read_revman(path)``: every analysis of a RevMan 5 file as a :class:`~hipacu.meta.MetaAnalysis`,
re-analysed with the method RevMan states for it, beside RevMan's own stored totals.

Reading is :func:`hipacu.evidence.revman.read_rm5`; pooling is :func:`hipacu.models.revman.revman_pool`
(Mantel-Haenszel, inverse variance or Peto; fixed effect or DerSimonian-Laird). Each result keeps
RevMan's stored totals in ``stored`` and :func:`check_against_revman` lists where hipacu's
re-analysis differs from them.

Study effects: dichotomous data as :mod:`hipacu.effects` (0.5 added to every cell of a study with a
zero cell; studies with no events, or only events, in both arms are not estimable for RR and OR and
are left out, as RevMan does); continuous MD as metafor, SMD with RevMan's formula
(:func:`hipacu.models.revman.smd_revman`); generic inverse variance from the estimate and its SE,
where for ratio measures the estimate's scale is read from the data: the CI RevMan stores (natural
scale) must be ``exp(log(estimate) ± z SE)``, else the estimate is taken as already logged; without
a stored CI, ``LOG_DATA="YES"`` means the estimates are ratios (R meta's reading of RevMan files).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import special

from hipacu import effects
from hipacu.evidence.revman import RevManError, RevManOutcome, read_rm5
from hipacu.meta import RATIO, MetaAnalysis, _build
from hipacu.models.revman import revman_pool, smd_revman

__all__ = ["read_revman", "revman_analysis", "check_against_revman", "Difference", "RevManError", "import_revman",
           "lower_is_better"]

#: RevMan totals compared by :func:`check_against_revman` (stored key -> how hipacu computes it).
COMPARED = ("effect", "ci_start", "ci_end", "chi2", "df", "p_chi2", "i2", "tau2", "z", "p_z")


@dataclass(frozen=True)
class Difference:
    """One stored RevMan total that hipacu's re-analysis does not reproduce within ``rtol``."""

    analysis: str
    where: str
    key: str
    stored: float
    computed: float

    def __str__(self) -> str:
        return f"{self.analysis} {self.where} {self.key}: RevMan {self.stored!r}, hipacu {self.computed!r}"


def _generic_scale(o: RevManOutcome, est: np.ndarray, se: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bool:
    """Whether generic ratio estimates are ratios (True) or logs (False); see the module docstring."""
    if (est <= 0).any():
        return False
    z = float(special.ndtri(0.5 + o.ci_study / 200))
    have = np.isfinite(lo) & np.isfinite(hi) & (lo > 0)
    if have.any():
        as_ratio = np.allclose(np.log(lo[have]), np.log(est[have]) - z * se[have], rtol=1e-3, atol=1e-3)
        as_log = np.allclose(np.log(lo[have]), est[have] - z * se[have], rtol=1e-3, atol=1e-3)
        if as_ratio != as_log:
            return as_ratio
        raise RevManError(f"analysis {o.id} ({o.name!r}): the stored CIs fit neither ratios nor logs of the estimates; "
                          "cannot tell the scale of the generic inverse-variance data")
    return bool(o.log_data)


def revman_analysis(o: RevManOutcome, *, path: Path | None = None) -> MetaAnalysis:
    """One RevMan outcome as a :class:`MetaAnalysis` pooled with RevMan's stated method."""
    rows = [s for s in o.studies if s.estimable]
    where = f"analysis {o.id} ({o.name!r})"
    if not rows:
        raise RevManError(f"{where}: no estimable study data")
    val = {k: np.array([s.values.get(k, math.nan) for s in rows], float) for k in rows[0].values}
    cells = None
    excluded = []
    log_input = None
    if o.kind == "DICH":
        cells = tuple(val[k] for k in ("events1", "n1", "events2", "n2"))
        for name, x in zip(("events1", "n1", "events2", "n2"), cells):
            if not np.isfinite(x).all():
                i = int(np.flatnonzero(~np.isfinite(x))[0])
                raise RevManError(f"{where}: study {rows[i].study_id} has no {name}")
        a, n1, c, n2 = cells
        if o.measure in ("RR", "OR"):
            dz = ((a == 0) & (c == 0)) | ((a == n1) & (c == n2))
            excluded = [rows[i].label for i in np.flatnonzero(dz)]
            keep = ~dz
            rows = [r for r, k in zip(rows, keep) if k]
            cells = tuple(x[keep] for x in cells)
            val = {k: v[keep] for k, v in val.items()}
        fn = {"RR": effects.log_risk_ratio, "OR": effects.log_odds_ratio, "RD": effects.risk_difference}[o.measure]
        es = fn(*cells)
        yi, vi, corrected = es.yi, es.vi, es.corrected
        cols = {k: val[k] for k in ("events1", "n1", "events2", "n2")}
        form = "binary"
    elif o.kind == "CONT":
        args = [val[k] for k in ("mean1", "sd1", "n1", "mean2", "sd2", "n2")]
        if o.measure == "MD":
            es = effects.mean_difference(*args)
            yi, vi = es.yi, es.vi
        else:
            yi, vi = smd_revman(*args)
        corrected = None
        cols = {k: val[k] for k in ("mean1", "sd1", "n1", "mean2", "sd2", "n2")}
        form = "continuous"
    else:
        est, se = val["estimate"], val["sei"]
        if not (np.isfinite(est).all() and np.isfinite(se).all() and (se > 0).all()):
            raise RevManError(f"{where}: every study needs EFFECT_SIZE and SE > 0")
        ratio = o.measure in RATIO and _generic_scale(o, est, se, val["ci_low"], val["ci_high"])
        yi, vi = (np.log(est) if ratio else est), se**2
        corrected = None
        log_input = bool(ratio) if o.measure in RATIO else None
        cols = {"estimate": est, "sei": se}
        for k in ("n1", "n2"):
            if np.isfinite(val[k]).all():
                cols[k] = val[k]
        form = "generic"
    level = o.ci_total / 100
    pooled = revman_pool(method=o.method, measure=o.measure, random=o.random, yi=yi, vi=vi, cells=cells, level=level)
    groups = [r.subgroup for r in rows] if o.subgroups else None
    model = f"{o.method} {'random effects (DerSimonian-Laird)' if o.random else 'fixed effect'}"
    src = f"RevMan 5 file {path.name if path else ''}, analysis {o.id}: {model}".replace("file , ", "file, ")
    stored = dict(o.totals) | {"subgroups": {g.name: dict(g.totals) for g in o.subgroups}, "excluded": excluded,
                               "weights": [r.weight for r in rows], "ci_level": o.ci_study / 100,
                               "graph_label_1": o.graph_label_1, "graph_label_2": o.graph_label_2}
    return _build(measure=o.measure, form=form, labels=[r.label for r in rows], yi=np.asarray(yi, float),
                  vi=np.asarray(vi, float), pooled=pooled, cols=cols, corrected=corrected, groups=groups,
                  method=pooled.method, test="z", level=level, pi="metafor", lower_is_better=None,
                  subgroup="subgroup" if groups else None, data=None, log_input=log_input, source=src, stored=stored,
                  title=o.name, label1=o.group_label_1, label2=o.group_label_2, ci_level=o.ci_study / 100)


def read_revman(path) -> dict[str, MetaAnalysis]:
    """Every analysis of a RevMan 5 file, keyed by RevMan's number (``"1.2"`` = comparison 1, outcome 2).

    Raises
    ------
    RevManError
        The file cannot be read, or an analysis cannot be re-analysed (the message names it).
    """
    review = read_rm5(path)
    return {o.id: revman_analysis(o, path=review.path) for o in review.outcomes}


def _computed(m: MetaAnalysis, p) -> dict:
    ratio = m.is_ratio
    show = (lambda x: math.exp(x)) if ratio else (lambda x: x)
    df = p.k - 1
    return {"effect": show(p.estimate), "ci_start": show(p.ci_low), "ci_end": show(p.ci_high), "chi2": p.q, "df": df,
            "p_chi2": p.q_pval, "i2": p.i2, "tau2": p.tau2, "z": abs(p.statistic), "p_z": p.pval}


#: RevMan 5 computes its chi-square and normal tail probabilities with less precision than scipy: its
#: stored p-values agree with exact ones to about 6 significant digits (Fleiss 1993: P_CHI2 0.12694225
#: stored, 0.12694218 exact), so p-values are compared at this relative tolerance.
RTOL_REVMAN_P = 1e-5


def check_against_revman(m: MetaAnalysis, *, rtol: float = 1e-9, atol: float = 1e-12,
                         rtol_p: float = RTOL_REVMAN_P) -> list[Difference]:
    """Where hipacu's re-analysis of an imported analysis differs from RevMan's stored totals (overall,
    per subgroup, the test for subgroup differences and the study weights); an empty list when
    everything matches. Estimates, CIs, Chi², I², τ², z and weights are compared at ``rtol``, p-values at
    ``rtol_p`` (:data:`RTOL_REVMAN_P`)."""
    if not m.stored:
        raise ValueError("this MetaAnalysis holds no RevMan totals; check_against_revman() applies to read_revman() results")
    diffs: list[Difference] = []
    aid = m.source.rsplit("analysis ", 1)[-1].split(":")[0]

    def compare(where, stored, computed):
        for key in COMPARED:
            if key in stored and math.isfinite(stored[key]):
                tol = rtol_p if key.startswith("p_") else rtol
                if not math.isclose(stored[key], computed[key], rel_tol=tol, abs_tol=atol):
                    diffs.append(Difference(aid, where, key, stored[key], computed[key]))

    compare("total", m.stored, _computed(m, m.pooled))
    w = m.stored.get("weights", [])
    if w and all(math.isfinite(x) for x in w):
        for lab, a, b in zip(m.labels, w, m.studies["weight"]):
            if not math.isclose(a, b, rel_tol=rtol, abs_tol=atol):
                diffs.append(Difference(aid, f"study {lab}", "weight", a, float(b)))
    if m.stored.get("subgroups"):
        groups = np.asarray(m.groups, dtype=object)
        ests = {}
        for name, st in m.stored["subgroups"].items():
            idx = groups == name
            cells = tuple(m.studies.loc[idx, c].to_numpy(float) for c in ("events1", "n1", "events2", "n2")) \
                if m.form == "binary" else None
            p = revman_pool(method=getattr(m.pooled, "pooling", "IV"), measure=m.measure,
                            random=m.pooled.tau2 > 0 or m.pooled.method == "DL", yi=m.yi[idx], vi=m.vi[idx], cells=cells,
                            level=m.level)
            ests[name] = p
            compare(f"subgroup {name!r}", st, _computed(m, p))
        if "q_between" in m.stored and math.isfinite(m.stored["q_between"]):
            est = np.array([p.estimate for p in ests.values()])
            se = np.array([p.se for p in ests.values()])
            # Cochran's Q of the subgroup estimates, weights 1/se^2 (RevMan 5; Deeks & Higgins 2010)
            qb = float(np.sum((est - np.sum(est / se**2) / np.sum(1 / se**2)) ** 2 / se**2))
            dfb = len(est) - 1
            computed = {"q_between": qb, "p_between": float(special.chdtrc(dfb, qb)),
                        "i2_between": max(0.0, 100 * (qb - dfb) / qb) if qb > 0 else 0.0}
            for key, v in computed.items():
                s = m.stored.get(key)
                tol = rtol_p if key.startswith("p_") else rtol
                if s is not None and math.isfinite(s) and not math.isclose(s, v, rel_tol=tol, abs_tol=atol):
                    diffs.append(Difference(aid, "subgroup differences", key, s, v))
    return diffs


def lower_is_better(m: MetaAnalysis) -> bool | None:
    """The outcome's direction from RevMan's forest-plot labels: the left-hand label (``GRAPH_LABEL_1``)
    says what values below no effect favour. "Favours experimental" or the experimental group's name
    there means lower is better; the control group there means higher is better; None otherwise."""
    left = m.stored.get("graph_label_1", "").lower()
    if not left.startswith("favours") and not left.startswith("favors"):
        return None
    who = set(left.split()[1:])
    first, second = set(m.label1.lower().split()), set(m.label2.lower().split())
    if who & {"experimental", "intervention", "treatment"} or (who & first and not who & second):
        return True
    if who & {"control", "comparator", "placebo"} or (who & second and not who & first):
        return False
    return None


def import_revman(path, folder, *, source_url: str, design: str, lower_is_better: bool | None = None,
                  value_type: str | None = None) -> list[Path]:
    """Write every analysis of a RevMan file as an evidence folder ``folder/analysis_<no>`` (one per
    analysis, each valid for ``hipacu validate`` and ``hipacu report --evidence``); ``source_url`` is
    where the review can be read (every row cites it, with the analysis and study as locator);
    ``value_type`` (``final`` or ``change``) is needed for continuous and generic analyses, which RevMan
    does not label. The folders re-pool by inverse variance (FE or DL, RevMan's model); the
    Mantel-Haenszel and Peto totals are in the :class:`MetaAnalysis` objects of :func:`read_revman`."""
    folder = Path(folder)
    written = []
    for aid, m in read_revman(path).items():
        lib = lower_is_better if lower_is_better is not None else globals()["lower_is_better"](m)
        if lib is None:
            raise RevManError(f"analysis {aid} ({m.title!r}): the forest-plot labels "
                              f"({m.stored.get('graph_label_1', '')!r} | {m.stored.get('graph_label_2', '')!r}) do not say "
                              "which direction favours the intervention; pass lower_is_better (CLI: "
                              "--lower-is-better or --higher-is-better)")
        locs = [f"{Path(path).name}, analysis {aid}, study {lab}" for lab in m.labels]
        written.append(m.to_evidence(folder / f"analysis_{aid}", source_url=source_url, locator=locs, design=design,
                                     lower_is_better=lib, analysis_id=f"revman_{aid.replace('.', '_')}",
                                     outcome=m.title, value_type=value_type))
    return written
