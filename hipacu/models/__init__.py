"""Models: numpy/scipy only. Every result satisfies :class:`hipacu.models.protocol.SummaryEstimate`."""
