from __future__ import annotations

import contextlib
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import demo_rate_card, licensed_user, make_api_key, seats_of_every_sku
from tests.sip.harness import ApiSwitch, Caller, Kamailio, Uas, missing


@pytest.fixture(scope="module")
def sip_stack(live_server, tmp_path_factory):
    """Kamailio with contrib/kamailio's config, a SIPp UAS as the far end, and the switch
    between Kamailio and the live server: started once for the module."""
    if reason := missing():
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("sip")
    # The live server's first request imports the whole project: not in a call's time.
    started = time.monotonic()
    warm_up = urllib.request.Request(
        f"{live_server.url}/api/v1/calls/authorize", b"{}", method="POST"
    )
    with contextlib.suppress(urllib.error.HTTPError):  # 401: no key, which is all it asks
        urllib.request.urlopen(warm_up, timeout=60).read()
    print(f"live server warm in {time.monotonic() - started:.1f} s")
    port = int(live_server.url.rsplit(":", 1)[1])
    switch = ApiSwitch(port)
    uas = Uas(workdir)
    uas.start()
    stack = SipStack(workdir, f"http://127.0.0.1:{switch.port}", f"sip:127.0.0.1:{uas.port}")
    kamailio = Kamailio(workdir, stack.portal_url, stack.next_hop)
    try:
        kamailio.start()
        stack.kamailio, stack.switch, stack.caller = kamailio, switch, Caller(workdir, kamailio)
        yield stack
    finally:
        kamailio.stop()
        uas.stop()
        switch.down()


@dataclass
class SipStack:
    workdir: Path
    portal_url: str  # the switch in front of the live server
    next_hop: str  # the UAS
    kamailio: Kamailio | None = None
    switch: ApiSwitch | None = None
    caller: Caller | None = None


@pytest.fixture
def kamailio(sip_stack, transactional_db):
    kamailio, switch = sip_stack.kamailio, sip_stack.switch
    if switch.listener is None:  # a test that switched the portal off and failed before on
        switch.up()
    shutil.rmtree(kamailio.spool, ignore_errors=True)
    kamailio.spool.mkdir()
    (kamailio.spool / "rejected").mkdir()
    return kamailio


@pytest.fixture
def api_switch(sip_stack, kamailio):
    return sip_stack.switch


@pytest.fixture
def dial(sip_stack, kamailio):
    return sip_stack.caller


class SipOrganisation:
    """An organisation as Kamailio's mapping file knows it: its platform key, its SIP users
    (`sip_user@pbx.contoso.example`) and its toll-free numbers."""

    def __init__(self, organisation, kamailio: Kamailio) -> None:
        self.organisation = organisation
        self.kamailio = kamailio
        self.proxies = [kamailio]  # every Kamailio a test started: each reads its own mapping
        self.key = make_api_key(organisation, "platform")
        self.users: dict = {}
        self.toll_free: dict = {}
        self.publish()

    def person(self, sip_user: str, upn: str, number: str, *skus: str):
        user = licensed_user(self.organisation, upn, "US", *skus)
        identity = {"organisation": self.organisation.slug, "upn": upn, "number": number}
        self.users[f"{sip_user}@pbx.contoso.example"] = identity
        self.publish()
        return user

    def toll_free_number(self, number: str, organiser: str) -> None:
        self.toll_free[number] = organiser
        self.publish()

    def publish(self) -> None:
        organisation = {"platform_key": self.key, "toll_free": self.toll_free}
        for proxy in self.proxies:
            proxy.map(users=self.users, organisations={self.organisation.slug: organisation})


@pytest.fixture
def sip_org(org, kamailio):
    """contoso with the demo rate card, seats of everything, and Kamailio's mapping for it."""
    demo_rate_card()
    seats_of_every_sku(org, 60)
    return SipOrganisation(org, kamailio)
