"""Benchmark hipacu.models.glmm against metafor's rma.glmm, in one run.

Run from the repository root::

    python benchmarks/bench_glmm.py            # hipacu, and metafor if Rscript can load it
    python benchmarks/bench_glmm.py --no-r     # hipacu only

Times (median per call) the two fits with targets, plus a few more for context:

====  =====================================================  ===========
case  fit                                                    target
====  =====================================================  ===========
1     PLO, ML, k = 10 (the first ten studies of Pritz 1997)  <= 5 ms
2     OR, UM.FS, ML, the 18 trials of Nielweise et al. 2007  <= 50 ms
====  =====================================================  ===========

For each case the same fit is timed in metafor (``rma.glmm`` with its defaults, R's
``system.time`` over repeated calls, median) when ``Rscript`` with metafor and lme4 is on the
PATH, and the ratio metafor / hipacu is printed (> 1: hipacu is faster). Single-threaded, like
the other benchmarks. The data are written here, so that the script needs no R data package;
they are metadat's ``dat.pritz1997``, ``dat.nielweise2007`` and ``dat.nielweise2008``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import tempfile
import timeit

import numpy as np
import scipy

from hipacu.models.glmm import glmm

PRITZ = {"events": [16, 10, 4, 43, 10, 25, 13, 12, 22, 4, 5, 18, 58, 6],
         "total": [17, 12, 8, 58, 10, 42, 14, 12, 41, 5, 6, 23, 68, 10]}
NIELWEISE2007 = {
    "events1": [0, 1, 2, 0, 5, 1, 1, 1, 1, 1, 0, 0, 3, 6, 0, 0, 1, 4],
    "total1": [116, 44, 208, 130, 151, 98, 174, 74, 97, 113, 66, 70, 188, 187, 118, 252, 345, 64],
    "events2": [3, 3, 9, 7, 6, 4, 3, 2, 19, 2, 7, 1, 5, 11, 0, 1, 3, 1],
    "total2": [117, 35, 195, 136, 157, 139, 177, 39, 103, 122, 64, 58, 175, 180, 105, 262, 362, 69],
}
NIELWEISE2008 = {"events1": [7, 8, 3, 6, 1, 1, 17, 3, 2], "exposure1": [1344, 1600, 12012, 1536, 370, 729, 6760, 1107, 320],
                 "events2": [11, 8, 14, 10, 1, 8, 15, 7, 3], "exposure2": [1988, 1461, 10962, 1503, 483, 913, 6840, 1015, 440]}

# (label, hipacu kwargs, R call, target seconds or None)
CASES = [
    ("1. PLO ML, k = 10", dict(measure="PLO", events=PRITZ["events"][:10], total=PRITZ["total"][:10]),
     'rma.glmm(measure = "PLO", xi = d$xi[1:10], ni = d$ni[1:10])', 5e-3),
    ("2. OR UM.FS ML, k = 18", dict(measure="OR", **NIELWEISE2007),
     'rma.glmm(measure = "OR", ai = n7$ai, n1i = n7$n1i, ci = n7$ci, n2i = n7$n2i)', 50e-3),
    ("   PLO EE, k = 10", dict(measure="PLO", method="EE", events=PRITZ["events"][:10], total=PRITZ["total"][:10]),
     'rma.glmm(measure = "PLO", xi = d$xi[1:10], ni = d$ni[1:10], method = "EE")', None),
    ("   OR CM.AL ML, k = 18", dict(measure="OR", model="CM.AL", **NIELWEISE2007),
     'rma.glmm(measure = "OR", ai = n7$ai, n1i = n7$n1i, ci = n7$ci, n2i = n7$n2i, model = "CM.AL")', None),
    ("   OR UM.RS ML, k = 18", dict(measure="OR", model="UM.RS", **NIELWEISE2007),
     'rma.glmm(measure = "OR", ai = n7$ai, n1i = n7$n1i, ci = n7$ci, n2i = n7$n2i, model = "UM.RS")', None),
    ("   OR CM.EL ML, k = 18", dict(measure="OR", model="CM.EL", **NIELWEISE2007),
     'rma.glmm(measure = "OR", ai = n7$ai, n1i = n7$n1i, ci = n7$ci, n2i = n7$n2i, model = "CM.EL", '
     'control = list(dnchgcalc = "dnoncenhypergeom"))', None),
    ("   IRR UM.FS ML, k = 9", dict(measure="IRR", **NIELWEISE2008),
     'rma.glmm(measure = "IRR", x1i = n8$x1i, t1i = n8$t1i, x2i = n8$x2i, t2i = n8$t2i)', None),
]

R_SCRIPT = r"""
suppressMessages({library(metafor); library(lme4)})
d <- dat.pritz1997; n7 <- dat.nielweise2007; n8 <- dat.nielweise2008
calls <- jsonlite::fromJSON(commandArgs(TRUE)[1])
reps <- as.integer(commandArgs(TRUE)[2])
out <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
            lme4 = as.character(packageVersion("lme4")), times = list())
for (i in seq_along(calls)) {
  expr <- str2lang(calls[[i]])
  n <- if (grepl("CM.EL", calls[[i]])) 1L else reps
  invisible(suppressWarnings(eval(expr)))  # warm-up
  t <- replicate(n, system.time(suppressWarnings(eval(expr)))[["elapsed"]])
  out$times[[i]] <- median(t)
}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def median_time(fn, repeat: int = 7) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return statistics.median(timer.repeat(repeat=repeat, number=number)) / number


def r_times(reps: int):
    """Median seconds per rma.glmm call for each case, or ``None`` if R/metafor is unavailable."""
    if shutil.which("Rscript") is None:
        return None, "Rscript not found"
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
        path = fh.name
    try:
        proc = subprocess.run(["Rscript", path, json.dumps([c[2] for c in CASES]), str(reps)],
                              capture_output=True, text=True, timeout=1800)
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        return None, "R failed: " + proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "R failed"
    out = json.loads(proc.stdout)
    return out, f"{out['R']}, metafor {out['metafor']}, lme4 {out['lme4']}"


def fmt(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} us"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-r", action="store_true", help="do not time metafor")
    parser.add_argument("--r-reps", type=int, default=20, help="rma.glmm calls per case in R (default 20)")
    args = parser.parse_args(argv)
    print(f"hipacu glmm benchmark: python {platform.python_version()}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}; {platform.processor() or platform.machine()}, {os.cpu_count()} cpus")
    r, r_info = (None, "skipped (--no-r)") if args.no_r else r_times(args.r_reps)
    print(f"metafor: {r_info}")
    print()
    head = f"{'case':<26} {'hipacu':>10} {'target':>9} {'':>7} {'metafor':>10} {'metafor/hipacu':>15}"
    print(head)
    print("-" * len(head))
    missed = []
    for i, (label, kw, _, target) in enumerate(CASES):
        glmm(**kw)  # warm-up
        t = median_time(lambda kw=kw: glmm(**kw))
        verdict = "" if target is None else ("MET" if t <= target else "MISSED")
        if verdict == "MISSED":
            missed.append(label)
        tr = None if r is None else r["times"][i]
        print(f"{label:<26} {fmt(t):>10} {'' if target is None else fmt(target):>9} {verdict:>7} "
              f"{'-' if tr is None else fmt(tr):>10} {'-' if tr is None else f'{tr / t:.0f}x':>15}")
    print()
    print("R timings: system.time() per call (1 ms resolution), median of --r-reps calls (CM.EL: one call).")
    print("All targets met." if not missed else "Targets missed: " + ", ".join(missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
