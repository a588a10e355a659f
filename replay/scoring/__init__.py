"""The plug-in API of scoring: what a metric of your own subclasses, receives and returns.

A metric is a :class:`Metric` subclass (or a plain function ``(completion, case) -> bool | float |
MetricResult``) named in the config by ``module:attr`` or registered by an entry point of the group
``bakeoff.metrics``. Its constructor's keyword arguments are its options in the config.
"""

from bakeoff.replay.scoring.base import (
    NO_ANSWER,
    NO_REFERENCE,
    Metric,
    ScoringContext,
    passed,
    reference_text,
)
from bakeoff.replay.types import Case, Completion, MetricResult, Reference

__all__ = [
    "NO_ANSWER",
    "NO_REFERENCE",
    "Case",
    "Completion",
    "Metric",
    "MetricResult",
    "Reference",
    "ScoringContext",
    "passed",
    "reference_text",
]
