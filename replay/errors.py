"""The exceptions of replay.

BakeoffError
└── ReplayError                 anything replay refuses or fails at
    ├── UntranslatableError     a recorded request cannot be expressed on the target API (skipped, counted)
    ├── ProviderError           a provider's failure: status, retryable, retry-after
    │   └── BadResponseError    an answer that is not a valid answer of its API (retried once at most)
    └── BudgetExhausted         the next request would pass `--cost-limit`: nothing more is sent
"""

from __future__ import annotations

from bakeoff.errors import BakeoffError


class ReplayError(BakeoffError):
    """Base class of replay's errors."""


class UntranslatableError(ReplayError):
    """The request uses something the target API cannot express; `reason` says what."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderError(ReplayError):
    """A provider's failure, with what the retry logic needs to know."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        error_type: str = "ProviderError",
        retry_limit: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after
        self.error_type = error_type
        self.retry_limit = retry_limit  # at most this many retries of this failure (None: the caller's)


class BadResponseError(ProviderError):
    """An answer that is not a valid answer: not JSON, not UTF-8, the wrong shape, a stream without its end.

    `error_type` is "BadResponse", or "IncompleteStream" for a stream that stopped before its end marker.
    Retried once: a proxy's error page or a cut connection may be passing; a provider that keeps
    answering garbage is not asked again and again.
    """

    def __init__(
        self, reason: str, *, status_code: int | None = None, error_type: str = "BadResponse"
    ) -> None:
        super().__init__(
            reason, status_code=status_code, retryable=True, retry_limit=1, error_type=error_type
        )
        self.reason = reason


class BudgetExhausted(ReplayError):
    """The next request would take the spend past `--cost-limit`; nothing more is sent."""
