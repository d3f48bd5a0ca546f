"""pytest plugin (entry point ``durable_automation``); fixtures are added below."""
