"""The JSON API frame: `/api/v1/`, Bearer keys, problem+json errors and `Idempotency-Key`.

django-ninja gives typed request/response schemas from pydantic and the OpenAPI document that
`/api/v1/openapi.json` serves and schemathesis can fuzz, with no serializer layer to maintain.
The apps add their routers in `credits_portal/urls.py`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern
from django.utils import timezone
from ninja import NinjaAPI, Router, Schema
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.security import HttpBearer

from credits_portal.api_input import (
    CLEAN_PATTERN,
    CONTROL_MESSAGE,
    UNICODE_MESSAGE,
    CursorInvalid,
    cursor_decode,
    cursor_encode,
    request_problem,
    text_problem,
)
from credits_portal.exceptions import PortalError
from credits_portal.models import ApiKey, IdempotencyKey
from credits_portal.services import api_key_authenticate

PROBLEM_CONTENT_TYPE = "application/problem+json"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    code: str | None = None,
    errors: dict[str, list[str]] | None = None,
) -> JsonResponse:
    """An RFC 9457 problem document; `code` names the problem type (`no_seats`, …)."""
    body: dict[str, Any] = {
        "type": f"urn:credits-portal:problem:{code}" if code else "about:blank",
        "title": title,
        "status": status,
        "detail": detail or title,
    }
    if errors is not None:
        body["errors"] = errors
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


class ApiProblem(Exception):
    """Raise from an endpoint to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.kwargs = status, title, detail, kwargs


class KeyAuth(HttpBearer):
    """A Bearer key of this organisation; a key of the wrong scope is a 403, not a 401."""

    openapi_scheme = "bearer"

    def __init__(self, *scopes: str) -> None:
        super().__init__()
        self.scopes = scopes

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = getattr(request, "api_key", None) or api_key_authenticate(token)
        if key is None:
            return None
        if key.scope not in self.scopes:
            wanted = " or ".join(self.scopes)
            raise AuthorizationError(message=f"This endpoint needs a key with the {wanted} scope.")
        request.api_key = key
        request.organisation = key.organisation
        return key


admin_auth = KeyAuth("admin")
platform_auth = KeyAuth("platform")
any_key_auth = KeyAuth("admin", "platform")


def _field_name(loc: list[Any]) -> str:
    # ninja locates errors as ["body", "payload", "field", …]; the client knows only "field".
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "payload", "data")]
    return ".".join(parts) or "body"


def _message(error: dict[str, Any]) -> str:
    # pydantic's words for the edge's two text rules name its regex; say what is wrong instead.
    if error.get("type") == "string_unicode":
        return UNICODE_MESSAGE
    if (
        error.get("type") == "string_pattern_mismatch"
        and (error.get("ctx") or {}).get("pattern") == CLEAN_PATTERN
    ):
        return CONTROL_MESSAGE
    return str(error.get("msg", ""))


def errors_detail(errors: dict[str, list[str]]) -> str:
    """One sentence naming every invalid field and why: `detail` of a 422 (the `errors` object
    holds the same by field)."""
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())


def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        errors.setdefault(_field_name(list(error.get("loc", []))), []).append(_message(error))
    return problem(422, "Invalid values", errors_detail(errors), code="validation", errors=errors)


def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = problem(
        401, "Unauthorized", "Send a valid API key as `Authorization: Bearer <key>`."
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


def _too_large(request: HttpRequest, exc: Exception) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return problem(413, "Request body too large", f"At most {limit} bytes.", code="too_large")


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, RequestDataTooBig):
        return _too_large(request, exc)
    if exc.status_code == 400:
        return problem(400, "Malformed request", "The body is not valid JSON.", code="malformed")
    return problem(exc.status_code, str(exc))


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem(404, "Not found", "No such object in this organisation.")


def _api_problem(request: HttpRequest, exc: ApiProblem) -> HttpResponse:
    return problem(exc.status, exc.title, exc.detail, **exc.kwargs)


def _portal_error(request: HttpRequest, exc: PortalError) -> HttpResponse:
    if exc.conflict:
        # A domain error may name its problem type (`credit_limit_exceeded`, …).
        return problem(409, "Conflict", exc.message, code=getattr(exc, "code", None) or "conflict")
    errors = getattr(exc, "errors", None) or ({exc.field: [exc.message]} if exc.field else None)
    detail = errors_detail(errors) if errors and len(errors) > 1 else exc.message
    return problem(422, "Invalid values", detail, code="validation", errors=errors)


PROBLEM_SCHEMA = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "For a 422: every invalid field (not only the first) with its"
            " messages; `detail` names them all in one line.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "examples": [
        {
            "type": "urn:credits-portal:problem:validation",
            "title": "Invalid values",
            "status": 422,
            "detail": "type: Input should be 'outbound', 'conference_dial_out' or"
            " 'toll_free_dial_in'; to: '+1' is not an E.164 number.",
            "errors": {
                "type": [
                    "Input should be 'outbound', 'conference_dial_out' or 'toll_free_dial_in'"
                ],
                "to": ["'+1' is not an E.164 number."],
            },
        }
    ],
}
ERROR_STATUSES = {
    "400": "Malformed request (not JSON)",
    "401": "No key, or a bad or revoked key",
    "403": "The key lacks the scope",
    "404": "Not found in this organisation",
    "409": "Conflicts with the current state",
    "413": "Request body too large",
    "422": "Invalid values, with `errors` by field",
}


def invalid(field: str, message: str) -> ApiProblem:
    """A 422 naming one field."""
    return ApiProblem(422, "Invalid values", message, code="validation", errors={field: [message]})


def invalid_all(errors: dict[str, list[str]]) -> ApiProblem:
    """A 422 naming every invalid field: `errors` by field, `detail` all of them in one line (a
    single field's message alone, as `invalid` says it)."""
    if len(errors) == 1 and len(messages := next(iter(errors.values()))) == 1:
        return invalid(next(iter(errors)), messages[0])
    return ApiProblem(
        422, "Invalid values", errors_detail(errors), code="validation", errors=errors
    )


class FieldErrors:
    """Every invalid field of one request body, gathered before anything is refused, so that a
    422 names them all (not only the first one checked)."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def check(self, field: str, clean: Callable[[], Any]) -> Any:
        """`clean()`, or None with its PortalError's message noted under `field` (the API's name
        for it), or under each field of the error's own `errors` when it checked several."""
        try:
            return clean()
        except PortalError as exc:
            if exc.conflict:
                raise
            for name, messages in (getattr(exc, "errors", None) or {}).items():
                self.errors.setdefault(name, []).extend(messages)
            if not getattr(exc, "errors", None):
                self.add(field, exc.message)
            return None

    def raise_any(self) -> None:
        if self.errors:
            raise invalid_all(self.errors)


def cursor_read(cursor: str, parse: Callable[[str], Any]) -> Any:
    """`parse` of a cursor this API gave (`api_input.cursor_decode`); a 422 naming `cursor` for
    anything else."""
    try:
        return cursor_decode(cursor, parse)
    except CursorInvalid:
        raise invalid("cursor", "Not a cursor this API gave.") from None


Row = TypeVar("Row")
Position = TypeVar("Position")


def cursor_page(
    rows: QuerySet[Row],
    *,
    cursor: str | None,
    limit: int,
    max_limit: int,
    parse: Callable[[str], Position],
    after: Callable[[QuerySet[Row], Position], QuerySet[Row]],
    position: Callable[[Row], str],
) -> tuple[list[Row], str | None]:
    """A page of `limit` of `rows` (ordered as the cursor runs) and the `next_cursor` when more
    follow. A `limit` outside 1..`max_limit` is a 422 naming `limit`; the cursor is read with
    `parse` (a 422 naming `cursor` for one this API did not give), `after(rows, it)` keeps what
    follows it, and `position(row)` is the text the next cursor holds."""
    if not 1 <= limit <= max_limit:
        raise invalid("limit", f"Between 1 and {max_limit}.")
    if cursor:
        rows = after(rows, cursor_read(cursor, parse))
    page = list(rows[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return page, cursor_encode(position(page[-1])) if more else None


def _guarded(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Every path and query value is checked before auth, parsing or the database see it."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        errors = request_problem(request, kwargs)
        if errors:
            return problem(
                422,
                "Invalid values",
                "Some path or query values hold control characters or are too long.",
                code="validation",
                errors=errors,
            )
        return view(request, *args, **kwargs)

    return guarded


class ProblemAPI(NinjaAPI):
    """Declares the problem+json error responses every operation can give in the schema, and
    checks every path and query value at the edge (`api_input.request_problem`)."""

    def _get_urls(self) -> list:
        urls = super()._get_urls()
        for pattern in urls:
            if isinstance(pattern, URLPattern):
                pattern.callback = _guarded(pattern.callback)
        return urls

    def get_openapi_schema(self, **kwargs: Any):
        schema = super().get_openapi_schema(**kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        problem_content = {
            PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
        for path_item in schema["paths"].values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                for code, description in ERROR_STATUSES.items():
                    responses[code] = {"description": description, "content": problem_content}
        return schema


def build_api(**kwargs: Any) -> NinjaAPI:
    """A NinjaAPI that answers every error as problem+json, and says so in its schema."""
    built = ProblemAPI(**kwargs)
    for exc_class, handler in [
        (ValidationError, _validation_error),
        (AuthenticationError, _authentication_error),
        (HttpError, _http_error),
        (RequestDataTooBig, _too_large),
        (Http404, _not_found),
        (ApiProblem, _api_problem),
        (PortalError, _portal_error),
    ]:
        built.add_exception_handler(exc_class, handler)
    return built


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.path, request.body):
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _replay(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body), status=record.status_code, content_type=record.content_type
    )
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`Idempotency-Key` for one endpoint: `@decorate_view(idempotent)` under the route.

    A key is the API key's own: the same key from the same API key with the same body answers
    the first response again without running anything; with another body it is a 409. Requests
    with the same key are serialised by an advisory lock, and the operation and the stored
    response commit together, so a crash leaves neither. 5xx responses are not kept (the client
    may retry them), nor 401/403 (what a key may not do is not an answer to replay).
    """
    return _idempotent(run, atomic=True)


def idempotent_gateway(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`Idempotency-Key` for an endpoint that calls a payment gateway: as `idempotent`, but the
    operation runs outside the key's transaction (no network I/O inside a transaction: a rollback
    after the gateway charged would forget the charge). The operation must itself be idempotent
    by the key (`idempotency_token`), so a crash before its response was stored repeats it and it
    finds what it already did."""
    return _idempotent(run, atomic=False)


IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d1c2e-3a55-4c0e-9b8e-5d1f3e7a9c41")
# Answers that say the key may not do this: storing them would replay a refusal to a key that
# may (finding 7 of issue 14), so they are never kept.
NOT_STORED = {401, 403}


def idempotency_token(request: HttpRequest) -> uuid.UUID:
    """A token naming this request's operation: the same for every retry with the same
    `Idempotency-Key` from the same API key, new for a request without one."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        return uuid.uuid4()
    return uuid.uuid5(
        IDEMPOTENCY_NAMESPACE, f"{request.organisation.pk}:{request.api_key.pk}:{key}"
    )


def _key_problem(key_text: str) -> HttpResponse | None:
    message = text_problem(key_text, 255)
    if message is None:
        return None
    return problem(
        400,
        "Invalid Idempotency-Key",
        f"Idempotency-Key: {message}",
        code="validation",
        errors={IDEMPOTENCY_HEADER: [message]},
    )


def _idempotent(run: Callable[..., HttpResponse], *, atomic: bool) -> Callable[..., HttpResponse]:
    @wraps(run)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key_text = request.headers.get(IDEMPOTENCY_HEADER)
        if not key_text:
            return run(request, *args, **kwargs)
        refused = _key_problem(key_text)
        if refused is not None:
            return refused
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        api_key = api_key_authenticate(token) if token else None
        if api_key is None:
            return run(request, *args, **kwargs)  # the endpoint's own auth answers 401
        try:
            fingerprint = _fingerprint(request)
        except RequestDataTooBig as exc:
            return _too_large(request, exc)
        request.api_key = api_key
        organisation = api_key.organisation
        scope = {"organisation": organisation, "api_key": api_key, "key": key_text}
        lock_id = int.from_bytes(
            hashlib.sha256(f"{organisation.pk}:{api_key.pk}:{key_text}".encode()).digest()[:8],
            "big",
            signed=True,
        )

        def once() -> HttpResponse:
            fresh_after = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
            IdempotencyKey.objects.filter(**scope, created_at__lt=fresh_after).delete()
            record = IdempotencyKey.objects.filter(**scope).first()
            if record is not None:
                if record.fingerprint != fingerprint:
                    return problem(
                        409,
                        "Idempotency-Key reused",
                        "This Idempotency-Key was used with another request.",
                        code="idempotency_key_reused",
                    )
                return _replay(record)
            response = run(request, *args, **kwargs)
            # 5xx: the client may retry. 401/403: what the key may not do is not its answer.
            if response.status_code < 500 and response.status_code not in NOT_STORED:
                IdempotencyKey.objects.create(
                    **scope,
                    fingerprint=fingerprint,
                    status_code=response.status_code,
                    response_body=response.content,
                    content_type=response.get("Content-Type", "application/json"),
                )
            return response

        if atomic:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])
                return once()
        # The session's lock, held across the operation's own transactions; a connection that
        # dies releases it.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [lock_id])
        try:
            return once()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])

    return wrapped


def idempotency_keys_purge() -> int:
    """Forget responses older than the replay window (IDEMPOTENCY_KEY_TTL_HOURS)."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


class OrganisationOut(Schema):
    slug: str
    name: str
    currency: str
    country: str
    commerce: str
    scope: str


router = Router(tags=["organisation"])


@router.get("/organisation", response=OrganisationOut, auth=any_key_auth)
def organisation_detail(request: HttpRequest) -> dict[str, str]:
    """The organisation the key belongs to, and the key's scope. Either scope may ask."""
    organisation = request.organisation
    return {
        "slug": organisation.slug,
        "name": organisation.name,
        "currency": str(organisation.currency),
        "country": organisation.country.code,
        "commerce": organisation.commerce,
        "scope": request.api_key.scope,
    }


api = build_api(
    title="credits_portal API",
    version="1",
    description="Prepaid communications credits: accounts, licenses, call authorization and usage.",
    openapi_url="/openapi.json",
    docs_url="/docs",
    urls_namespace="api",
)
api.add_router("", router)
