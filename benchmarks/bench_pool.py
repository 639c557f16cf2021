"""Benchmark hipacu's pooling engine against the project's performance targets and its peers.

Run from the repository root::

    python benchmarks/bench_pool.py            # full run (about a minute on 2 cores)
    python benchmarks/bench_pool.py --quick    # smoke run: fewer repeats, smaller batch

One run prints one table of median timings (``timeit`` repeats, median over repeats) with the
targets from the project issue beside hipacu's rows and, for peer rows, the ratio
``peer time / hipacu time`` (> 1 means hipacu is faster). Peers (PyMARE, statsmodels) are
optional: a peer that cannot be imported gets a "not installed" row.

All numeric libraries are pinned to ONE thread (the targets are single-core); the thread
variables are set below before numpy is imported. ``OPENBLAS_CORETYPE`` is left as found and
reported in the header together with what threadpoolctl (if installed) says about the BLAS.
"""

from __future__ import annotations

import os

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "BLIS_NUM_THREADS",
)
for _var in _THREAD_VARS:  # must happen before numpy (and its BLAS) is loaded
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402
import warnings  # noqa: E402
from importlib import metadata  # noqa: E402

import numpy as np  # noqa: E402

import hipacu  # noqa: E402

# --------------------------------------------------------------------------- targets (issue)

TARGETS = {
    "batch_reml": 0.12,  # s, pool_batch REML, 100,000 x 10
    "batch_dl": 0.015,  # s, pool_batch DL, 100,000 x 10
    "single_k10": 150e-6,  # s, pool(..., "REML"), k = 10
    "single_k10000": 1e-3,  # s, pool(..., "REML"), k = 10,000
    "import_ratio": 1.5,  # import hipacu / import pandas
    "dl_vs_numpy": 1.2,  # pool_batch DL / plain vectorised numpy DL, same outputs
}
TARGET_N_BATCH = 100_000

# --------------------------------------------------------------------------- optional peers


def _optional_import(name: str):
    try:
        return __import__(name, fromlist=["_"])
    except Exception:  # noqa: BLE001  (ImportError, or a broken install: either way "not installed")
        return None


pymare_est = _optional_import("pymare.estimators")
sm_meta = _optional_import("statsmodels.stats.meta_analysis")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


# --------------------------------------------------------------------------- timing helpers


def median_time(fn, repeat: int, number: int | None = None) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` timeit repeats.

    ``number`` calls per repeat; when None it is chosen by ``Timer.autorange`` (>= 0.2 s per
    repeat), which suits the microsecond cases.
    """
    timer = timeit.Timer(fn)
    if number is None:
        number, _ = timer.autorange()
    runs = timer.repeat(repeat=repeat, number=number)
    return statistics.median(runs) / number


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


class Table:
    def __init__(self):
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.misses: list[str] = []
        self.notes: list[str] = []

    def hipacu(self, case: str, impl: str, t: float, target: float | None, scale_ok: bool = True):
        if target is None:
            status = "-"
        elif not scale_ok:
            status = f"<= {fmt_time(target)} (n/a: size differs)"
        else:
            ok = t <= target
            status = f"<= {fmt_time(target)}  " + ("MET" if ok else f"MISSED ({t / target:.1f}x)")
            if not ok:
                self.misses.append(f"{case}: {fmt_time(t)} vs target <= {fmt_time(target)} ({t / target:.1f}x over)")
        self.rows.append((case, impl, fmt_time(t), status, "1 (ref)"))

    def peer(self, case: str, impl: str, t: float | None, ref: float, extra: str = ""):
        if t is None:
            self.rows.append((case, impl, "not installed", "-", "-"))
        else:
            self.rows.append((case, impl, fmt_time(t) + extra, "-", f"{t / ref:.3g}"))

    def info(self, case: str, impl: str, value: str, status: str = "-", ratio: str = "-"):
        self.rows.append((case, impl, value, status, ratio))

    def print(self):
        head = ("case", "implementation", "median", "target / status", "peer/hipacu")
        widths = [max(len(str(r[i])) for r in self.rows + [head]) for i in range(5)]
        line = "  ".join("-" * w for w in widths)
        print(line)
        print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        print(line)
        prev = None
        for r in self.rows:
            if prev is not None and r[0] != prev:
                print()
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
            prev = r[0]
        print(line)
        print("peer/hipacu = peer median / hipacu median for the same case (> 1: hipacu faster).")


# --------------------------------------------------------------------------- data


def make_batch(n: int, k: int, seed: int):
    """yi ~ N(0.3, 0.2^2 + vi), vi ~ U(0.01, 0.2), rows = analyses."""
    rng = np.random.default_rng(seed)
    V = rng.uniform(0.01, 0.2, size=(n, k))
    Y = rng.normal(0.3, np.sqrt(0.2**2 + V))
    return Y, V


# --------------------------------------------------------------------------- environment


def environment_lines() -> list[str]:
    lines = [
        f"date            {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"python          {platform.python_version()} ({sys.executable})",
        f"platform        {platform.platform()}",
        f"cpu             {_cpu_model()}; os.cpu_count() = {os.cpu_count()}",
        "versions        "
        + ", ".join(f"{d} {_version(d)}" for d in ("hipacu", "numpy", "scipy", "pandas", "pymare", "statsmodels")),
        "threads         " + " ".join(f"{v}={os.environ[v]}" for v in _THREAD_VARS[:3]) + " (set by this script)",
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} (left as found)",
    ]
    try:
        from threadpoolctl import threadpool_info

        for p in threadpool_info():
            lines.append(
                f"threadpoolctl   {p.get('user_api')}: {p.get('internal_api')} {p.get('version')}, "
                f"num_threads={p.get('num_threads')}, arch={p.get('architecture', '?')}, "
                f"layer={p.get('threading_layer', '?')}, {os.path.basename(p.get('filepath', ''))}"
            )
    except ImportError:
        lines.append("threadpoolctl   not installed (BLAS thread count not verified)")
    return lines


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --------------------------------------------------------------------------- benchmarks


def plain_numpy_dl(Y, V, level: float = 0.95):
    """DerSimonian-Laird written as plain vectorised numpy over (n, k) rows, returning the outputs
    pool_batch returns (estimate, se, CI, z, p, tau2, Q, I2, H2, PI): the floor a batch engine is
    measured against (issue target: pool_batch DL within 1.2x of this)."""
    from scipy import special

    w = 1 / V
    sw = w.sum(1)
    mu = (w * Y).sum(1) / sw
    q = (w * (Y - mu[:, None]) ** 2).sum(1)
    k = Y.shape[1]
    sw2 = (w * w).sum(1)
    tau2 = np.maximum(0, (q - (k - 1)) / (sw - sw2 / sw))
    ws = 1 / (V + tau2[:, None])
    sws = ws.sum(1)
    est = (ws * Y).sum(1) / sws
    se = np.sqrt(1 / sws)
    z = est / se
    p = 2 * special.ndtr(-np.abs(z))
    crit = special.ndtri(0.5 + level / 2)
    s2 = (k - 1) * sw / (sw**2 - sw2)
    i2, h2 = 100 * tau2 / (tau2 + s2), (tau2 + s2) / s2
    half = crit * np.sqrt(se * se + tau2)
    return est, se, est - crit * se, est + crit * se, z, p, tau2, q, i2, h2, est - half, est + half


def bench_batch(tab: Table, args, Y, V):
    n, k = Y.shape
    at_target_size = n == TARGET_N_BATCH and k == 10
    # PyMARE wants (k, n_analyses): transpose outside the timed region
    Yt, Vt = np.ascontiguousarray(Y.T), np.ascontiguousarray(V.T)
    X = np.ones((k, 1))
    sub = min(args.sm_subset, n)

    for method, target_key in (("REML", "batch_reml"), ("DL", "batch_dl")):
        case = f"1. pool_batch {n:,}x{k} {method}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = hipacu.pool_batch(Y, V, method=method)  # warm-up, and for the agreement notes
            t_h = median_time(lambda m=method: hipacu.pool_batch(Y, V, method=m), args.repeat, number=1)
        tab.hipacu(case, "hipacu.pool_batch", t_h, TARGETS[target_key], scale_ok=at_target_size)
        if method == "DL":
            t_np = median_time(lambda: plain_numpy_dl(Y, V), args.repeat, number=1)
            tab.peer(case, "plain numpy DL, same outputs (floor)", t_np, t_h)
            tab.notes.append(f"{case}: hipacu / plain numpy = {t_h / t_np:.2f} (target <= {TARGETS['dl_vs_numpy']})")
        nonconv = int((~res.converged).sum())
        if nonconv:
            tab.notes.append(f"{case}: hipacu reports {nonconv} of {n:,} analyses not converged (maxiter reached).")

        # PyMARE: batched estimators take y, v of shape (k, n_analyses)
        if pymare_est is None:
            tab.peer(case, "PyMARE (batched)", None, t_h)
        else:
            if method == "REML":
                label = 'PyMARE VarianceBasedLikelihoodEstimator("REML"), batched (k, n)'

                def make():
                    return pymare_est.VarianceBasedLikelihoodEstimator(method="REML", **_pymare_kw())
            else:
                label = "PyMARE DerSimonianLaird, batched (k, n)"

                def make():
                    return pymare_est.DerSimonianLaird(**_pymare_kw())

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = make().fit(Yt, Vt, X)
                t_p = median_time(lambda: make().fit(Yt, Vt, X), args.repeat, number=1)
            tab.peer(case, label, t_p, t_h)
            _agreement_note(tab, case, "PyMARE", res, est.params_["tau2"], est.params_["fe_params"])

        # statsmodels: no batch API -> Python loop over a subset, scaled linearly
        sm_method = "iterated" if method == "REML" else "chi2"
        sm_label = f'statsmodels combine_effects("{sm_method}") loop'
        if sm_meta is None:
            tab.peer(case, sm_label, None, t_h)
        else:

            def loop(sm_method=sm_method):
                for i in range(sub):
                    sm_meta.combine_effects(Y[i], V[i], method_re=sm_method)

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loop()
                t_s = median_time(loop, max(3, args.repeat // 2), number=1) * (n / sub)
            tab.peer(case, sm_label, t_s, t_h, extra=f" (extrap. from {sub:,})")
    if sm_meta is not None:
        tab.notes.append(
            'statsmodels has no REML: "iterated" is its Paule-Mandel estimator, shown in the REML rows as the '
            'nearest iterative peer; "chi2" is DerSimonian-Laird (not truncated at 0).'
        )


def _pymare_kw() -> dict:
    """Ask PyMARE for plain Wald inference (hipacu's knha=False) where the release supports it."""
    import inspect

    params = inspect.signature(pymare_est.DerSimonianLaird.__init__).parameters
    return {"small_sample_correction": "wald"} if "small_sample_correction" in params else {}


def _agreement_note(tab: Table, case: str, peer: str, res, tau2, beta):
    tau2 = np.asarray(tau2, float).ravel()
    beta = np.asarray(beta, float).ravel()
    if tau2.shape != res.tau2.shape or beta.shape != res.estimate.shape:
        return
    dt = np.abs(tau2 - res.tau2)
    de = np.abs(beta - res.estimate)
    diff = dt > 1e-6
    n_nc = int((diff & ~res.converged).sum())
    tab.notes.append(
        f"{case}: vs {peer}, |d tau2| median {np.median(dt):.1e}, max {dt.max():.1e}; "
        f"{int(diff.sum())} analyses differ by > 1e-6 in tau2 ({n_nc} of them flagged not converged by hipacu); "
        f"|d estimate| max {de.max():.1e}."
    )


def _per_call_peers(tab: Table, case: str, y, v, t_h: float, repeat: int):
    """statsmodels and PyMARE single-analysis rows for one (y, v)."""
    if sm_meta is None:
        tab.peer(case, 'statsmodels combine_effects("iterated")', None, t_h)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_s = median_time(lambda: sm_meta.combine_effects(y, v, method_re="iterated"), repeat)
        tab.peer(case, 'statsmodels combine_effects("iterated")', t_s, t_h)
    if pymare_est is None:
        tab.peer(case, 'PyMARE VarianceBasedLikelihoodEstimator("REML")', None, t_h)
    else:
        yc, vc, X = y[:, None], v[:, None], np.ones((len(y), 1))
        kw = _pymare_kw()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_p = median_time(
                lambda: pymare_est.VarianceBasedLikelihoodEstimator(method="REML", **kw).fit(yc, vc, X), repeat
            )
        tab.peer(case, 'PyMARE VarianceBasedLikelihoodEstimator("REML")', t_p, t_h)


def per_analysis_times(fn, rows, repeat: int) -> np.ndarray:
    """Seconds per analysis: each call timed with perf_counter, median over ``repeat`` passes."""
    out = np.empty((repeat, len(rows)))
    clock = time.perf_counter
    for r in range(repeat):
        for i, row in enumerate(rows):
            t0 = clock()
            fn(*row)
            out[r, i] = clock() - t0
    return np.median(out, axis=0)


def bench_single(tab: Table, args, Y, V):
    # (a) one fixed analysis with its own seed (independent of --n-batch), timeit
    y1, v1 = (a[0] for a in make_batch(1, 10, seed=args.seed + 2))
    case = f"2a. pool REML, k=10, one analysis (seed {args.seed + 2})"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_h = median_time(lambda: hipacu.pool(y1, v1, method="REML"), args.repeat_small)
    tab.hipacu(case, 'hipacu.pool(method="REML")', t_h, TARGETS["single_k10"])
    _per_call_peers(tab, case, y1, v1, t_h, args.repeat_small)

    # (b, c) the cost of an iterative fit depends on how many iterations the analysis needs, so
    # also time each of m different analyses (the first rows of the batch data) and report the
    # median analysis and the mean (which includes the slow tail)
    m = min(args.sm_subset, len(Y))
    rows = [(Y[i].copy(), V[i].copy()) for i in range(m)]
    X = np.ones((Y.shape[1], 1))
    rep = max(3, args.repeat // 2)
    impls = [('hipacu.pool(method="REML")', lambda y, v: hipacu.pool(y, v, method="REML"))]
    impls.append(
        (
            'statsmodels combine_effects("iterated")',
            None if sm_meta is None else (lambda y, v: sm_meta.combine_effects(y, v, method_re="iterated")),
        )
    )
    if pymare_est is None:
        impls.append(('PyMARE VarianceBasedLikelihoodEstimator("REML")', None))
    else:
        kw = _pymare_kw()
        impls.append(
            (
                'PyMARE VarianceBasedLikelihoodEstimator("REML")',
                lambda y, v: pymare_est.VarianceBasedLikelihoodEstimator(method="REML", **kw).fit(
                    y[:, None], v[:, None], X
                ),
            )
        )
    results = {}
    for label, fn in impls:
        if fn is None:
            results[label] = None
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per_call(fn, rows[:20])  # warm-up
            results[label] = per_analysis_times(fn, rows, rep)
    case_b = f"2b. pool REML, k=10, median of {m:,} analyses"
    case_c = f"2c. pool REML, k=10, mean of {m:,} analyses"
    for case, stat in ((case_b, np.median), (case_c, np.mean)):
        ref = None
        for label, _ in impls:
            t = results[label]
            if ref is None:
                ref = float(stat(t))
                tab.hipacu(case, label, ref, TARGETS["single_k10"])
            else:
                tab.peer(case, label, None if t is None else float(stat(t)), ref)
    h = results[impls[0][0]]
    tab.notes.append(
        f"2b/2c: hipacu.pool per-analysis time over {m:,} analyses: p10 {fmt_time(np.percentile(h, 10))}, "
        f"median {fmt_time(np.median(h))}, p90 {fmt_time(np.percentile(h, 90))}, max {fmt_time(h.max())}."
    )


def per_call(fn, rows):
    for row in rows:
        fn(*row)


def bench_large_k(tab: Table, args):
    Y, V = make_batch(1, 10_000, seed=args.seed + 1)
    y, v = Y[0].copy(), V[0].copy()
    case = "3. pool REML, k=10,000"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_h = median_time(lambda: hipacu.pool(y, v, method="REML"), args.repeat_small)
    tab.hipacu(case, 'hipacu.pool(method="REML")', t_h, TARGETS["single_k10000"])
    _per_call_peers(tab, case, y, v, t_h, args.repeat_small)


def _subprocess_time(code: str, runs: int) -> float:
    cmd = [sys.executable, "-c", code]
    subprocess.run(cmd, check=True, capture_output=True)  # warm the file cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_import(tab: Table, args):
    case = "4. import (fresh interpreter)"
    out = subprocess.run(
        [sys.executable, "-c", "import hipacu, sys; print('matplotlib' in sys.modules)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    loads_mpl = out == "True"
    tab.info(case, "import hipacu loads matplotlib?", out, "must be False  " + ("MISSED" if loads_mpl else "MET"))
    if loads_mpl:
        tab.misses.append("import hipacu imports matplotlib")

    t_base = _subprocess_time("pass", args.import_runs)
    t_pd = _subprocess_time("import pandas", args.import_runs)
    t_h = _subprocess_time("import hipacu", args.import_runs)
    ratio = t_h / t_pd
    ok = ratio <= TARGETS["import_ratio"]
    tab.info(case, 'python -c "pass" (interpreter start)', fmt_time(t_base))
    tab.info(case, 'python -c "import pandas"', fmt_time(t_pd))
    tab.info(
        case,
        'python -c "import hipacu"',
        fmt_time(t_h),
        f"<= 1.5x pandas  {'MET' if ok else 'MISSED'} ({ratio:.2f}x)",
        f"hipacu/pandas = {ratio:.2f}",
    )
    if not ok:
        tab.misses.append(f"import hipacu is {ratio:.2f}x import pandas (target <= 1.5x)")


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="timeit repeats for the batch cases (default 5)")
    ap.add_argument("--repeat-small", type=int, default=7, help="timeit repeats for the per-call cases (default 7)")
    ap.add_argument("--n-batch", type=int, default=TARGET_N_BATCH, help="analyses in the batch case (default 100000)")
    ap.add_argument("--sm-subset", type=int, default=1000, help="analyses timed in the statsmodels loop (default 1000)")
    ap.add_argument("--import-runs", type=int, default=7, help="subprocess runs per import timing (default 7)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--quick", action="store_true", help="smoke run: 10,000 analyses, 3 repeats, 3 import runs")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat, args.repeat_small, args.n_batch, args.sm_subset, args.import_runs = 3, 3, 10_000, 200, 3

    print("hipacu pooling benchmark (one thread)")
    for line in environment_lines():
        print("  " + line)
    print(f"  data            yi ~ N(0.3, 0.2^2 + vi), vi ~ U(0.01, 0.2), seed {args.seed}")
    print(
        f"  timing          median over timeit repeats (batch: {args.repeat} x 1 call; per-call cases: "
        f"{args.repeat_small} repeats, calls per repeat from autorange); imports: median of {args.import_runs} runs"
    )
    print()

    tab = Table()
    Y, V = make_batch(args.n_batch, 10, args.seed)
    bench_batch(tab, args, Y, V)
    bench_single(tab, args, Y, V)
    bench_large_k(tab, args)
    bench_import(tab, args)

    tab.print()
    if tab.notes:
        print("\nNotes:")
        for n in tab.notes:
            print("  - " + n)
    print("\nTargets missed by hipacu:" if tab.misses else "\nAll targets met.")
    for m in tab.misses:
        print("  - " + m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
