"""A body is JSON in UTF-8, each key once: anything else is refused before it is read as
data (415 for another media type, 400 otherwise), and nothing is written."""

from __future__ import annotations

import pytest
from django.test import Client

from ledger.unit_of_work import Ledger
from tests.api.conftest import API, ApiClient, problem

PARTY = '{"id": "acme", "name": "Acme", "roles": ["tenant"]}'


def post(admin: ApiClient, body: bytes, **kwargs: str) -> object:
    client: Client = admin.client
    return client.generic("POST", API + "/parties", body, **kwargs)


@pytest.mark.parametrize("media", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_of_another_media_type_is_415(demo: Ledger, admin: ApiClient, media: str) -> None:
    head = demo.head()
    refused = problem(post(admin, PARTY.encode(), content_type=media), 415)
    assert "application/json" in refused["detail"]
    assert demo.head() == head


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (PARTY.encode("utf-16"), "the body is not UTF-8"),
        (
            PARTY.encode("utf-8-sig"),
            "the body starts with a byte-order mark: send UTF-8 without one",
        ),
        (
            b'{"id": "acme", "name": "Acme", "name": "Evil", "roles": ["tenant"]}',
            "the body is ambiguous: the key 'name' appears twice in one object",
        ),
        (
            b'{"id": "acme", "name": "Acme", "roles": ["tenant"], "x": {"a": 1, "a": 2}}',
            "the body is ambiguous: the key 'a' appears twice in one object",
        ),
    ],
)
def test_a_body_that_is_not_plain_utf8_json_is_400(
    demo: Ledger, admin: ApiClient, body: bytes, detail: str
) -> None:
    head = demo.head()
    refused = problem(post(admin, body, content_type="application/json"), 400)
    assert refused["detail"] == detail
    assert demo.head() == head


def test_a_json_body_with_a_charset_parameter_is_read(demo: Ledger, admin: ApiClient) -> None:
    created = post(admin, PARTY.encode(), content_type="application/json; charset=utf-8")
    assert created.status_code == 201, created.content  # type: ignore[attr-defined]


class BodyCutShort:
    """A request body whose client went away (or stalled past the server's timeout) before
    sending what its Content-Length promised: the WSGI server's read raises."""

    def read(self, *args: object) -> bytes:
        raise OSError("client disconnected before the body was complete")

    readline = read


def test_a_body_that_never_arrives_in_full_is_408(demo: Ledger, admin: ApiClient) -> None:
    head = demo.head()
    client: Client = admin.client
    cut_short = client.generic(
        "POST",
        API + "/parties",
        PARTY.encode(),
        content_type="application/json",
        **{"wsgi.input": BodyCutShort()},  # type: ignore[arg-type]
    )
    refused = problem(cut_short, 408)
    assert refused["detail"] == "the request body did not arrive in full"
    assert cut_short["Connection"] == "close"
    assert demo.head() == head
