"""Small, sourced example data sets shipped with hipacu (package data), for examples and tests.

Every row says where its numbers come from (``source_url``, ``locator``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["bcg", "DATA"]

#: The folder of the packaged CSV files.
DATA = Path(__file__).resolve().parent / "data"


def bcg():
    """The 13 BCG vaccine trials of Colditz et al. (1994), metafor/metadat's ``dat.bcg``.

    One row per trial: ``study`` (a unique label, author and year), ``trial, author, year``, the 2x2
    counts ``tpos, tneg`` (vaccinated: tuberculosis, none) and ``cpos, cneg`` (control), the arm sizes
    ``n1 = tpos + tneg`` and ``n2 = cpos + cneg``, ``ablat`` (absolute latitude of the study
    location, degrees), ``alloc`` (allocation as printed: random, alternate, systematic), ``design``
    (``rct`` where ``alloc`` is random, else ``quasi_randomised``, as ``tests/data/bcg/README.md``
    defines it), ``source_url`` and ``locator``.

    Source: the JASP data library's copy of ``dat.bcg``
    (https://raw.githubusercontent.com/jasp-stats/jasp-data-library/main/BCG%20Vaccine/BCG%20Vaccine.csv),
    identical to metadat 1.2.0's ``dat.bcg``; Colditz GA et al., JAMA 1994;271:698-702.
    """
    import pandas as pd

    return pd.read_csv(DATA / "bcg.csv")
