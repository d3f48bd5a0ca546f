"""Fixtures for the Django integration tests.

Tests that forward events need committed transactions (the ``outbox`` fixture gives
a transactional database and waits for the background dispatcher before the
database is flushed, so no thread writes into a table being emptied).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from django_integration._dispatcher import dispatcher
from django_integration.outbox import flush


@pytest.fixture
def outbox(transactional_db: None) -> Iterator[None]:
    """A transactional test database; forwarding is drained before it is flushed."""
    dispatcher.resume()
    yield
    assert flush(30), "the dispatcher did not finish forwarding within 30s"
    dispatcher.resume()


@pytest.fixture
def no_forwarding(outbox: None) -> Iterator[None]:
    """Committed events stay in the outbox (no Temporal needed; nothing reaches a server)."""
    dispatcher.pause()
    yield
    dispatcher.resume()
