import pytest
from django.db import transaction

from credits_portal.events import event_published, publish


@pytest.fixture
def received():
    events = []

    def receiver(sender, **kwargs):
        events.append(kwargs)

    event_published.connect(receiver, weak=False)
    yield events
    event_published.disconnect(receiver)


@pytest.mark.django_db(transaction=True)
def test_an_event_is_sent_after_its_transaction_commits(received):
    with transaction.atomic():
        publish(organisation_id=7, type="balance.zero", key="k1", data={"balance": "0.00"})
        assert received == []
    assert [(e["organisation_id"], e["type"], e["key"], e["data"]) for e in received] == [
        (7, "balance.zero", "k1", {"balance": "0.00"})
    ]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_event_is_never_sent(received):
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(organisation_id=7, type="balance.zero", key="k2", data={})
        raise RuntimeError
    assert received == []


def test_an_unknown_type_is_refused():
    with pytest.raises(ValueError, match="unknown event type"):
        publish(organisation_id=7, type="balance.nope", key="k", data={})
