from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "PSTN and SMS usage"

    def ready(self) -> None:
        from billing.services.verify import register_check

        # The minute pools on Home and Communications Credits; a new organisation's fraud guards;
        # the runway alerts (receives alerts_changed).
        from usage import panels, signals  # noqa: F401
        from usage.services import runway_alerts  # noqa: F401
        from usage.services.aggregates import AGGREGATE_CHECKS
        from usage.services.holds import CHECKS

        # The pool invariant and the aggregates' equality with the records, by verify_ledger.
        for rule, sql in CHECKS + AGGREGATE_CHECKS:
            register_check(rule, sql)
