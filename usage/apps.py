from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "PSTN and SMS usage"

    def ready(self) -> None:
        from billing.services.verify import register_check
        from usage import panels  # noqa: F401  (the minute pools on Home and Communications Credits)
        from usage.services.holds import CHECKS

        for rule, sql in CHECKS:  # the pool invariant, checked by verify_ledger
            register_check(rule, sql)
