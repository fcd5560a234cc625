"""Server-side request forgery: only http(s) URLs without credentials to public addresses,
checked when saved and again, against what the name resolves to then, at every delivery."""

from __future__ import annotations

import ipaddress
import socket
from unittest import mock

import pytest

from webhooks.exceptions import WebhookError
from webhooks.guard import address_problem
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services.endpoints import endpoint_create
from webhooks.services.events import event_record

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # a global unicast address; nothing in these tests connects to it


@pytest.fixture(autouse=True)
def _private_refused(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.8.9.10:8080/hook", "loopback"),
        ("http://localhost:8000/hook", "localhost resolves to"),  # a name resolving to 127.0.0.1
        ("http://10.1.2.3/hook", "private"),
        ("http://172.16.0.1/hook", "private"),
        ("http://192.168.1.20/hook", "private"),
        ("http://100.64.0.1/hook", "private"),  # carrier-grade NAT
        ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped
        ("http://[::ffff:a9fe:a9fe]/hook", "link-local"),  # 169.254.169.254, mapped
        ("http://[64:ff9b::a00:1]/hook", "private"),  # NAT64 of 10.0.0.1
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[fd00::1]/hook", "private"),
        ("http://0.0.0.0/hook", "not a unicast"),
        ("http://2130706433/hook", "loopback"),  # 127.0.0.1 as one number
        ("http://0x7f.1/hook", "loopback"),  # and in hex
        ("http://224.0.0.1/hook", "not a unicast"),
        ("ftp://93.184.215.14/hook", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("gopher://93.184.215.14:70/_", "Only http:// and https://"),
        ("javascript:alert(1)", "Only http:// and https://"),
        ("https://user:secret@93.184.215.14/hook", "No user name or password"),
        ("https://user@93.184.215.14/hook", "No user name or password"),
        ("https:///hook", "no host"),
        ("https://93.184.215.14:99999/hook", "Not a valid URL"),
        ("https://93.184.215.14/hook#part", "No #fragment"),
        ("https://93.184.215.14/ho ok", "without spaces"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ],
)
def test_unsafe_urls_are_refused_when_saved(org, url, why):
    with pytest.raises(WebhookError) as refused:
        endpoint_create(organisation=org, url=url, events=["balance.zero"])
    assert refused.value.field == "url"
    assert why in refused.value.errors["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_a_public_address_is_accepted(org):
    endpoint, secret = endpoint_create(
        organisation=org, url=f"https://{PUBLIC}/hooks?x=1", events=["balance.zero"]
    )
    assert endpoint.url == f"https://{PUBLIC}/hooks?x=1" and secret.startswith("whsec_")


def test_one_private_address_among_public_ones_is_refused(org):
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, 443)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 443)),
    ]
    with (
        mock.patch("webhooks.guard.socket.getaddrinfo", return_value=answers),
        pytest.raises(WebhookError, match=r"10\.0\.0\.7 is a private address"),
    ):
        endpoint_create(
            organisation=org, url="https://hooks.contoso.example/", events=["cap.reached"]
        )


def test_every_embedded_form_is_checked():
    for text in ["2002:7f00:1::1", "2001:0:4136:e378:8000:63bf:80ff:fffe"]:  # 6to4, Teredo
        assert address_problem(ipaddress.ip_address(text)) is not None
    assert address_problem(ipaddress.ip_address("2606:4700::1111")) is None


def _deliver_one(org, run, url):
    endpoint = WebhookEndpoint.objects.get(url=url)
    run(event_record, organisation_id=org.pk, type="balance.zero", key="z1", data={})
    return WebhookDelivery.objects.get(endpoint=endpoint)


def test_a_name_rebound_to_loopback_after_saving_is_refused_at_delivery(
    org, receiver, settings, django_capture_on_commit_callbacks
):
    """DNS rebinding: the name resolved to a public address when saved, to 127.0.0.1 (where a
    server listens) when delivered. Nothing reaches it."""
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"http://hooks.contoso.example:{port}/hooks/credits"

    def resolving_to(address):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    with mock.patch("webhooks.guard.socket.getaddrinfo", return_value=resolving_to(PUBLIC)):
        endpoint_create(organisation=org, url=url, events=["balance.zero"])

    def run(call, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(**kwargs)

    with mock.patch("webhooks.guard.socket.getaddrinfo", return_value=resolving_to("127.0.0.1")):
        delivery = _deliver_one(org, run, url)
    assert receiver.received == []
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.response_code is None
    assert delivery.error.startswith("Refused: hooks.contoso.example resolves to 127.0.0.1")


def test_an_endpoint_saved_while_private_was_allowed_is_refused_once_it_is_not(
    org, receiver, settings, django_capture_on_commit_callbacks
):
    endpoint_create(organisation=org, url=receiver.url, events=["balance.zero"])
    settings.WEBHOOKS_ALLOW_PRIVATE = False

    def run(call, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(**kwargs)

    delivery = _deliver_one(org, run, receiver.url)
    assert receiver.received == []
    assert "127.0.0.1 is a loopback address" in delivery.error


def test_the_setting_lets_a_private_receiver_be_saved(org, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    endpoint, _ = endpoint_create(
        organisation=org, url="http://127.0.0.1:9/hook", events=["balance.zero"]
    )
    assert endpoint.pk
    # …never another scheme, nor credentials.
    for url in ["ftp://127.0.0.1/", "http://a:b@127.0.0.1/"]:
        with pytest.raises(WebhookError):
            endpoint_create(organisation=org, url=url, events=["balance.zero"])


def test_a_bad_timeout_setting_stops_start_up():
    import os
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={**os.environ, "WEBHOOKS_TIMEOUT": "60"},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "WEBHOOKS_TIMEOUT must be more than 0 and at most 20 seconds" in result.stderr
