"""The decide half of the domain: `decide_<command>(state..., command, now) -> Decided`.

One module per aggregate a command changes. Each function is pure: it is handed the
states a handler loaded (None where nothing was found), the command and the instant
that counts as now, and returns the events to append or raises a typed refusal. It reads
no clock, no database and no randomness (generated ids are passed in).
"""
