"""The database, as the ledger speaks to it: the engine factory (`engine`), what differs
between SQLite and PostgreSQL (`dialect`, `types`), the event store's statements
(`events`) and the driver-level fast path (`driver`). No module outside this package
compares dialect names."""
