from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # Connect the receiver of credits_portal.events.event_published.
        from webhooks import receivers  # noqa: F401
