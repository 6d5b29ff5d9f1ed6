"""The capacity-contract ledger: a framework-free event store, domain and projections.

Nothing under this package imports Django; `contracts/` adapts it to HTTP, the admin
and the command line.
"""
