from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "PSTN and SMS usage"

    def ready(self) -> None:
        from usage import panels  # noqa: F401  (the minute pools on Home and Communications Credits)
