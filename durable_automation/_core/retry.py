"""``Retry``: how often and how far apart a failing step is tried again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy

from ..exceptions import DefinitionError

__all__ = ["Retry"]


@dataclass(frozen=True)
class Retry:
    """Retry policy for a step or handler; maps onto Temporal's activity retry policy.

    Attributes:
        max_attempts: Total attempts, the first included (``1`` = never retry).
        base_delay: Delay before the second attempt.
        backoff: Each further delay is the previous one times this.
        max_delay: Cap on the delay between attempts (``None`` = no cap).
    """

    max_attempts: int = 3
    base_delay: timedelta = timedelta(seconds=1)
    backoff: float = 2.0
    max_delay: timedelta | None = None

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            problems.append(f"max_attempts must be an integer >= 1, got {self.max_attempts!r}")
        if not isinstance(self.base_delay, timedelta) or self.base_delay <= timedelta(0):
            problems.append(f"base_delay must be a positive timedelta, got {self.base_delay!r}")
        if not isinstance(self.backoff, (int, float)) or self.backoff < 1:
            problems.append(f"backoff must be a number >= 1, got {self.backoff!r}")
        if self.max_delay is not None and (
            not isinstance(self.max_delay, timedelta) or self.max_delay < self.base_delay
        ):
            problems.append(f"max_delay must be a timedelta >= base_delay, got {self.max_delay!r}")
        if problems:
            raise DefinitionError("Retry", problems)

    def to_policy(self) -> RetryPolicy:
        """The equivalent Temporal retry policy."""
        return RetryPolicy(
            initial_interval=self.base_delay,
            backoff_coefficient=float(self.backoff),
            maximum_interval=self.max_delay,
            maximum_attempts=self.max_attempts,
        )
