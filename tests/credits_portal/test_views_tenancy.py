"""Every portal URL: anonymous → login, roles → the permission matrix, another tenant → 404.

The table below must name every URL pattern of the portal, so a new page cannot be added
without saying who may open it and proving that another organisation's objects stay hidden.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from billing.models import Card, Payment
from billing.services.agreements import agreement_register
from billing.services.cards import payment_start
from billing.services.contacts import billing_contact_add
from billing.services.purchases import agreement_purchase
from credits_portal import services
from credits_portal.permissions import Role
from licensing.models import CsvUpload, DirectoryUser, SpendCap, SpendCapDefaults
from tests.builders import account_of
from usage.models import ExportJob, UsageRecord
from usage.services.aggregates import aggregates_add
from webhooks.models import WebhookEndpoint
from webhooks.services.endpoints import endpoint_create

pytestmark = pytest.mark.django_db

PUBLIC = {
    "login",
    "logout",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "healthz",
    "billing:stripe_webhook",  # Stripe's signature is its authentication
}
ANY_MEMBER = set(Role.values)
BILLING = {Role.GLOBAL, Role.BILLING}
GLOBAL = {Role.GLOBAL}
LICENSE = {Role.GLOBAL, Role.LICENSE}
REPORTS = {Role.GLOBAL, Role.BILLING, Role.REPORTS}

# URL name → (roles that may open it, the object its URL names, POST only?)
PAGES: dict[str, tuple[set[str], str | None, bool]] = {
    "home": (ANY_MEMBER, None, False),
    "password_change": (ANY_MEMBER, None, False),
    "password_change_done": (ANY_MEMBER, None, False),
    "switch_organisation": (ANY_MEMBER, None, True),
    "api_key_list": (GLOBAL, None, False),
    "audit_log": (GLOBAL, None, False),
    "api_key_create": (GLOBAL, None, False),
    "api_key_revoke": (GLOBAL, "api_key", False),
    "billing:alerts": (BILLING, None, False),
    "billing:contact_list": (BILLING, None, False),
    "billing:contact_add": (BILLING, None, False),
    "billing:contact_remove": (BILLING, "contact", False),
    "billing:credits": (BILLING, None, False),
    "billing:invoices": (BILLING, None, False),
    "billing:statement": (BILLING, None, False),
    "billing:invoice": (BILLING, "invoice", False),
    "billing:invoice_pdf": (BILLING, "invoice", False),
    "billing:add_funds": (BILLING, None, False),
    "billing:auto_recharge": (BILLING, None, True),
    "billing:auto_recharge_confirm": (BILLING, None, True),
    "billing:add_funds_agreement": (BILLING, None, True),
    "billing:payment": (BILLING, "payment", False),
    "billing:payment_charge": (BILLING, "payment", True),
    "billing:payment_return": (BILLING, "payment", False),
    "billing:payment_methods": (BILLING, None, False),
    "billing:card_replace": (BILLING, None, False),
    "billing:card_remove": (BILLING, "card", False),
    "billing:agreement_new": (BILLING, None, False),
    "billing:agreement_remove": (BILLING, "agreement", False),
    "billing:recharge_method": (BILLING, None, True),
    "usage:products": (BILLING, None, False),
    "usage:products_buy": (BILLING, None, False),
    "usage:products_buy_confirm": (BILLING, None, True),
    "usage:products_release": (BILLING, None, True),
    "usage:products_release_confirm": (BILLING, None, True),
    "usage:pricing": (ANY_MEMBER, None, False),
    "usage:fraud_guards": (BILLING, None, False),
    "usage:report": (REPORTS, None, False),
    "usage:export_csv": (REPORTS, None, False),
    "usage:export_xlsx": (REPORTS, None, False),
    "usage:record": (REPORTS, "usage_record", False),
    "usage:preferences": (REPORTS, None, True),
    "usage:columns": (REPORTS, None, False),
    "usage:export_job": (REPORTS, "export_job", False),
    "usage:export_download": (REPORTS, "export_job", False),
    "usage:pools": (REPORTS, None, False),
    "usage:refused_calls": (REPORTS, None, False),
    "usage:refused_calls_export": (REPORTS, None, False),
    "licensing:licenses": (LICENSE, None, False),
    "licensing:users": (LICENSE, None, False),
    "licensing:users_bulk": (LICENSE, None, True),
    "licensing:users_bulk_matching": (LICENSE, None, True),
    "licensing:users_bulk_matching_confirm": (LICENSE, None, True),
    "licensing:user": (LICENSE, "directory_user", False),
    "licensing:user_edit": (LICENSE, "directory_user", False),
    "licensing:users_import": (LICENSE, None, False),
    "licensing:users_import_preview": (LICENSE, "users_upload", False),
    "licensing:licenses_import": (LICENSE, None, False),
    "licensing:licenses_import_preview": (LICENSE, "licenses_upload", False),
    "webhooks:list": (GLOBAL, None, False),
    "webhooks:create": (GLOBAL, None, False),
    "webhooks:endpoint": (GLOBAL, "webhook", False),
    "webhooks:test": (GLOBAL, "webhook", True),
    "webhooks:enable": (GLOBAL, "webhook", True),
    "webhooks:delete": (GLOBAL, "webhook", False),
    "licensing:user_caps": (LICENSE, "directory_user", False),
    "licensing:caps": (LICENSE, None, False),
    "licensing:caps_import": (LICENSE, None, False),
    "licensing:caps_import_preview": (LICENSE, "caps_upload", False),
}
OBJECT_PAGES = sorted(name for name, (_roles, key, _post) in PAGES.items() if key)


def _objects(organisation) -> dict[str, str]:
    """One object of each kind that a portal URL can name, in `organisation`."""
    key, _ = services.api_key_create(organisation=organisation, name="k", scope="platform")
    contact = billing_contact_add(organisation=organisation, email=f"ap@{organisation.slug}.ex")
    account = account_of(organisation)
    agreement, _ = agreement_register(
        account=account, number=f"EA-{organisation.slug}", credit_limit="1000"
    )
    lot = agreement_purchase(
        account=account, agreement=agreement, amount=Decimal("100"), reference=str(uuid.uuid4())
    )
    payment = payment_start(account=account, amount="50", form_token=uuid.uuid4())
    # A card as Stripe.js leaves it saved; no request below reaches Stripe for it.
    card = Card.objects.create(
        account=account,
        stripe_payment_method_id="pm_test",
        brand="visa",
        last4="4242",
        exp_month=1,
        exp_year=2031,
    )
    person = DirectoryUser.objects.create(
        organisation=organisation,
        upn=f"ana@{organisation.slug}.example",
        display_name="Ana",
        usage_location="US",
    )
    users_upload = CsvUpload.objects.create(
        organisation=organisation,
        kind="users",
        filename="u.csv",
        content="upn,display_name,usage_location\nb@x.example,B,GB\n",
    )
    licenses_upload = CsvUpload.objects.create(
        organisation=organisation,
        kind="licenses",
        filename="l.csv",
        content="upn,assign,remove\nana@x.example,AUDIO_CONF,\n",
    )
    caps_upload = CsvUpload.objects.create(
        organisation=organisation,
        kind="caps",
        filename="c.csv",
        content=f"upn,daily,monthly\nana@{organisation.slug}.example,5.00,\n",
    )
    record = UsageRecord.objects.create(
        organisation=organisation,
        record_id=f"call/{organisation.slug}",
        kind="call",
        type="outbound",
        user=person,
        to_number="+14255550100",
        domestic=True,
        started_at=timezone.now(),
        units=1,
        rate_per_unit=Decimal("0.02"),
        charge=Decimal("0.02"),
        currency="USD",
        funded_by="credits",
    )
    aggregates_add(records=[record])  # what ingest does in the transaction that inserts it
    job = ExportJob.objects.create(
        organisation=organisation,
        user=key.created_by or person_login(organisation),
        kind="call",
        format="csv",
    )
    webhook, _secret = endpoint_create(
        organisation=organisation, url="https://93.184.215.14/hooks", events=["balance.zero"]
    )
    return {
        "webhook": str(webhook.code),
        "export_job": str(job.code),
        "usage_record": record.record_id,
        "directory_user": str(person.code),
        "users_upload": str(users_upload.code),
        "licenses_upload": str(licenses_upload.code),
        "caps_upload": str(caps_upload.code),
        "api_key": key.prefix,
        "contact": str(contact.code),
        "agreement": str(agreement.code),
        "invoice": str(lot.invoice.code),
        "payment": str(payment.code),
        "card": str(card.code),
    }


def person_login(organisation):
    from credits_portal.models import User

    return User.objects.get_or_create(email=f"exporter@{organisation.slug}.example")[0]


def url(name: str, objects: dict[str, str]) -> str:
    key = PAGES[name][1]
    return reverse(name, args=[objects[key]] if key else [])


def _portal_url_names(resolver: URLResolver | None = None, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in ("admin", "api"):
                continue  # Django admin is for operators (staff); the API has its own walk
            inner = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            names |= _portal_url_names(entry, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(prefix + entry.name)
    return names


def test_every_portal_url_is_in_the_table():
    assert _portal_url_names() == set(PAGES) | PUBLIC


@pytest.mark.parametrize("name", sorted(PAGES))
def test_anonymous_is_sent_to_login(name, org):
    address = url(name, _objects(org))
    client = Client()
    response = client.post(address) if PAGES[name][2] else client.get(address)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("name", sorted(set(PAGES) - {"switch_organisation"}))
def test_roles_follow_the_permission_matrix(name, role, client_as, org):
    allowed, _key, post_only = PAGES[name]
    address = url(name, _objects(org))
    client = client_as(role)
    response = client.post(address) if post_only else client.get(address)
    if role in allowed:
        assert response.status_code in (200, 302), response.status_code
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("name", OBJECT_PAGES)
def test_another_organisations_objects_answer_404(name, client_as, org, other_org):
    _objects(org)
    theirs = url(name, _objects(other_org))
    client = client_as(Role.GLOBAL)
    if not PAGES[name][2]:
        assert client.get(theirs).status_code == 404
    assert client.post(theirs).status_code in (404, 405)
    # …and nothing happened to them.
    assert other_org.api_keys.get().revoked_at is None
    assert other_org.billing_contacts.count() == 1
    assert other_org.enterprise_agreements.get().removed_at is None
    assert Card.objects.get(account__organisation=other_org).removed_at is None
    assert Payment.objects.get(account__organisation=other_org).status == "pending"
    assert CsvUpload.objects.filter(organisation=other_org, applied_at__isnull=True).count() == 3
    theirs = DirectoryUser.objects.get(organisation=other_org)
    assert not theirs.assignments.exists()
    assert (theirs.display_name, theirs.usage_location.code) == ("Ana", "US")
    webhook = WebhookEndpoint.objects.get(organisation=other_org)
    assert webhook.enabled and not webhook.deliveries.exists()
    assert not SpendCap.objects.filter(user=theirs).exists()
    assert not SpendCapDefaults.objects.filter(organisation=other_org).exists()
