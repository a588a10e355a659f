"""Flags and argument types the replay commands share: a bad value is argparse's one-line exit 2."""

from __future__ import annotations

import argparse


def positive_int(value: str) -> int:
    """A whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None


def positive_float(value: str) -> float:
    """A number above 0."""
    number = _number(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return number


def non_negative_float(value: str) -> float:
    """A number of at least 0 (a margin, a tolerance)."""
    number = _number(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return number


def probability(value: str) -> float:
    """A number strictly between 0 and 1 (a significance level)."""
    number = _number(value)
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return number


def add_format(parser: argparse.ArgumentParser) -> None:
    """`--format text|json|markdown`."""
    parser.add_argument(
        "--format", choices=("text", "json", "markdown"), default="text", help="output format"
    )
