"""hipacu's exception and warning classes, declared once.

Filter warnings by class (``warnings.simplefilter("error", hipacu.ConvergenceWarning)``), never by
message text; catch the class you expect.
"""

from __future__ import annotations

__all__ = ["ConvergenceError", "ConvergenceWarning"]


class ConvergenceWarning(UserWarning):
    """An iterative estimator stopped before meeting its tolerance; the result carries
    ``converged=False`` and its numbers are the last iterate."""


class ConvergenceError(RuntimeError):
    """An iterative estimator could not produce a usable result at all (no last iterate to return)."""
