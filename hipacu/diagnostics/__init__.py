"""Diagnostics: small-study tests, trim-and-fill, funnel contours, leave-one-out, cumulative and influence (numpy/scipy only)."""
