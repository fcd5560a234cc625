"""Issue 19: `GET|PUT /api/v1/users/{upn}/caps`: values, hostile input, tenancy and scope."""

from __future__ import annotations

from decimal import Decimal

import pytest

from licensing.models import SpendCap
from tests.builders import make_api_key, make_user
from usage.services.authorize import call_authorize

pytestmark = pytest.mark.django_db
ANA = "ana@contoso.example"
UK = "+442071838750"


@pytest.fixture
def admin(client, rated):
    key = make_api_key(rated, "admin")

    def send(method: str, upn: str = ANA, body=None, *, key=key):
        return getattr(client, method)(
            f"/api/v1/users/{upn}/caps",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    return send


@pytest.fixture
def ana(person):
    return person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")


def test_put_then_get(admin, ana, rated):
    response = admin("put", body={"daily": "20.00", "monthly": "200"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {
        "upn": ANA,
        "currency": "USD",
        "daily": "20.00",
        "monthly": "200.00",
        "default_daily": None,
        "default_monthly": None,
        "organisation_daily": None,
        "spent_today": "0.00",
        "spent_this_month": "0.00",
    }
    assert admin("get", upn="ANA@contoso.example").json() == body
    cap = SpendCap.objects.get(user=ana)
    assert (cap.daily, cap.monthly) == (Decimal("20.00"), Decimal("200.00"))
    # Authorization sees it at once, and GET counts what the call may still cost.
    from tests.builders import grant

    grant(rated, "100")
    admin("put", body={"daily": "1.00", "monthly": None})
    decision = call_authorize(organisation=rated, upn=ANA, call_type="outbound", to=UK)
    assert decision.max_seconds == 47 * 60
    assert admin("get").json()["spent_today"] == "0.99"
    # Both null: no caps of her own.
    assert admin("put", body={"daily": None, "monthly": None}).json()["daily"] is None
    assert not SpendCap.objects.filter(user=ana).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"daily": 20, "monthly": None}, "daily"),
        ({"daily": 20.5, "monthly": None}, "daily"),
        ({"daily": True, "monthly": None}, "daily"),
        ({"daily": ["20"], "monthly": None}, "daily"),
        ({"daily": None, "monthly": {"a": 1}}, "monthly"),
        ({"daily": "-1.00", "monthly": None}, "daily"),
        ({"daily": "1.001", "monthly": None}, "daily"),
        ({"daily": None, "monthly": "1e3"}, "monthly"),
        ({"daily": None, "monthly": "NaN"}, "monthly"),
        ({"daily": "x" * 10_000, "monthly": None}, "daily"),
        ({"daily": "20.00\x00", "monthly": None}, "daily"),
        ({"daily": None, "monthly": "99999999999999"}, "monthly"),
        ({"monthly": "1.00"}, "daily"),
    ],
)
def test_hostile_bodies_are_422_naming_the_field(admin, ana, body, field):
    response = admin("put", body=body)
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"], response.json()
    assert not SpendCap.objects.exists()


def test_both_bad_fields_are_named(admin, ana):
    response = admin("put", body={"daily": "-1", "monthly": "0.001"})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"daily", "monthly"}


def test_not_json_is_400(client, admin, ana, rated):
    response = client.put(
        f"/api/v1/users/{ANA}/caps",
        "{nope",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {make_api_key(rated, 'admin')}",
    )
    assert response.status_code == 400


def test_another_organisation_s_user_is_404(admin, ana, other_org):
    theirs = make_user(other_org, "zoe@fabrikam.example")
    assert admin("get", upn=theirs.upn).status_code == 404
    assert admin("put", upn=theirs.upn, body={"daily": "1", "monthly": None}).status_code == 404
    assert admin("put", upn="x" * 10_000, body={"daily": "1", "monthly": None}).status_code in (
        404,
        422,
    )
    assert not SpendCap.objects.exists()
    # Their own admin key reaches their user, not ours.
    theirs_key = make_api_key(other_org, "admin")
    assert admin("get", upn=ANA, key=theirs_key).status_code == 404
    assert admin("get", upn=theirs.upn, key=theirs_key).status_code == 200


def test_a_platform_key_and_no_key_are_refused(admin, ana, rated, client):
    platform = make_api_key(rated, "platform")
    assert admin("get", key=platform).status_code == 403
    assert admin("put", key=platform, body={"daily": "1", "monthly": None}).status_code == 403
    assert client.get(f"/api/v1/users/{ANA}/caps").status_code == 401
    assert not SpendCap.objects.exists()
