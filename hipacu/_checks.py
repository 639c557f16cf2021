"""Argument checking at the library boundary, declared once.

Every public numeric function converts its inputs with these helpers, so a bad value always
raises :class:`ValueError` naming the argument, the offending index and what is allowed.
Nothing here clips, drops or replaces a value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["as_1d", "check_same_length", "check_choice", "check_level", "check_flag", "check_model_options",
           "frozen_array", "format_p", "format_p_text", "two_by_two", "check_test",
           "TESTS", "PI_METHODS", "check_number"]


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.ravel())[0])


def as_1d(
    values: Any,
    name: str,
    *,
    positive: bool = False,
    nonnegative: bool = False,
    integer: bool = False,
    min_value: float | None = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """Return ``values`` as a finite 1-D float array, or raise ``ValueError``.

    Parameters
    ----------
    values : array-like
        Numbers; a scalar is treated as one study.
    name : str
        Argument name used in the error message.
    positive, nonnegative : bool
        Require ``> 0`` or ``>= 0``.
    integer : bool
        Require whole numbers (counts).
    min_value : float, optional
        Require ``>= min_value``.
    """
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers; got {values!r:.80}") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty; at least one study is needed")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"{name}[{i}] is {arr[i]}; only finite numbers are allowed")
    if positive and (arr <= 0).any():
        i = _first_bad(arr <= 0)
        raise ValueError(f"{name}[{i}] is {arr[i]:g}; it must be > 0")
    if nonnegative and (arr < 0).any():
        i = _first_bad(arr < 0)
        raise ValueError(f"{name}[{i}] is {arr[i]:g}; it must be >= 0")
    if min_value is not None and (arr < min_value).any():
        i = _first_bad(arr < min_value)
        raise ValueError(f"{name}[{i}] is {arr[i]:g}; it must be >= {min_value:g}")
    if integer and (arr != np.round(arr)).any():
        i = _first_bad(arr != np.round(arr))
        raise ValueError(f"{name}[{i}] is {arr[i]:g}; it must be a whole number (a count)")
    return arr


def check_same_length(**arrays: np.ndarray) -> int:
    """Raise ``ValueError`` unless all arrays have the same length; return it.

    A length-1 array is *not* broadcast: every study needs its own value.
    """
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        listing = ", ".join(f"{n} has {k}" for n, k in lengths.items())
        raise ValueError(f"arguments must have one value per study; {listing}")
    return next(iter(lengths.values()))


def check_number(value: Any, name: str, *, positive: bool = False) -> float:
    """One finite number (``> 0`` with ``positive``), or ``ValueError`` naming the argument and what is allowed."""
    need = "a finite number > 0" if positive else "a finite number"
    try:
        x = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r} is not allowed; it must be {need}") from exc
    if not math.isfinite(x) or (positive and x <= 0):
        raise ValueError(f"{name}={value!r} is not allowed; it must be {need}")
    return x


def check_choice(value: Any, name: str, allowed: Iterable[str]) -> str:
    """Raise ``ValueError`` listing the allowed values unless ``value`` is one of them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")
    return value


def check_level(level: Any, name: str = "level") -> float:
    """Confidence level strictly between 0 and 1 (0.95, not 95)."""
    try:
        lev = float(level)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number between 0 and 1, e.g. 0.95; got {level!r}") from exc
    if not (0.0 < lev < 1.0):
        raise ValueError(f"{name}={level!r} is not allowed; it must be between 0 and 1 (e.g. 0.95, not 95)")
    return lev


def check_flag(value: Any, name: str) -> bool:
    """``True``/``False`` (numpy booleans too), or ``ValueError`` naming the argument."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} is not allowed; use True or False")
    return bool(value)


def check_model_options(method: Any, knha: Any, level: Any, methods: Iterable[str]) -> tuple[str, bool, float]:
    """The ``method``, ``knha`` and ``level`` arguments shared by every model-fitting function."""
    return check_choice(method, "method", methods), check_flag(knha, "knha"), check_level(level)


#: Interval / test choices of inverse-variance models (metafor ``test``).
TESTS = ("z", "t", "knha", "adhoc")
#: Prediction-interval methods: metafor's (the CI's critical value) and Higgins, Thompson &
#: Spiegelhalter 2009 (t on k - 2 df; Cochrane Handbook 10.10.4.3, RevMan, R meta's "HTS").
PI_METHODS = ("metafor", "HTS")


def check_test(test: Any, knha: Any) -> str:
    """The interval choice from ``test`` and the older ``knha`` flag (``knha=True`` means ``"knha"``)."""
    knha = check_flag(knha, "knha")
    if test is None:
        return "knha" if knha else "z"
    test = check_choice(test, "test", TESTS)
    if knha and test != "knha":
        raise ValueError(f"knha=True conflicts with test={test!r}; give one of them (knha=True is test='knha')")
    return test


# --------------------------------------------------------------------------- result helpers


def frozen_array(values: Any, dtype=float) -> np.ndarray:
    """A read-only copy, for the array fields of frozen result objects."""
    a = np.array(values, dtype=dtype)
    a.setflags(write=False)
    return a


def format_p(p: float) -> str:
    """A p-value as metafor prints it: ``< .0001`` or four decimals."""
    return "< .0001" if p < 1e-4 else f"{p:.4f}"


def format_p_text(p: float) -> str:
    """A p-value as a sentence fragment: ``p < 0.0001`` below 0.0001, else ``p = 0.0123`` (never
    ``p = < .0001``)."""
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def two_by_two(events1, total1, events2, total2):
    """Checked 2×2 cells ``(a, b, c, d)`` per study from events and totals per arm (events <= total)."""
    a = as_1d(events1, "events1", nonnegative=True, integer=True)
    n1 = as_1d(total1, "total1", integer=True, min_value=1)
    c = as_1d(events2, "events2", nonnegative=True, integer=True)
    n2 = as_1d(total2, "total2", integer=True, min_value=1)
    check_same_length(events1=a, total1=n1, events2=c, total2=n2)
    for ev, tot, en, tn in ((a, n1, "events1", "total1"), (c, n2, "events2", "total2")):
        if (ev > tot).any():
            i = int(np.flatnonzero(ev > tot)[0])
            raise ValueError(f"{en}[{i}] = {ev[i]:g} exceeds {tn}[{i}] = {tot[i]:g}; events must be <= total")
    return a, n1 - a, c, n2 - c
