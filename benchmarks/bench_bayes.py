"""Benchmark the Bayesian random-effects engine (``hipacu.bayes``, ``hipacu.bayes_batch``).

Run from the repository root::

    python benchmarks/bench_bayes.py            # full run (about half a minute on 2 cores)
    python benchmarks/bench_bayes.py --quick    # smoke run: 1,000 analyses, fewer repeats

Targets (from the task that added the engine):

| case | what is timed | target |
| --- | --- | --- |
| 1 | one ``bayes(yi, vi)`` with k = 10: every posterior summary, shrinkage of all 10 studies | <= 5 ms |
| 2 | ``bayes_batch`` on 10,000 analyses x 10 studies | <= 5 s |

Both use the default half-normal(0.5) heterogeneity prior and a flat mu prior; case 1 also runs
the Jeffreys prior with a normal mu prior (bayesmeta's ``ma03``-style call) for comparison. Wall
time (``time.perf_counter``) and the process's CPU time (``time.process_time``) are both printed:
on a shared machine the wall time includes other processes' load, the CPU time does not. Numeric
libraries are pinned to one thread (set before numpy is imported), as in ``bench_pool.py``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is loaded

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402

import numpy as np  # noqa: E402

import hipacu  # noqa: E402
from hipacu import priors  # noqa: E402

TARGET_SINGLE = 5e-3  # s per analysis, k = 10
TARGET_BATCH = 5.0  # s, 10,000 analyses x 10 studies
N_BATCH = 10_000
K = 10


def data(n: int, k: int, seed: int):
    """Seeded analyses: vi ~ U(0.01, 0.2), yi ~ N(0.3, 0.2² + vi) (as bench_pool.py)."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.2, (n, k))
    return rng.normal(0.3, np.sqrt(0.04 + v)), v


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 analyses in the batch, fewer single calls")
    ap.add_argument("--n-single", type=int, default=300, help="different analyses timed one call each (median)")
    ap.add_argument("--repeat", type=int, default=3, help="batch repeats (median)")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    n_batch = 1_000 if args.quick else N_BATCH
    n_single = 50 if args.quick else args.n_single
    repeat = 1 if args.quick else args.repeat

    print(f"hipacu {hipacu.__version__}, numpy {np.__version__}, scipy {metadata.version('scipy')}, "
          f"Python {platform.python_version()}, {os.cpu_count()} cores, one thread; "
          f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    Y, V = data(max(n_batch, n_single), K, args.seed)
    rows = []

    # case 1: single analyses, k = 10 (each a different data set; median over them)
    for label, kw in (("half-normal(0.5), flat mu", {}),
                      ("Jeffreys, normal(0, 4) mu", dict(tau_prior=priors.jeffreys(), mu_prior=priors.normal(0, 4)))):
        hipacu.bayes(Y[0], V[0], **kw)  # warm-up
        walls, cpus = [], []
        for i in range(n_single):
            _, w, c = timed(lambda i=i: hipacu.bayes(Y[i], V[i], **kw))
            walls.append(w)
            cpus.append(c)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        rows.append((f"bayes, k = {K}, {label}", f"{wall * 1e3:.2f} ms", f"{cpu * 1e3:.2f} ms",
                     f"<= {TARGET_SINGLE * 1e3:g} ms: " + ("met" if wall <= TARGET_SINGLE else "MISSED")))

    # case 2: one batch
    hipacu.bayes_batch(Y[:100], V[:100])  # warm-up
    walls, cpus = [], []
    for _ in range(repeat):
        res, w, c = timed(lambda: hipacu.bayes_batch(Y[:n_batch], V[:n_batch]))
        walls.append(w)
        cpus.append(c)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    target = TARGET_BATCH * n_batch / N_BATCH
    rows.append((f"bayes_batch, {n_batch:,} x {K}", f"{wall:.2f} s", f"{cpu:.2f} s",
                 f"<= {target:g} s: " + ("met" if wall <= target else "MISSED")))
    if not res.converged.all():
        print(f"note: {int((~res.converged).sum())} analyses flagged converged=False")

    head = ("case", "wall (median)", "CPU (median)", "target")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for r in rows:
        print("| " + " | ".join(x.ljust(w) for x, w in zip(r, widths)) + " |")
    return 0 if all("MISSED" not in r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
