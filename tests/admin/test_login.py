"""The admin login: throttled per username and address (django-axes), and a `next` that
leaves the site lands on the admin index."""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client

LOGIN = "/admin/login/"


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("ops", password="right-password", is_staff=True)


def attempt(client: Client, password: str, **extra: Any) -> Any:
    return client.post(LOGIN, {"username": "ops", "password": password, "next": "/admin/"}, **extra)


def test_the_login_locks_after_the_failure_limit_even_for_the_right_password(
    staff: User, settings: Any
) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "wrong").status_code == 200  # the form again, with its error
    assert attempt(client, "wrong").status_code == 429  # the last failure locks
    assert attempt(client, "right-password").status_code == 429
    assert "_auth_user_id" not in client.session
    [locked] = AccessAttempt.objects.all()
    assert locked.username == "ops"
    assert locked.failures_since_start > settings.AXES_FAILURE_LIMIT  # the refused login too


def test_a_lockout_holds_for_that_address_only(staff: User, settings: Any) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(Client(), "wrong", REMOTE_ADDR="10.0.0.9")
    assert attempt(Client(), "right-password", REMOTE_ADDR="10.0.0.9").status_code == 429
    elsewhere = attempt(Client(), "right-password", REMOTE_ADDR="10.0.0.10")
    assert (elsewhere.status_code, elsewhere["Location"]) == (302, "/admin/")


def test_lockouts_are_listed_in_the_admin(staff: User, settings: Any) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(Client(), "wrong")
    root = Client()
    root.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    page = root.get("/admin/axes/accessattempt/")
    assert page.status_code == 200
    assert "ops" in page.content.decode()


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", ""])
def test_a_next_that_leaves_the_site_lands_on_the_admin_index(staff: User, next_url: str) -> None:
    response = Client().post(
        LOGIN, {"username": "ops", "password": "right-password", "next": next_url}
    )
    assert (response.status_code, response["Location"]) == (302, "/admin/")
