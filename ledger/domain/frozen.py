"""Copying the domain's frozen states with some fields changed, fast.

`dataclasses.replace` runs the class's `__init__` with every field, which for a contract
state (nineteen fields, each set through the frozen class's `object.__setattr__`) was a
tenth of a projection rebuild. The states' `__init__` only stores its fields, so a copy of
the fields is the same object. Only fields are copied: values a state caches for itself
(`functools.cached_property`) belong to the old state and are computed again by the new.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar

T = TypeVar("T")


@functools.cache
def _fields_of(cls: type) -> tuple[frozenset[str], tuple[str, ...], Callable[[Any], Any]]:
    if not dataclasses.is_dataclass(cls) or "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a dataclass with a __dict__")
    if any(f.init is False for f in dataclasses.fields(cls)) or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}.__init__ does more than store its fields")
    names = tuple(f.name for f in dataclasses.fields(cls))
    getter = attrgetter(*names)
    if len(names) == 1:  # attrgetter of one name returns the value, not a tuple
        return frozenset(names), names, lambda state: (getter(state),)
    return frozenset(names), names, getter


def evolved(state: T, /, **changes: Any) -> T:
    """`dataclasses.replace(state, **changes)`, without calling `__init__`."""
    cls: type = type(state)
    names, ordered, values_of = _fields_of(cls)
    if not changes.keys() <= names:
        raise TypeError(f"{cls.__name__} has no field {sorted(changes.keys() - names)[0]!r}")
    values = dict(zip(ordered, values_of(state), strict=True))
    values.update(changes)
    copy: T = object.__new__(cls)
    copy.__dict__.update(values)
    return copy
