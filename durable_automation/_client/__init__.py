"""The client: the engine (start runs, send signals, route events), ``Run`` handles and
the connection. Imports only the core (see ARCHITECTURE.md)."""
