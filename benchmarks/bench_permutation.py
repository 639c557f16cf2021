"""Benchmark hipacu's vectorised meta-regression permutation test.

Run from the repository root::

    python benchmarks/bench_permutation.py            # full run (a few seconds)
    python benchmarks/bench_permutation.py --quick    # smoke run: fewer repeats

Target (project issue): ``meta_regression(...).permutation_test(n=1000)`` with k = 20 studies and one
moderator in <= 10 ms on one core (REML). One run prints one table of median timings: hipacu's
batched test, the same 1,000 refits done as a Python loop of ``meta_regression`` calls (the
"loop" reference, ratio loop/hipacu), and, if PyMARE is importable, PyMARE's
``MetaRegressionResults.permutation_test(n_perm=1000)`` (ratio PyMARE/hipacu). Ratios > 1 mean
hipacu is faster. Every numeric library is pinned to ONE thread before numpy is imported.

The loop reference refits the very same permutations one ``meta_regression`` call at a time (so its
p-values equal hipacu's), and the ratio isolates what batching buys. PyMARE permutes differently (it shuffles the
outcomes, metafor and hipacu permute the design rows) and its p-values are printed for reference
only.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy (and its BLAS) is loaded

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import timeit  # noqa: E402
import warnings  # noqa: E402
from importlib import metadata  # noqa: E402

import numpy as np  # noqa: E402

import hipacu  # noqa: E402
from hipacu.models.regression import meta_regression  # noqa: E402

TARGET_S = 10e-3  # 1,000 permutations, k = 20, one core
N_PERM = 1000
K = 20


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _pymare():
    try:
        from pymare import Dataset, estimators

        return Dataset, estimators
    except Exception:  # noqa: BLE001 (ImportError or a broken install: "not installed")
        return None


def median_time(fn, repeat: int, number: int = 1) -> float:
    runs = timeit.Timer(fn).repeat(repeat=repeat, number=number)
    return statistics.median(runs) / number


def fmt(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def make_data(seed: int):
    """k = 20: x ~ N(0, 1), vi ~ U(0.01, 0.2), yi ~ N(0.2 + 0.1 x, vi + 0.05)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=K)
    v = rng.uniform(0.01, 0.2, K)
    y = 0.2 + 0.1 * x + rng.normal(0.0, np.sqrt(v + 0.05))
    return y, v, x


def loop_permutation(y, v, x, method: str, n: int, seed: int):
    """The same test as a Python loop of full fits (the reference the batch replaces).

    It draws the same permutations as ``permutation_test(n, seed)`` (the studies' ``(y, v)`` pairs
    shuffled against the fixed moderator, the observed order first), so its p-values are identical.
    """
    obs = meta_regression(y, v, x, method=method)
    perm = np.argsort(np.random.default_rng(seed).random((n, K)), axis=1)
    perm[0] = np.arange(K)
    z = np.empty((n, obs.p))
    for i in range(n):
        z[i] = meta_regression(y[perm[i]], v[perm[i]], x, method=method).statistic
    return (np.abs(z) >= np.abs(obs.statistic) - 1.5e-8).mean(axis=0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=15, help="timeit repeats for hipacu (default 15)")
    ap.add_argument("--repeat-loop", type=int, default=3, help="repeats for the loop and PyMARE (default 3)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--quick", action="store_true", help="smoke run: 5 hipacu repeats, 1 loop repeat")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat, args.repeat_loop = 5, 1

    print("hipacu permutation-test benchmark (one thread)")
    print(f"  python {platform.python_version()}, {platform.platform()}, os.cpu_count() = {os.cpu_count()}")
    print("  versions " + ", ".join(f"{d} {_version(d)}" for d in ("hipacu", "numpy", "scipy", "pymare")))
    print(f"  data     k = {K}, one moderator, seed {args.seed}; n = {N_PERM} permutations (observed included)")
    print(f"  timing   median of {args.repeat} runs (hipacu), {args.repeat_loop} runs (loop, PyMARE)\n")

    y, v, x = make_data(args.seed)
    pm = _pymare()
    rows = []
    for method in ("REML", "DL", "FE"):
        res = meta_regression(y, v, x, method=method)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pt = res.permutation_test(N_PERM, seed=args.seed)  # warm-up
            t_h = median_time(lambda r=res: r.permutation_test(N_PERM, seed=args.seed), args.repeat)
            t_loop = median_time(lambda m=method: loop_permutation(y, v, x, m, N_PERM, args.seed), args.repeat_loop)
            p_loop = loop_permutation(y, v, x, method, N_PERM, args.seed)
        status = "-"
        if method == "REML":
            status = f"<= {fmt(TARGET_S)} " + ("MET" if t_h <= TARGET_S else f"MISSED ({t_h / TARGET_S:.1f}x)")
        rows.append((method, "hipacu permutation_test (batched)", fmt(t_h), status, "1 (ref)",
                     " ".join(f"{p:.3f}" for p in pt.pval)))
        rows.append((method, "loop of meta_regression fits", fmt(t_loop), "-", f"{t_loop / t_h:.3g}",
                     " ".join(f"{p:.3f}" for p in p_loop)))
        if pm is None:
            rows.append((method, "PyMARE permutation_test", "not installed", "-", "-", "-"))
        else:
            Dataset, est = pm
            make = {
                "REML": lambda: est.VarianceBasedLikelihoodEstimator(method="REML"),
                "DL": est.DerSimonianLaird,
                "FE": est.WeightedLeastSquares,
            }[method]
            ds = Dataset(y=y, v=v, X=x[:, None])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                summ = make().fit_dataset(ds).summary()
                ppt = summ.permutation_test(N_PERM)
                t_p = median_time(lambda s=summ: s.permutation_test(N_PERM), args.repeat_loop)
            pvals = np.ravel(ppt.perm_p["fe_p"])
            rows.append((method, "PyMARE permutation_test(n_perm=1000)", fmt(t_p), "-", f"{t_p / t_h:.3g}",
                         " ".join(f"{p:.3f}" for p in pvals)))

    head = ("method", "implementation", "median", "target / status", "other/hipacu", "p (intercept, x)")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print(line)
    prev = None
    for r in rows:
        if prev is not None and r[0] != prev:
            print()
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        prev = r[0]
    print(line)
    print("other/hipacu = other median / hipacu median (> 1: hipacu faster). PyMARE shuffles the outcomes")
    print("(metafor and hipacu permute the design rows), so its intercept p-value differs by design.")
    print(f"hipacu {hipacu.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
