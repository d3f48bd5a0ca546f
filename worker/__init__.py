"""The deployable worker service (``python -m worker``); not installed by the wheel.

All logic lives in ``durable_automation.worker``; this is only the container entry point.
"""
