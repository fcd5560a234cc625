from django.dispatch import receiver

from billing.services.ledger import account_open
from credits_portal.signals import organisation_created


@receiver(organisation_created)
def open_credit_account(sender, organisation, **kwargs) -> None:
    account_open(organisation=organisation)
