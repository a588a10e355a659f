"""The exceptions of replay.

BakeoffError
└── ReplayError                 anything replay refuses or fails at
    ├── UntranslatableError     a recorded request cannot be expressed on the target API (skipped, counted)
    ├── ProviderError           a provider's failure: status, retryable, retry-after
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
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after
        self.error_type = error_type


class BudgetExhausted(ReplayError):
    """The next request would take the spend past `--cost-limit`; nothing more is sent."""
