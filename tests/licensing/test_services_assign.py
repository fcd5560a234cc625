"""Every prerequisite rule both ways, seats, all-or-nothing, history, and the seat race."""

from __future__ import annotations

import pytest

from licensing.exceptions import AssignmentRefused, LicensingError
from licensing.models import Assignment, AssignmentEvent, Subscription
from licensing.services import Change, license_change, user_licenses
from tests.builders import make_user, seats, seats_of_every_sku
from tests.processes import at_once

pytestmark = pytest.mark.django_db


def change(org, user, assign=(), remove=()):
    return license_change(
        organisation=org,
        changes=[Change(user, set(assign), set(remove))],
        actor="tester",
        source="test",
    )[user.pk]


@pytest.fixture
def stocked(org):
    seats_of_every_sku(org, 10)
    return org


@pytest.mark.parametrize("plan", ["CALLING_DOMESTIC", "CALLING_INTL", "CALLING_PAYG"])
@pytest.mark.parametrize(
    ("with_", "allowed"),
    [((), False), (("AUDIO_CONF",), False), (("PHONE_SYSTEM",), True), (("E5",), True)],
)
def test_calling_plans_need_phone_system(stocked, plan, with_, allowed):
    user = make_user(stocked)
    if allowed:
        assert change(stocked, user, {plan, *with_}) == {plan, *with_}
    else:
        with pytest.raises(AssignmentRefused, match="needs Phone System"):
            change(stocked, user, {plan, *with_})
        assert user_licenses(user) == set()


@pytest.mark.parametrize(
    ("with_", "allowed"),
    [
        ((), False),
        (("AUDIO_CONF",), True),
        (("PHONE_SYSTEM",), True),
        (("E5",), True),
    ],
)
def test_communications_credits_need_audio_conferencing_or_phone_system(stocked, with_, allowed):
    user = make_user(stocked)
    wanted = {"COMMS_CREDITS", *with_}
    if allowed:
        assert change(stocked, user, wanted) == wanted
    else:
        with pytest.raises(AssignmentRefused, match="needs Audio Conferencing or Phone System"):
            change(stocked, user, wanted)


@pytest.mark.parametrize(
    ("prerequisite", "dependant"),
    [("PHONE_SYSTEM", "CALLING_DOMESTIC"), ("E5", "CALLING_INTL"), ("AUDIO_CONF", "COMMS_CREDITS")],
)
def test_a_license_another_still_needs_cannot_be_removed(stocked, prerequisite, dependant):
    user = make_user(stocked)
    change(stocked, user, {prerequisite, dependant})
    with pytest.raises(AssignmentRefused, match="cannot be removed") as refused:
        change(stocked, user, remove={prerequisite})
    assert refused.value.by_sku[user.upn].keys() == {prerequisite}
    assert user_licenses(user) == {prerequisite, dependant}
    assert change(stocked, user, remove={prerequisite, dependant}) == set(), "both at once is fine"


def test_another_prerequisite_keeps_it_allowed(stocked):
    user = make_user(stocked)
    change(stocked, user, {"AUDIO_CONF", "PHONE_SYSTEM", "COMMS_CREDITS"})
    assert change(stocked, user, remove={"AUDIO_CONF"}) == {"PHONE_SYSTEM", "COMMS_CREDITS"}


def test_seats_are_used_and_freed(org):
    seats(org, AUDIO_CONF=1)
    first, second = make_user(org), make_user(org)
    change(org, first, {"AUDIO_CONF"})
    with pytest.raises(AssignmentRefused, match="No Audio Conferencing seats left"):
        change(org, second, {"AUDIO_CONF"})
    change(org, first, remove={"AUDIO_CONF"})
    change(org, second, {"AUDIO_CONF"})
    assert Subscription.objects.get(organisation=org).assigned == 1


def test_no_subscription_means_no_seats(org):
    with pytest.raises(AssignmentRefused, match="0 of 0"):
        change(org, make_user(org), {"AUDIO_CONF"})


def test_many_users_at_once_is_all_or_nothing(org):
    seats(org, AUDIO_CONF=2)
    users = [make_user(org) for _ in range(3)]
    with pytest.raises(AssignmentRefused) as refused:
        license_change(
            organisation=org,
            changes=[Change(u, {"AUDIO_CONF"}) for u in users],
            actor="t",
            source="t",
        )
    assert len(refused.value.problems) == 3
    assert not Assignment.objects.exists() and Subscription.objects.get().assigned == 0


def test_unknown_skus_and_contradictions_are_invalid(stocked):
    user = make_user(stocked)
    with pytest.raises(LicensingError, match="Unknown license BOGUS"):
        change(stocked, user, {"BOGUS"})
    with pytest.raises(LicensingError, match="both assigned and removed"):
        change(stocked, user, {"AUDIO_CONF"}, {"AUDIO_CONF"})


def test_another_organisations_user_is_refused(stocked, other_org):
    with pytest.raises(LicensingError):
        change(stocked, make_user(other_org), {"AUDIO_CONF"})


def test_history_records_who_what_and_how(stocked):
    user = make_user(stocked)
    change(stocked, user, {"PHONE_SYSTEM", "CALLING_DOMESTIC"})
    change(stocked, user, remove={"CALLING_DOMESTIC"})
    events = [
        (e.action, e.product.sku, e.actor, e.source) for e in AssignmentEvent.objects.order_by("id")
    ]
    assert events == [
        ("assigned", "CALLING_DOMESTIC", "tester", "test"),
        ("assigned", "PHONE_SYSTEM", "tester", "test"),
        ("removed", "CALLING_DOMESTIC", "tester", "test"),
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_assignments_never_oversell_seats(org):
    seats(org, PHONE_SYSTEM=5)
    users = [make_user(org) for _ in range(12)]
    outcomes: list[str] = []

    def assign(i: int) -> None:
        try:
            change(org, users[i], {"PHONE_SYSTEM"})
            outcomes.append("ok")
        except AssignmentRefused:
            outcomes.append("refused")

    assert at_once(assign, len(users)) == []
    assert sorted(outcomes) == ["ok"] * 5 + ["refused"] * 7
    subscription = Subscription.objects.get(organisation=org)
    assert (
        subscription.assigned == 5 == Assignment.objects.filter(product__sku="PHONE_SYSTEM").count()
    )
