"""Benchmark hipacu.diagnostics.sensitivity: one batched engine call versus a Python loop of single fits.

Run from the repository root::

    python benchmarks/bench_sensitivity.py            # k = 13, 100, 1000
    python benchmarks/bench_sensitivity.py --quick    # k = 13, 100

Prints the median time per call of ``leave_one_out``, ``cumulative`` and ``influence`` (REML),
and of the equivalent Python loop of ``hipacu.pool`` fits, with the ratio loop / batch (> 1 means
the batched call is faster). Single-threaded, like benchmarks/bench_pool.py.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import statistics  # noqa: E402
import timeit  # noqa: E402

import numpy as np  # noqa: E402

import hipacu  # noqa: E402


def median_time(fn, repeat: int = 5) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return statistics.median(timer.repeat(repeat=repeat, number=number)) / number


def loop_leave_one_out(yi, vi):
    keep = ~np.eye(len(yi), dtype=bool)
    return [hipacu.pool(yi[m], vi[m], method="REML") for m in keep]


def loop_cumulative(yi, vi):
    return [hipacu.pool(yi[: i + 1], vi[: i + 1], method="REML") for i in range(len(yi))]


def fmt(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} us"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only k = 13 and k = 100")
    args = parser.parse_args(argv)
    sizes = (13, 100) if args.quick else (13, 100, 1000)
    rng = np.random.default_rng(2024)
    print(f"hipacu {hipacu.__version__}, numpy {np.__version__}; median time per call (REML)")
    print(f"{'k':>5}  {'function':<14} {'batched':>10} {'python loop':>12} {'loop/batch':>10}")
    for k in sizes:
        yi = rng.normal(0.3, 0.3, k)
        vi = rng.uniform(0.01, 0.2, k)
        rows = [
            ("leave_one_out", lambda: hipacu.leave_one_out(yi, vi), lambda: loop_leave_one_out(yi, vi)),
            ("cumulative", lambda: hipacu.cumulative(yi, vi), lambda: loop_cumulative(yi, vi)),
            ("influence", lambda: hipacu.influence(yi, vi), None),
        ]
        for name, batched, loop in rows:
            tb = median_time(batched)
            if loop is None:
                print(f"{k:>5}  {name:<14} {fmt(tb):>10} {'-':>12} {'-':>10}")
                continue
            tl = median_time(loop, repeat=3)
            print(f"{k:>5}  {name:<14} {fmt(tb):>10} {fmt(tl):>12} {tl / tb:>10.3g}")


if __name__ == "__main__":
    main()
