from django.dispatch import receiver

from credits_portal.signals import organisation_created
from usage.services.fraud_guards import fraud_guard_create


@receiver(organisation_created)
def default_fraud_guards(sender, organisation, **kwargs) -> None:
    """A new organisation starts with the default toll-fraud guards (fraud_guards.defaults_for)."""
    fraud_guard_create(organisation=organisation)
