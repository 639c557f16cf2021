"""Priors for :func:`hipacu.bayes`: ``hipacu.priors.half_normal(0.5)`` etc.

The definitions live in :mod:`hipacu.models.priors`; this module re-exports them under the
short public name.
"""

from hipacu.models.priors import *  # noqa: F401,F403
from hipacu.models.priors import __all__  # noqa: F401
