from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Connect the organisation_created receiver and the Home card.
        from billing import home, signals  # noqa: F401
