"""Organisations, memberships and API keys: the writes of the tenancy layer."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, models, transaction
from django.utils import timezone
from moneyed import CurrencyDoesNotExist, get_currency

from credits_portal.exceptions import AlreadyExists, PortalError
from credits_portal.models import ApiKey, Membership, Organisation, User
from credits_portal.permissions import Role
from credits_portal.signals import organisation_created

API_KEY_PREFIX = "cpk"
# last_used_at is a hint for the admin, not an audit trail: write it at most once a minute.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _first_error(exc: ValidationError) -> tuple[str, str]:
    field, messages = next(iter(exc.message_dict.items()))
    return field, messages[0]


def organisation_create(
    *, slug: str, name: str, currency: str = "USD", country: str = "US", commerce: str = "legacy"
) -> Organisation:
    """A validated organisation and what every organisation has (its credit account), or nothing."""
    organisation = Organisation(
        slug=slug, name=name, currency=currency.upper(), country=country.upper(), commerce=commerce
    )
    try:
        organisation.full_clean(validate_unique=False)
    except ValidationError as exc:
        field, message = _first_error(exc)
        raise PortalError(f"{field}: {message}", field=field) from exc
    try:
        get_currency(organisation.currency)
    except CurrencyDoesNotExist as exc:
        raise PortalError(
            f"currency: {currency!r} is not an ISO 4217 code.", field="currency"
        ) from exc
    with transaction.atomic():
        if Organisation.objects.filter(slug=slug).exists():
            raise AlreadyExists(
                f"An organisation with the slug {slug!r} already exists.", field="slug"
            )
        organisation.save()
        organisation_created.send(sender=Organisation, organisation=organisation)
    return organisation


def membership_grant(
    *, organisation: Organisation, email: str, role: str, password: str | None = None
) -> Membership:
    """Give `email` a role in `organisation`, creating the login when it is new.

    An existing member's role is replaced; a new login without a password must reset it by email.
    """
    if role not in Role.values:
        raise PortalError(f"role: {role!r} is not one of {', '.join(Role.values)}.", field="role")
    email = User.objects.normalize_email(email).strip().lower()
    user = User.objects.filter(email=email).first()
    candidate = user or User(email=email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise PortalError(f"email: {email!r} is not an email address.", field="email") from exc
    if password is not None:
        try:
            validate_password(password, user=candidate)
        except ValidationError as exc:
            raise PortalError(f"password: {' '.join(exc.messages)}", field="password") from exc
    with transaction.atomic():
        if user is None:
            user = User.objects.create_user(email, password)
        elif password is not None:
            user.set_password(password)
            user.save(update_fields=["password"])
        membership, _ = Membership.objects.update_or_create(
            user=user, organisation=organisation, defaults={"role": role}
        )
    return membership


_PREFIX = re.compile(r"[0-9a-f]{12}")


def _hash_secret(secret: str) -> str:
    # surrogatepass: a header cannot carry a lone surrogate, but a caller's string might.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def api_key_create(
    *, organisation: Organisation, name: str, scope: str, created_by: User | None = None
) -> tuple[ApiKey, str]:
    """A new key and its plain text, which is shown once and never stored."""
    if scope not in ApiKey.Scope.values:
        raise PortalError(f"scope: {scope!r} is not one of platform, admin.", field="scope")
    name = name.strip()
    if not name:
        raise PortalError("name: give the key a name.", field="name")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        organisation=organisation,
        prefix=prefix,
        secret_hash=_hash_secret(secret),
        name=name[:100],
        scope=scope,
        created_by=created_by,
    )
    return key, f"{API_KEY_PREFIX}_{prefix}_{secret}"


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    """Revoking twice is quiet; the first revocation time stays."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    return key


def _columns(model: type[models.Model], alias: str) -> tuple[list[str], str]:
    fields = [f.attname for f in model._meta.concrete_fields]
    return fields, ", ".join(f"{alias}.{f.column}" for f in model._meta.concrete_fields)


_KEY_FIELDS, _KEY_SELECT = _columns(ApiKey, "k")
_ORG_FIELDS, _ORG_SELECT = _columns(Organisation, "o")
# Column names from the models, values as parameters.
_ACTIVE_KEY_SQL = f"""
SELECT {_KEY_SELECT}, {_ORG_SELECT}
FROM credits_portal_apikey k JOIN credits_portal_organisation o ON o.id = k.organisation_id
WHERE k.prefix = %s AND k.revoked_at IS NULL
"""  # noqa: S608


def _active_key(prefix: str) -> ApiKey | None:
    # Every API call starts here: one plain query builds the key and its organisation (the ORM
    # spends several times longer composing the same join than PostgreSQL spends running it).
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_KEY_SQL, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_KEY_FIELDS)
    key = ApiKey.from_db(connection.alias, _KEY_FIELDS, row[:split])
    key.organisation = Organisation.from_db(connection.alias, _ORG_FIELDS, row[split:])
    return key


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The active key `raw` stands for, compared in constant time, or None."""
    parts = raw.split("_", 2)
    # A prefix is 12 hex digits (api_key_create): anything else (a NUL above all, which
    # PostgreSQL text cannot hold) is no key, without asking the database.
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not _PREFIX.fullmatch(parts[1]):
        return None
    key = _active_key(parts[1])
    if key is None or not hmac.compare_digest(key.secret_hash, _hash_secret(parts[2])):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
