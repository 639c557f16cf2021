"""hipacu's exception and warning classes, declared once.

Filter warnings by class (``warnings.simplefilter("error", hipacu.ConvergenceWarning)``), never by
message text; catch the class you expect.
"""

from __future__ import annotations

__all__ = ["ConvergenceError", "ConvergenceWarning", "FewStudiesWarning", "user_stacklevel"]

import sys


class ConvergenceWarning(UserWarning):
    """An iterative estimator stopped before meeting its tolerance; the result carries
    ``converged=False`` and its numbers are the last iterate."""


class FewStudiesWarning(UserWarning):
    """A method needs more studies than an analysis has, so a documented fallback was used
    (e.g. Hartung-Knapp with k = 1 falls back to the z interval, as metafor does)."""


class ConvergenceError(RuntimeError):
    """An iterative estimator could not produce a usable result at all (no last iterate to return)."""


def user_stacklevel() -> int:
    """``stacklevel`` for :func:`warnings.warn` that points at the first frame outside hipacu, so a
    warning names the user's line whatever the depth of the call inside the library."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("hipacu."):
        frame, level = frame.f_back, level + 1
    return level
