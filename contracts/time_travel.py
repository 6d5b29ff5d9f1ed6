"""The as-of and known-at boxes of the admin's pages, read as the API reads its query.

Staff may leave out what the page already states: the offset (the boxes say UTC), the
seconds, or the time of day (midnight). Everything else goes through the ledger's own
parsers, so a value the API refuses is refused here with the same reason, and a page never
shows an answer for a question it did not understand.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django import forms

from ledger.types import parse_instant, parse_point_of_knowledge

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_LOCAL = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?$")


def as_rfc3339(text: str) -> str:
    """The page's shorthand written out: `2026-07-01` and `2026-07-01T09:30` (as a
    datetime-local picker sends it) are UTC instants."""
    text = text.strip()
    if _DATE.match(text):
        return f"{text}T00:00:00Z"
    if _LOCAL.match(text):
        return f"{text}:00Z" if text.count(":") == 1 else f"{text}Z"
    return text


class TimeTravelForm(forms.Form):
    as_of = forms.CharField(required=False, label="As of (business time, UTC)")
    known_at = forms.CharField(required=False, label="Known at (position or time, UTC)")

    def clean_as_of(self) -> datetime | None:
        text: str = self.cleaned_data["as_of"]
        if not text.strip():
            return None
        try:
            return parse_instant(as_rfc3339(text))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_known_at(self) -> int | datetime | None:
        text: str = self.cleaned_data["known_at"]
        if not text.strip():
            return None
        try:
            return parse_point_of_knowledge(as_rfc3339(text))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def question(self) -> dict[str, Any] | None:
        """{as_of, known_at} when every box reads as an instant or a position, else None
        (the form then carries the reasons)."""
        if not self.is_valid():
            return None
        return {"as_of": self.cleaned_data["as_of"], "known_at": self.cleaned_data["known_at"]}
