"""Wall time of `hipacu report` (every analysis, every notebook, every figure) on this machine.

Run from the repository root with the project installed (`pip install -e '.[notebooks]'`):

    python benchmarks/bench_report.py [--runs 3] [--jobs 2]

Prints the median wall time of the whole command over ``--runs`` runs, against the target of
60 s on a 2-core machine. Measured by the command, never by a timed test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_S = 60.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    times = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "hipacu.cli", "report", "--out", out, "--jobs", str(args.jobs)],
                           check=True, capture_output=True)
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    status = "MET" if med <= TARGET_S else f"MISSED ({med / TARGET_S:.1f}x)"
    print(f"hipacu report --jobs {args.jobs}: median {med:.1f} s over {args.runs} runs "
          f"(runs: {', '.join(f'{x:.1f}' for x in times)}); target <= {TARGET_S:.0f} s: {status}")


if __name__ == "__main__":
    main()
