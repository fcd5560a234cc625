"""One hostile record is `rejected` naming its field; the good records beside it are rated and
the batch answers 200 (issue 14, finding 2)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from tests.builders import account_of, grant
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MANCHESTER = "+441612345678"  # 0.0230 a minute


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


def call(record_id: str = "c", **extra) -> dict:
    return {
        "id": record_id,
        "kind": "call",
        "type": "outbound",
        "user": "ana@contoso.example",
        "from": "+14255550100",
        "to": MANCHESTER,
        "started_at": "2026-11-20T09:15:00Z",
        "duration_seconds": 60,
        **extra,
    }


def sms(record_id: str = "s", **extra) -> dict:
    return {**call(record_id, kind="sms", type="sms"), **extra}


HOSTILE = [
    ("duration_seconds", sms(duration_seconds=-1)),
    ("duration_seconds", sms(duration_seconds=True)),
    ("duration_seconds", sms(duration_seconds=-9223372036854775808)),
    ("duration_seconds", sms(duration_seconds=2**63)),
    ("duration_seconds", sms(duration_seconds=1.5)),
    ("duration_seconds", call(duration_seconds=-9223372036854775808)),
    ("duration_seconds", call(duration_seconds=1e308)),
    ("type", call(type=["outbound"])),
    ("type", call(type={"a": 1})),
    ("type", sms(type=["sms"])),
    ("kind", call(kind=["call"])),
    ("kind", call(kind={"call": 1})),
    ("started_at", call(started_at="2026-02-30T10:00:00Z")),
    ("started_at", call(started_at=["2026-11-20T09:15:00Z"])),
    ("id", call("bad\ud800")),
    ("id", call(["c"])),
    ("user", call(user="ana\ud800@contoso.example")),
    ("user", call(user={"upn": "ana@contoso.example"})),
    ("user", call(user="a" * 300 + "@contoso.example")),
    ("authorization_id", call(authorization_id="\ud800")),
    ("authorization_id", call(authorization_id=["x"])),
    ("conference_id", call(conference_id="conf\ud800")),
    ("to", call(to="+44\ud800")),
    ("to", call(to=["+441612345678"])),
    ("from", call(**{"from": "\ud800"})),
    ("from", call(**{"from": 14255550100})),
]


@pytest.mark.parametrize(
    ("field", "record"), HOSTILE, ids=[f"{f}-{i}" for i, (f, _) in enumerate(HOSTILE)]
)
def test_a_hostile_record_is_rejected_beside_good_ones(platform, person, rated, field, record):
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "10")
    batch = [call("before"), {**record, "id": record["id"]}, call("after")]
    if record["id"] in ("c", "s"):
        batch[1]["id"] = "hostile"
    response = platform("/usage/records", {"records": batch})
    assert response.status_code == 200, response.content
    found = response.json()["results"]
    assert [r["status"] for r in found] == ["rated", "rejected", "rated"], found
    assert found[1]["error"].startswith(f"{field}: "), found[1]
    assert set(UsageRecord.objects.values_list("record_id", flat=True)) == {"before", "after"}
    assert account_of(rated).balance == Decimal("10") - 2 * Decimal("0.02")


def test_a_rejected_record_echoes_only_a_clean_id(platform, person, rated):
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    response = platform("/usage/records", {"records": [call("x\ud800"), call("y\x00")]})
    assert response.status_code == 200, response.content
    assert [r["id"] for r in response.json()["results"]] == ["", ""]
