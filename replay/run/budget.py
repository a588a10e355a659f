"""The cost budget: no request is issued whose projected cost would take the spend past the limit.

Before each request the engine asks to *reserve* its projected cost (input tokens estimated from the
request's size, output tokens from what this provider has produced so far, else from the recording);
the reservation is settled with the real cost when the answer arrives. Spend counts what was paid
for: cached answers are free. Models without a price cannot be budgeted: they are counted and reported.

Amounts are kept as whole picodollars (Python integers), never as floats: adding and removing the same
reservation in floating point can leave a residue (2.98e-19 USD) that looks like a request in flight,
and every worker would wait forever for it to settle. Whether to wait is decided by the *count* of
reservations in flight, which cannot drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import orjson

DEFAULT_OUTPUT_TOKENS = 256  # before any answer of a provider has been seen and nothing was recorded
_UNITS_PER_USD = 10**12  # picodollars: exact for any price per token a provider publishes


def estimate_input_tokens(request: dict[str, object]) -> int:
    """About four characters a token (the request's JSON size); good enough to project a spend."""
    return max(1, len(orjson.dumps(request.get("messages") or request)) // 4)


def to_units(usd: float) -> int:
    """USD as whole picodollars, rounded up (a reservation never under-counts)."""
    return math.ceil(usd * _UNITS_PER_USD)


@dataclass
class Budget:
    """Spend so far, reservations in flight, and the limit (None: unlimited)."""

    limit: float | None = None
    exhausted: bool = False
    unpriced_requests: int = 0
    in_flight: int = 0  # priced reservations not yet settled
    _spent: int = 0  # picodollars
    _reserved: int = 0  # picodollars
    _output_tokens: dict[str, tuple[int, int]] = field(default_factory=dict)  # provider -> (sum, count)

    @property
    def spent(self) -> float:
        """USD paid so far."""
        return self._spent / _UNITS_PER_USD

    @property
    def reserved(self) -> float:
        """USD reserved by requests in flight."""
        return self._reserved / _UNITS_PER_USD

    def expected_output_tokens(self, provider: str, recorded: int | None) -> int:
        total, count = self._output_tokens.get(provider, (0, 0))
        if count:
            return max(1, total // count)
        return recorded if recorded else DEFAULT_OUTPUT_TOKENS

    def reserve(self, projected: float | None) -> bool | None:
        """Reserve `projected` USD. False: it would pass the limit even with nothing in flight (the budget is
        exhausted from now on); None: it does not fit *yet* — wait for requests in flight to settle."""
        if self.exhausted:
            return False
        if projected is None:
            self.unpriced_requests += 1
            return True
        units = to_units(projected)
        if self.limit is not None and self._spent + self._reserved + units > to_units(self.limit):
            if self.in_flight > 0:
                return None
            self.exhausted = True
            return False
        self._reserved += units
        self.in_flight += 1
        return True

    def settle(
        self, provider: str, projected: float | None, actual: float | None, output_tokens: int | None
    ) -> None:
        """Replace a reservation by what the request really cost (0 for a cached or failed one)."""
        if projected is not None:
            # The same float gives the same units as when it was reserved: the sum returns to exactly 0.
            self._reserved = max(0, self._reserved - to_units(projected))
            self.in_flight = max(0, self.in_flight - 1)
        if actual:
            self._spent += to_units(actual)
        if output_tokens:
            total, count = self._output_tokens.get(provider, (0, 0))
            self._output_tokens[provider] = (total + output_tokens, count + 1)
