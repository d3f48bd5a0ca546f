"""Suite-wide configuration. Fixtures come from the package's pytest plugin
(``time_machine``, ``temporal_dev_server``, ``dev_worker``); helpers live in ``tests/helpers``."""
