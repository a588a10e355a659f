"""Our own failures never reach the application: they are logged on the `bakeoff` logger and swallowed.

Under pytest (or with BAKEOFF_RAISE_INTERNAL_ERRORS=1) they are re-raised, so tests see them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger("bakeoff")
logger.addHandler(logging.NullHandler())


def _raise_internal_errors() -> bool:
    return "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("BAKEOFF_RAISE_INTERNAL_ERRORS") == "1"


def handle_internal_error(what: str) -> None:
    """Call from an `except Exception:` block of bakeoff's own code: log it, or re-raise it in tests."""
    if _raise_internal_errors():
        raise
    logger.warning("bakeoff: internal error while %s (the application is not affected)", what, exc_info=True)


@contextmanager
def internal_errors(what: str) -> Iterator[None]:
    """Run a block of bakeoff's own code: an exception in it is logged, not propagated (except in tests)."""
    try:
        yield
    except Exception:
        handle_internal_error(what)
