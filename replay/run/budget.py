"""The cost budget: no request is issued whose projected cost would take the spend past the limit.

Before each request the engine asks to *reserve* its projected cost (input tokens estimated from the
request's size, output tokens from what this provider has produced so far, else from the recording);
the reservation is settled with the real cost when the answer arrives. Spend counts what was paid
for: cached answers are free. Models without a price cannot be budgeted: they are counted and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

DEFAULT_OUTPUT_TOKENS = 256  # before any answer of a provider has been seen and nothing was recorded


def estimate_input_tokens(request: dict[str, object]) -> int:
    """About four characters a token (the request's JSON size); good enough to project a spend."""
    return max(1, len(orjson.dumps(request.get("messages") or request)) // 4)


@dataclass
class Budget:
    """Spend so far, reservations in flight, and the limit (None: unlimited)."""

    limit: float | None = None
    spent: float = 0.0
    reserved: float = 0.0
    exhausted: bool = False
    unpriced_requests: int = 0
    _output_tokens: dict[str, tuple[int, int]] = field(default_factory=dict)  # provider -> (sum, count)

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
        if self.limit is not None and self.spent + self.reserved + projected > self.limit:
            if self.reserved > 0:
                return None
            self.exhausted = True
            return False
        self.reserved += projected
        return True

    def settle(
        self, provider: str, projected: float | None, actual: float | None, output_tokens: int | None
    ) -> None:
        """Replace a reservation by what the request really cost (0 for a cached or failed one)."""
        if projected is not None:
            self.reserved = max(0.0, self.reserved - projected)
        if actual:
            self.spent += actual
        if output_tokens:
            total, count = self._output_tokens.get(provider, (0, 0))
            self._output_tokens[provider] = (total + output_tokens, count + 1)
