"""Fixtures of the operations tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.operations.automations import FIXED


@pytest.fixture
def buggy_code() -> Iterator[None]:
    """The operations automations as first deployed, bugs in (a test "deploys" fixes by
    setting ``FIXED``), before and after the test."""
    FIXED.update(notify=False, charge=False)
    yield
    FIXED.update(notify=False, charge=False)
