"""Security review items that hold across the whole portal."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from credits_portal.permissions import Role
from tests.credits_portal.test_views_tenancy import PAGES, PUBLIC, _objects, url

pytestmark = pytest.mark.django_db


def test_csp_allows_stripe_js_and_nothing_else_from_outside(client_as, org):
    response = client_as(Role.BILLING).get(reverse("billing:credits"))
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert (
        "'unsafe-inline'" not in directives["script-src"]
        and "'unsafe-eval'" not in directives["script-src"]
    )
    stripe_js = re.match(r"https?://[^/]+", settings.STRIPE_JS_URL).group(0)
    outside = set(re.findall(r"https?://[^\s;]+", policy))
    api = re.match(r"https?://[^/]+", settings.STRIPE_API_BASE or "https://api.stripe.com").group(0)
    assert outside <= {stripe_js, api, "https://hooks.stripe.com"}
    assert stripe_js in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


def test_clickjacking_protection(client, org):
    response = client.get(reverse("login"))
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_form_refuses_a_cross_site_post(name, members, org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(members[Role.GLOBAL])
    response = client.post(url(name, _objects(org)), {"anything": "x"})
    assert response.status_code in (403, 405), response.status_code


@pytest.mark.parametrize("name", sorted(PUBLIC - {"healthz", "billing:stripe_webhook", "logout"}))
def test_public_forms_refuse_a_cross_site_post_too(name, org):
    args = ["MQ", "set-password"] if name == "password_reset_confirm" else []
    path = reverse(name, args=args)
    response = Client(enforce_csrf_checks=True).post(
        path, {"username": "a@b.c", "password": "x", "email": "a@b.c"}
    )
    assert response.status_code in (403, 405), response.status_code
