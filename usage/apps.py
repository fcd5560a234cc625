from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "PSTN and SMS usage"

    def ready(self) -> None:
        from billing.services.verify import register_check
        from usage import panels  # noqa: F401  (the minute pools on Home and Communications Credits)
        from usage.services import runway_alerts  # noqa: F401  (receives alerts_changed)
        from usage.services.aggregates import AGGREGATE_CHECKS
        from usage.services.holds import CHECKS

        # The pool invariant and the aggregates' equality with the records, by verify_ledger.
        for rule, sql in CHECKS + AGGREGATE_CHECKS:
            register_check(rule, sql)
