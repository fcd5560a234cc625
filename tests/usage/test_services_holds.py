"""Issue 13, finding 2: an authorization holds the plan minutes it promises, and every authorized
call is rated at ingest (pool first, then credits; what neither covers is debt or overage)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db.models import F

from billing.models import Reservation
from billing.services.verify import ledger_verify
from billing.tasks import release_reservations
from licensing.services import Change, license_change
from tests.builders import account_of, demo_rate_card, grant, licensed_user
from tests.processes import at_once
from usage.models import MinuteHold, PoolUsage, UsageRecord
from usage.services.authorize import Decision, call_authorize
from usage.services.ingest import usage_ingest
from usage.services.pools import month_of
from usage.tasks import release_holds

pytestmark = pytest.mark.django_db
LONDON = "+442071838750"  # 4420: 0.0210 a minute; domestic for a GB user
ANA = "ana@contoso.example"


def pool_with(organisation, left: int, size: int = 1200) -> None:
    """The GB domestic pool of this month with `left` of its `size` minutes unused."""
    PoolUsage.objects.create(
        organisation=organisation,
        month=month_of(datetime.now(UTC)),
        category="domestic",
        country="GB",
        used=size - left,
    )


def pool() -> PoolUsage:
    return PoolUsage.objects.get(organisation__slug="contoso", category="domestic", country="GB")


def authorize(organisation) -> Decision:
    return call_authorize(organisation=organisation, upn=ANA, call_type="outbound", to=LONDON)


def record_of(decision: Decision, n: int, seconds: int | None = None) -> dict:
    """The usage record of an authorized call that lasted `seconds` (its whole max_seconds)."""
    return {
        "id": f"call-{n}",
        "kind": "call",
        "type": "outbound",
        "user": ANA,
        "from": "+442071838000",
        "to": LONDON,
        "started_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "duration_seconds": decision.max_seconds if seconds is None else seconds,
        "authorization_id": decision.authorization_id,
    }


def concurrently(organisation, count: int = 10) -> list[Decision]:
    decisions: list[Decision] = []
    assert at_once(lambda _i: decisions.append(authorize(organisation)), count) == []
    assert len(decisions) == count
    return decisions


@pytest.mark.django_db(transaction=True)
def test_concurrent_plan_authorizations_never_promise_more_minutes_than_the_pool(person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")  # no Communications Credits
    pool_with(rated, left=100)
    decisions = concurrently(rated)
    allowed = [d for d in decisions if d.allowed]
    assert allowed and sum(d.max_seconds for d in allowed) <= 100 * 60
    assert {d.funded_by for d in allowed} == {"plan_minutes"}
    assert {d.reason for d in decisions if not d.allowed} <= {"no_credits_license"}
    assert pool().held == sum(d.max_seconds for d in allowed) // 60
    assert ledger_verify() == []
    # Every authorized call, each as long as it was allowed to be, is rated and paid by the pool.
    results = usage_ingest(
        organisation=rated, records=[record_of(d, n) for n, d in enumerate(allowed)]
    )
    assert [r.status for r in results] == ["rated"] * len(allowed)
    assert {r.funded_by for r in results} == {"plan_minutes"}
    assert (pool().used, pool().held) == (1100 + sum(r.plan_minutes for r in results), 0)
    assert pool().used <= 1200
    assert set(MinuteHold.objects.values_list("status", flat=True)) == {"settled"}


@pytest.mark.django_db(transaction=True)
def test_the_first_calls_of_a_month_share_a_new_pool_exactly(person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")  # 1,200 minutes, no row yet
    decisions = concurrently(rated)
    held = sorted(d.max_seconds // 60 for d in decisions if d.allowed)
    assert held == [240] * 5  # 4-hour calls: five of them hold the whole pool
    assert (pool().used, pool().held, PoolUsage.objects.count()) == (0, 1200, 1)


@pytest.mark.django_db(transaction=True)
def test_concurrent_credit_users_never_over_promise_minutes_or_money(person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    pool_with(rated, left=3)
    grant(rated, "0.50")  # 23 minutes at 0.0210
    decisions = concurrently(rated)
    allowed = [d for d in decisions if d.allowed]
    promised = sum(d.max_seconds for d in allowed) // 60
    assert allowed and promised <= 3 + int(Decimal("0.50") / Decimal("0.0210"))
    assert pool().held <= 3
    assert sum(r.amount for r in Reservation.objects.filter(status="open")) <= Decimal("0.50")
    results = usage_ingest(
        organisation=rated, records=[record_of(d, n) for n, d in enumerate(allowed)]
    )
    assert [r.status for r in results] == ["rated"] * len(allowed)
    assert sum(r.plan_minutes for r in results) <= 3 and pool().held == 0
    # What the calls cost beyond the pool was held; any overspend is a cent of rounding a call.
    assert account_of(rated).balance >= -Decimal("0.01") * len(allowed)


def test_a_record_whose_user_lost_the_license_since_authorize_is_still_rated(person, rated):
    ana = person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    decision = authorize(rated)
    assert decision.funded_by == "plan_minutes" and pool().held == 240
    license_change(
        organisation=rated,
        changes=[Change(ana, remove={"CALLING_DOMESTIC"})],
        actor="t",
        source="t",
    )
    (result,) = usage_ingest(organisation=rated, records=[record_of(decision, 1, seconds=600)])
    assert (result.status, result.funded_by, result.plan_minutes, result.charge) == (
        "rated",
        "plan_minutes",
        10,
        "0.00",
    )
    assert (pool().used, pool().held) == (10, 0)
    assert MinuteHold.objects.get(code=decision.authorization_id).status == "settled"
    # The same authorization does not cover a second record: that one follows today's rules.
    (again,) = usage_ingest(organisation=rated, records=[record_of(decision, 2, seconds=60)])
    assert again.status == "rejected" and "no_credits_license" in again.error


def test_a_call_longer_than_its_hold_is_billed_as_debt_not_rejected(person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")  # no Communications Credits
    pool_with(rated, left=5)
    decision = authorize(rated)
    assert (decision.allowed, decision.max_seconds) == (True, 300)
    (result,) = usage_ingest(organisation=rated, records=[record_of(decision, 1, seconds=420)])
    assert (result.status, result.plan_minutes, result.funded_by, result.charge) == (
        "rated",
        5,
        "credits",
        "0.04",  # 2 minutes beyond the hold at 0.0210
    )
    assert account_of(rated).balance == Decimal("-0.04") and account_of(rated).debt == Decimal(
        "0.04"
    )
    assert (pool().used, pool().held) == (1200, 0)


def test_a_full_pool_refuses_a_user_without_credits(person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    pool_with(rated, left=2)
    first, second = authorize(rated), authorize(rated)
    assert (first.allowed, first.max_seconds) == (True, 120)
    assert (second.allowed, second.reason) == (False, "no_credits_license")
    assert MinuteHold.objects.get().minutes == 2


def test_new_commerce_holds_pool_minutes_and_overage_beyond(client, newco):
    demo_rate_card()
    licensed_user(newco, "nia@newco.example", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    PoolUsage.objects.create(
        organisation=newco,
        month=month_of(datetime.now(UTC)),
        category="domestic",
        country="US",
        used=2990,
    )
    decision = call_authorize(
        organisation=newco, upn="nia@newco.example", call_type="outbound", to="+14255550123"
    )
    assert (decision.funded_by, decision.max_seconds) == ("plan_minutes", 14400)
    assert MinuteHold.objects.get(code=decision.authorization_id).minutes == 10
    record = {**record_of(decision, 1, seconds=900), "user": "nia@newco.example"}
    record["to"] = "+14255550123"
    (result,) = usage_ingest(organisation=newco, records=[record])
    assert (result.status, result.plan_minutes, result.funded_by) == ("rated", 10, "overage")


def test_expired_holds_are_released_by_the_minute_task(person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    pool_with(rated, left=100)
    decision = authorize(rated)
    assert pool().held == 100
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=decision.max_seconds - 1)):
        release_holds.delay()
        assert pool().held == 100  # not yet
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=5)):
        release_holds.delay()
        assert pool().held == 0
        assert MinuteHold.objects.get().status == "released"
        assert ledger_verify() == []
        # A record that comes late for a recently released hold is still authorized: the pool
        # has its minutes again, and the call is rated, even though the user lost the license.
        license_change(
            organisation=rated,
            changes=[Change(rated_user(rated), remove={"CALLING_DOMESTIC"})],
            actor="t",
            source="t",
        )
        (result,) = usage_ingest(organisation=rated, records=[record_of(decision, 1, seconds=90)])
        assert (result.status, result.funded_by, result.charge) == ("rated", "credits", "0.04")
    assert MinuteHold.objects.get().status == "settled" and pool().held == 0


def rated_user(organisation):
    from licensing.models import DirectoryUser

    return DirectoryUser.objects.get(organisation=organisation, upn=ANA)


def test_verify_ledger_checks_the_held_minutes(person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    authorize(rated)
    assert ledger_verify() == []
    PoolUsage.objects.update(held=F("held") + 7)
    (violation,) = ledger_verify()
    assert (
        violation.startswith("contoso: held is what open minute holds hold") and "247" in violation
    )
    assert ledger_verify(rated) == [violation]
    PoolUsage.objects.update(held=F("held") - 7)
    assert ledger_verify() == []


def test_a_record_without_an_authorization_takes_only_unheld_minutes(person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    pool_with(rated, left=10)
    grant(rated, "10")
    held = authorize(rated)
    assert pool().held == 10
    unauthorized = {**record_of(held, 1, seconds=300), "authorization_id": ""}
    (result,) = usage_ingest(organisation=rated, records=[unauthorized])
    assert (result.plan_minutes, result.funded_by) == (0, "credits")  # the 10 minutes are held
    (mine,) = usage_ingest(organisation=rated, records=[record_of(held, 2, seconds=300)])
    assert (mine.plan_minutes, mine.charge) == (5, "0.00")
    assert (pool().used, pool().held) == (1195, 0)
    assert UsageRecord.objects.count() == 2


def test_a_hold_past_its_expiry_but_not_yet_released_is_settled_by_its_record(person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    pool_with(rated, left=100)
    decision = authorize(rated)
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=5)):
        (result,) = usage_ingest(organisation=rated, records=[record_of(decision, 1, seconds=60)])
        assert (result.status, result.plan_minutes) == ("rated", 1)
        assert release_holds.delay().get() == 0  # nothing left to release
        assert release_reservations.delay().get() == 0
    assert (pool().used, pool().held) == (1101, 0)
    assert MinuteHold.objects.get().status == "settled"


def test_a_credit_reservation_authorizes_its_record_after_the_license_is_lost(person, rated):
    ana = person("ana", "US", "AUDIO_CONF", "COMMS_CREDITS")
    grant(rated, "5")
    decision = call_authorize(
        organisation=rated, upn=ANA, call_type="toll_free_dial_in", to="+18005550100"
    )
    assert decision.funded_by == "credits" and not MinuteHold.objects.exists()
    license_change(
        organisation=rated, changes=[Change(ana, remove={"COMMS_CREDITS"})], actor="t", source="t"
    )
    record = {**record_of(decision, 1, seconds=120), "type": "toll_free_dial_in"}
    record["to"] = "+18005550100"
    (result,) = usage_ingest(organisation=rated, records=[record])
    assert (result.status, result.funded_by, result.charge) == ("rated", "credits", "0.07")
    assert Reservation.objects.get(code=decision.authorization_id).status == "settled"
    assert account_of(rated).balance == Decimal("4.93") and account_of(rated).reserved == 0


def test_operators_see_the_holds_read_only(person, rated, admin_client):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    decision = authorize(rated)
    page = admin_client.get("/admin/usage/minutehold/")
    assert page.status_code == 200 and decision.authorization_id in page.content.decode()
    hold = MinuteHold.objects.get()
    assert admin_client.post(f"/admin/usage/minutehold/{hold.pk}/delete/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_fifty_authorizations_and_ingests_at_once(person, rated, settings):
    """Authorize then ingest, the same batch ten times at once, another organisation's id, one id
    named by two records in parallel batches, records of holds the minute task is releasing:
    never more minutes promised than the pool has, every authorized call rated once, no error."""
    from licensing.models import DirectoryUser
    from tests.builders import make_org, seats
    from usage.services.holds import holds_release_expired

    settings.AUTHORIZATION_MAX_SECONDS = 600  # 10-minute calls: 22 of them fill what is left
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")  # no Communications Credits
    pool_with(rated, left=220)
    fabrikam = make_org("fabrikam")
    seats(fabrikam, PHONE_SYSTEM=5, CALLING_DOMESTIC=5)
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC", org=fabrikam)
    foreign = call_authorize(
        organisation=fabrikam, upn="ana@fabrikam.example", call_type="outbound", to=LONDON
    )
    assert foreign.allowed
    pre = [authorize(rated) for _ in range(15)]
    assert all(d.allowed and d.max_seconds == 600 for d in pre)
    expired = [d.authorization_id for d in pre[10:]]
    MinuteHold.objects.filter(code__in=expired).update(
        expires_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    same_batch = [record_of(d, f"pre-{n}") for n, d in enumerate(pre[:5])]
    fresh: list[Decision] = []

    def attack(i: int) -> None:
        if i < 15:  # authorize, then the call's record
            decision = authorize(rated)
            fresh.append(decision)
            if decision.allowed:
                usage_ingest(organisation=rated, records=[record_of(decision, f"fresh-{i}")])
        elif i < 25:  # the same records, ten batches at once
            usage_ingest(organisation=rated, records=same_batch)
        elif i < 30:  # another organisation's authorization
            record = {
                **record_of(foreign, f"foreign-{i}"),
                "authorization_id": foreign.authorization_id,
            }
            usage_ingest(organisation=rated, records=[record])
        elif i < 40:  # one authorization named by two records, in two batches at once
            n = 5 + i % 5
            twin = "a" if i < 35 else "b"
            usage_ingest(organisation=rated, records=[record_of(pre[n], f"twin-{n}-{twin}")])
        elif i < 45:  # records of holds the minute task is releasing
            usage_ingest(organisation=rated, records=[record_of(pre[10 + i % 5], f"late-{i}")])
        else:
            holds_release_expired()

    assert at_once(attack, 50) == []
    size = 1200
    row = pool()
    assert row.used + row.held <= size and row.held == 0
    allowed = pre + [d for d in fresh if d.allowed]
    # 70 minutes were never held, 50 were released by the minute task: at most 12 more calls.
    assert 7 <= len(allowed) - len(pre) <= 12 and len(fresh) == 15
    records = UsageRecord.objects.filter(organisation=rated)
    assert row.used == size - 220 + sum(r.plan_minutes for r in records)
    for decision in allowed:  # every authorized call rated, its hold settled once
        assert records.filter(authorization_code=decision.authorization_id).exists()
        assert MinuteHold.objects.get(code=decision.authorization_id).status == "settled"
    assert records.filter(record_id__startswith="call-pre-").count() == 5
    foreign_hold = MinuteHold.objects.get(code=foreign.authorization_id)
    assert foreign_hold.status == "open" and foreign_hold.pool.organisation_id == fabrikam.pk
    assert DirectoryUser.objects.filter(organisation=fabrikam).count() == 1
    assert ledger_verify() == []


def test_held_minutes_pay_only_for_a_call_of_their_own_pool(person, rated):
    """A hold of ana's GB domestic pool does not pay for an international call the record
    reports instead: the hold is settled, its minutes go back to its pool, and the call is
    rated as authorized (into debt, not rejected)."""
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")  # no international minutes
    pool_with(rated, left=100)
    decision = authorize(rated)
    assert pool().held == 100
    record = {**record_of(decision, 1, seconds=600), "to": "+14255550123"}  # the US: 0.0200
    (result,) = usage_ingest(organisation=rated, records=[record])
    assert (result.status, result.plan_minutes, result.funded_by, result.charge) == (
        "rated",
        0,
        "credits",
        "0.19",
    )
    assert (pool().used, pool().held) == (1100, 0)
    assert MinuteHold.objects.get().status == "settled"
    assert ledger_verify() == []


def test_a_pool_shrunk_below_used_and_held_promises_nothing_more(person, rated):
    ana = person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    bob = person("bob", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")  # the pool is 2,400 minutes
    pool_with(rated, left=200, size=2400)
    decision = authorize(rated)
    assert (decision.max_seconds, pool().held) == (12_000, 200)
    license_change(
        organisation=rated,
        changes=[Change(bob, remove={"CALLING_DOMESTIC"})],
        actor="t",
        source="t",
    )  # 1,200 minutes now, 2,400 used or held
    second = call_authorize(
        organisation=rated, upn=ANA, call_type="outbound", to=LONDON, from_="+442071838000"
    )
    assert (second.allowed, second.reason) == (False, "no_credits_license")
    (result,) = usage_ingest(organisation=rated, records=[record_of(decision, 1, seconds=600)])
    assert (result.status, result.plan_minutes, result.charge) == ("rated", 10, "0.00")
    unheld = {**record_of(decision, 2, seconds=60), "authorization_id": ""}
    (refused,) = usage_ingest(organisation=rated, records=[unheld])
    assert refused.status == "rejected" and "no_credits_license" in refused.error
    assert (pool().used, pool().held) == (2210, 0)
    assert ana.pk and ledger_verify() == []


@pytest.mark.django_db(transaction=True)
def test_the_minute_task_releasing_credit_reservations_while_ingest_settles_them(
    person, rated, settings
):
    """Ingest locks the account, then closes its reservations; the minute task closes expired
    reservations, then updates their accounts: 25 of each at once, and no deadlock."""
    settings.AUTHORIZATION_MAX_SECONDS = 600
    person("ana", "US", "AUDIO_CONF", "COMMS_CREDITS")
    grant(rated, "100")
    decisions = [
        call_authorize(
            organisation=rated,
            upn="ana@contoso.example",
            call_type="toll_free_dial_in",
            to="+18005550100",
        )
        for _ in range(50)
    ]
    assert {(d.funded_by, d.max_seconds) for d in decisions} == {("credits", 600)}
    Reservation.objects.update(expires_at=datetime.now(UTC) - timedelta(minutes=1))

    def attack(i: int) -> None:
        if i % 2:
            release_reservations()
            return
        records = [
            {
                **record_of(decisions[n], n, seconds=60),
                "user": "ana@contoso.example",
                "type": "toll_free_dial_in",
                "to": "+18005550100",
            }
            for n in (i, i + 1)
        ]
        results = usage_ingest(organisation=rated, records=records)
        assert [r.status for r in results] == ["rated", "rated"]

    assert at_once(attack, 50) == []
    assert UsageRecord.objects.count() == 50
    assert not Reservation.objects.filter(status="open").exists()
    assert account_of(rated).reserved == 0
    assert ledger_verify() == []


@pytest.mark.django_db(transaction=True)
def test_the_minute_task_waits_for_no_ingest_holding_the_account(person, rated):
    """Ingest holds the account's lock while it settles a reservation; the minute task, finding
    that reservation expired, must not lock it and then wait for the account (a deadlock)."""
    import threading
    import time

    from django.db import transaction

    from billing.services.ledger import lock_account_of
    from billing.services.reservations import reservations_close

    person("ana", "US", "AUDIO_CONF", "COMMS_CREDITS")
    grant(rated, "10")
    decision = call_authorize(
        organisation=rated, upn=ANA, call_type="toll_free_dial_in", to="+18005550100"
    )
    Reservation.objects.update(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    locked = threading.Event()

    def step(i: int) -> None:
        if i == 0:  # ingest: the account, then (a moment later) its reservation
            with transaction.atomic():
                account = lock_account_of(rated)
                locked.set()
                time.sleep(0.5)
                reservations_close(
                    account=account, codes=[decision.authorization_id], status="settled"
                )
        else:
            locked.wait()
            release_reservations()

    assert at_once(step, 2) == []
    assert Reservation.objects.get().status in ("settled", "released")
    assert account_of(rated).reserved == 0 and ledger_verify() == []


def test_a_record_days_late_for_a_released_hold_is_still_rated(person, rated):
    """Ingest takes records up to USAGE_MAX_AGE_DAYS old: one that names an authorization the
    portal gave is rated however long ago its hold was released, never refused for want of a
    license (a platform that replays two days of records after an outage is still billed)."""
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")  # no Communications Credits
    pool_with(rated, left=100)
    decision = authorize(rated)
    record = record_of(decision, 1, seconds=600)
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=5)):
        release_holds.delay()
    # Another call takes the minutes back, so the late record finds the pool used up.
    pool_with_used = PoolUsage.objects.filter(pk=pool().pk)
    pool_with_used.update(used=F("used") + 100)
    with time_machine.travel(datetime.now(UTC) + timedelta(days=3)):
        (result,) = usage_ingest(organisation=rated, records=[record])
    assert (result.status, result.funded_by, result.charge) == ("rated", "credits", "0.21")
    assert MinuteHold.objects.get().status == "settled"
    assert account_of(rated).debt == Decimal("0.21")
    assert ledger_verify() == []


@pytest.mark.django_db(transaction=True)
def test_a_batch_being_rated_does_not_hold_up_credit_authorizations(person, rated):
    """Ingest takes the account's row lock only for its debits (usage/services/locks.py): while a
    batch of the same organisation is still being rated, a credit-funded call is authorized at
    once. Waiting for the batch would end in the lock timeout set below, an error, not a pass."""
    import threading
    from unittest import mock

    from django.db import connection

    from usage.services import ingest

    person("ana", "US", "AUDIO_CONF", "COMMS_CREDITS")
    grant(rated, "10")
    toll_free = {"organisation": rated, "upn": ANA, "call_type": "toll_free_dial_in"}
    first = call_authorize(**toll_free, to="+18005550100")
    record = {
        "id": "call-being-rated",
        "kind": "call",
        "type": "toll_free_dial_in",
        "user": ANA,
        "from": "+14255550100",
        "to": "+18005550100",
        "started_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "duration_seconds": 120,
        "authorization_id": first.authorization_id,
    }
    rating, go_on = threading.Event(), threading.Event()
    add = ingest.aggregates_add

    def paused(**kwargs) -> None:  # the batch stops after its records and aggregates are in
        add(**kwargs)
        rating.set()
        assert go_on.wait(10)

    results, decisions = [], []

    def step(i: int) -> None:
        if i == 0:
            results.extend(usage_ingest(organisation=rated, records=[record]))
            return
        assert rating.wait(10)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")
            decisions.append(call_authorize(**toll_free, to="+18005550199"))
        finally:
            go_on.set()

    with mock.patch.object(ingest, "aggregates_add", paused):
        assert at_once(step, 2) == []
    [second] = decisions
    assert second.allowed and second.funded_by == "credits"
    assert [r.status for r in results] == ["rated"]
    statuses = dict(Reservation.objects.values_list("code", "status"))
    assert statuses == {first.authorization_id: "settled", second.authorization_id: "open"}
    assert ledger_verify() == []
