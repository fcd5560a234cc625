from __future__ import annotations

import pytest

from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver(settings):
    """A real HTTP receiver on 127.0.0.1, which deliveries may reach only with
    WEBHOOKS_ALLOW_PRIVATE set (as here)."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def tls_receiver(settings):
    """The receiver over TLS, as https://localhost:<port>/ with a self-signed certificate."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    running = Receiver(tls=True).start()
    yield running
    running.stop()
