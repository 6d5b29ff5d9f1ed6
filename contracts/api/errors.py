"""Every error the API answers, as `application/problem+json` (RFC 9457), translated once.

Ledger errors map to statuses here and nowhere else: not found 404, a broken domain rule
or a version conflict 409 (412 when the caller pinned the version with If-Match), invalid
input 422, a busy ledger 503. Errors Django raises before a view runs (unknown path,
wrong method, body too large, a crash) are turned into the same shape by
`ProblemMiddleware`, so no client ever has to parse an HTML error page.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pydantic
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, UnreadablePostError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from contracts.api.rendering import to_json
from contracts.runtime import SigningKeyMissing
from ledger.errors import (
    ConcurrencyError,
    DatabaseUnavailable,
    FieldError,
    IdempotencyConflict,
    IdempotencyRace,
    InvalidInput,
    LedgerBusy,
    NotFound,
    PositionInFuture,
    ProjectionsStale,
    RuleViolation,
)

logger = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
PROBLEM_BASE = "/api/v1/problems/"
API_PREFIX = "/api/"

TITLES = {
    400: "Malformed request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class Forbidden(Exception):
    """The key lacks the scope (or the binding) an operation needs."""


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded: retry after {retry_after} s")
        self.retry_after = retry_after


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> HttpResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (kind or str(status)),
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = list(errors)
    body.update({k: v for k, v in extra.items() if v is not None})
    response = HttpResponse(to_json(body), status=status, content_type=PROBLEM)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _loc(loc: Sequence[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


LOCATIONS = ("body", "query", "header", "path")


def field_errors(errors: Sequence[FieldError]) -> list[dict[str, Any]]:
    """The domain's field errors, located as the API's own are: a command is built from the
    request body, so a field the domain names without a location is in the body."""
    return [
        {
            "loc": _loc(e.loc if e.loc[:1] and e.loc[0] in LOCATIONS else ("body", *e.loc)),
            "msg": e.msg,
        }
        for e in errors
    ]


_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _clean_loc(loc: Sequence[Any]) -> list[str | int]:
    """pydantic's loc without union-member tags (`constrained-int`, `function-after[...]`);
    query parameters are flat, so theirs is always `["query", name]`; a body field's is
    `["body", field, ...]`, without the view's parameter name that ninja puts second."""
    parts = [p for p in _loc(loc) if isinstance(p, int) or _FIELD_NAME.match(p)]
    if parts and parts[0] == "query":
        return ["query", parts[-1]]
    if parts[:2] == ["body", "body"]:
        return parts[1:]
    return parts


def _pydantic_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"loc": _clean_loc(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in errors]


def _if_match_sent(request: HttpRequest) -> bool:
    return "HTTP_IF_MATCH" in request.META


Handler = Callable[[HttpRequest, Any], HttpResponse]


def refusal(exc: NotFound | RuleViolation) -> HttpResponse:
    """The answer to a request the domain refused: 404, or 409 naming the rule."""
    if isinstance(exc, NotFound):
        return problem(404, str(exc), kind="not-found")
    return problem(
        409, exc.detail, kind=f"rules/{exc.rule}", rule=exc.rule, resource=exc.resource, at=exc.at
    )


def _handlers() -> dict[type[Exception], Handler]:
    def rule(request: HttpRequest, exc: RuleViolation) -> HttpResponse:
        return refusal(exc)

    def conflict(request: HttpRequest, exc: ConcurrencyError) -> HttpResponse:
        if _if_match_sent(request):
            return problem(412, str(exc), kind="precondition-failed")
        return problem(409, str(exc), kind="rules/version_conflict", rule="version_conflict")

    def race(request: HttpRequest, exc: IdempotencyRace) -> HttpResponse:
        return problem(409, str(exc), kind="rules/version_conflict", rule="version_conflict")

    def invalid(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
        return problem(422, str(exc), kind="invalid", errors=field_errors(exc.errors))

    def future(request: HttpRequest, exc: PositionInFuture) -> HttpResponse:
        return problem(
            409,
            str(exc),
            kind="position-in-future",
            errors=[{"loc": ["query", exc.field], "msg": f"past the head ({exc.head})"}],
        )

    def reused_key(request: HttpRequest, exc: IdempotencyConflict) -> HttpResponse:
        return problem(
            422,
            str(exc),
            kind="idempotency-key-reused",
            errors=[{"loc": ["header", "Idempotency-Key"], "msg": "used for another request"}],
        )

    def validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return problem(
            422, "the request is invalid", kind="invalid", errors=_pydantic_errors(exc.errors)
        )

    def model_validation(request: HttpRequest, exc: pydantic.ValidationError) -> HttpResponse:
        if any(tuple(e.get("loc", ()))[:1] == ("response",) for e in exc.errors()):
            return crash(request, exc)  # an answer that breaks its own schema is our bug
        # A command the view built refused a field of the body (path ids are checked
        # before a command is built: `common.path_id`).
        errors = _pydantic_errors(exc.errors())
        for error in errors:
            loc = error["loc"]
            if loc[:1] and loc[0] not in LOCATIONS:
                error["loc"] = ["body", *loc]
        return problem(422, "the request is invalid", kind="invalid", errors=errors)

    def not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
        return refusal(exc)

    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return problem(
            401,
            "a valid API key is required: Authorization: Bearer <key>",
            kind="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )

    def forbidden(request: HttpRequest, exc: Forbidden) -> HttpResponse:
        return problem(403, str(exc), kind="forbidden")

    def limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
        return problem(
            429, str(exc), kind="rate-limited", headers={"Retry-After": str(exc.retry_after)}
        )

    def busy(request: HttpRequest, exc: LedgerBusy) -> HttpResponse:
        return problem(503, str(exc), kind="busy", headers={"Retry-After": "1"})

    def stale(request: HttpRequest, exc: ProjectionsStale) -> HttpResponse:
        return problem(503, str(exc), kind="projections-stale", headers={"Retry-After": "30"})

    def unavailable(request: HttpRequest, exc: DatabaseUnavailable) -> HttpResponse:
        logger.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
        response = problem(503, str(exc), kind="database-unavailable", headers={"Retry-After": "1"})
        response.retry_on_a_fresh_connection = True  # type: ignore[attr-defined]
        return response

    def unsigned(request: HttpRequest, exc: SigningKeyMissing) -> HttpResponse:
        # An operator's fix, not a moment's wait: no Retry-After.
        logger.error("no usable signing key: %s", exc)
        return problem(503, "this service has no usable signing key", kind="signing-key-missing")

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return problem(exc.status_code, str(exc))

    def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return problem(413, "the request body is larger than this service accepts")

    def crash(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "the service failed to answer this request; it has been logged")

    return {
        RuleViolation: rule,
        ConcurrencyError: conflict,
        IdempotencyRace: race,
        IdempotencyConflict: reused_key,
        PositionInFuture: future,
        InvalidInput: invalid,
        NinjaValidationError: validation,
        pydantic.ValidationError: model_validation,
        NotFound: not_found,
        AuthenticationError: unauthenticated,
        Forbidden: forbidden,
        RateLimited: limited,
        LedgerBusy: busy,
        DatabaseUnavailable: unavailable,
        ProjectionsStale: stale,
        SigningKeyMissing: unsigned,
        HttpError: http_error,
        RequestDataTooBig: too_big,
        Exception: crash,
    }


def install(api: NinjaAPI) -> None:
    for exc_class, handler in _handlers().items():
        api.add_exception_handler(exc_class, handler)


NUL = "\x00"


def _nul_refusal(request: HttpRequest) -> HttpResponse | None:
    """No id, filter or cursor holds a NUL character, and PostgreSQL cannot even compare
    one: such a path names nothing (404), such a parameter is invalid (422)."""
    if NUL in request.path:
        return problem(404, "no such resource: the path holds a NUL character")
    invalid = sorted(
        {
            name
            for name, values in request.GET.lists()
            if NUL in name or any(NUL in value for value in values)
        }
    )
    if not invalid:
        return None
    return problem(
        422,
        "a query parameter holds a NUL character",
        kind="invalid",
        errors=[{"loc": ["query", name], "msg": "must not contain NUL"} for name in invalid],
    )


JSON_MEDIA_TYPES = {"application/json", "application/problem+json"}


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _body_refusal(request: HttpRequest) -> HttpResponse | None:
    """A body is JSON, as UTF-8 without a byte-order mark, each object's keys once: which
    duplicate a parser keeps is its own choice, and the idempotency fingerprint must not
    depend on it."""
    if request.method not in ("POST", "PUT", "PATCH") or not request.body:
        return None
    if request.content_type not in JSON_MEDIA_TYPES:
        media = request.content_type or "none"
        return problem(415, f"the body must be application/json, not {media}")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return problem(400, "the body is not UTF-8")
    if text.startswith("\ufeff"):
        return problem(400, "the body starts with a byte-order mark: send UTF-8 without one")
    try:
        json.loads(
            text, object_pairs_hook=_unique_keys, parse_int=str, parse_float=str, parse_constant=str
        )
    except json.JSONDecodeError:
        return None  # malformed JSON: the parser's own 400 says so
    except ValueError as exc:
        return problem(400, f"the body is ambiguous: {exc}")
    return None


class ProblemMiddleware:
    """Under /api/: a body over the limit is refused before it is read (413), and any
    error response Django produced itself (404, 405, 500...) becomes problem+json."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        max_body = int(settings.LEDGER_API_MAX_BODY_BYTES)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return problem(400, "Content-Length is not a number")
        if length > max_body:
            return problem(413, f"the request body is larger than {max_body} bytes")
        try:
            complete = len(request.body) == length
        except UnreadablePostError:
            complete = False
        if not complete:
            # The client stalled past the server's timeout or went away mid-body (gunicorn
            # then hands over the part that came, Django does not check its length): none
            # of it is read as a command, and the connection cannot carry another request.
            return problem(
                408, "the request body did not arrive in full", headers={"Connection": "close"}
            )
        refused = _nul_refusal(request) or _body_refusal(request)
        if refused is not None:
            return refused
        response = self.get_response(request)
        if request.method in ("GET", "HEAD") and getattr(
            response, "retry_on_a_fresh_connection", False
        ):
            # A read whose connection died answers from a fresh one, once: the pool dropped
            # the dead connection. A write is not retried: it answers 503, and since it
            # committed nothing its Idempotency-Key stays free for the client's retry.
            response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith(PROBLEM):
            return self._as_problem(request, response)
        return response

    @staticmethod
    def _as_problem(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        status = response.status_code
        detail = {
            404: f"no such resource: {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
        }.get(status, TITLES.get(status, "error"))
        headers = {"Allow": response["Allow"]} if response.has_header("Allow") else None
        if status == 400:
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                detail = orjson.loads(response.content).get("detail") or detail
        return problem(status, str(detail), headers=headers)
