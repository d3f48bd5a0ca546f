"""The core: wire types, definitions, the registry, settings, error translation, the
loop bridge and the extension hooks. It imports nothing of the SDK but
``exceptions``; every other layer builds on it (see ARCHITECTURE.md)."""
