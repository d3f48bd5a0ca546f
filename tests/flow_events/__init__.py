"""Tests of cancel_on, batching and failure hooks (issue 14, items 4-6)."""
