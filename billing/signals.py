from decimal import Decimal

from django.dispatch import receiver

from billing.models import CreditAccount, LedgerEntry
from billing.money import amount_text
from billing.services.balance_alerts import alerts_check, alerts_default
from billing.services.ledger import account_open, credited, debited
from billing.services.notifications import notify_later
from billing.services.recharge import recharge_enqueue
from credits_portal.events import publish
from credits_portal.signals import organisation_created


@receiver(organisation_created)
def open_credit_account(sender, organisation, **kwargs) -> None:
    alerts_default(account=account_open(organisation=organisation))


@receiver(debited)
def after_debit(sender, account: CreditAccount, balance_before: Decimal, **kwargs) -> None:
    """Queued for after the commit: a recharge when below the trigger, an email on reaching zero,
    the low-balance and runway alerts the debit crossed (checked here, under the debit's lock)."""
    recharge_enqueue(account)
    if balance_before > 0 >= account.balance:
        notify_later(account=account, kind="balance_zero", balance=str(account.balance))
        # One occurrence per crossing: the debit's last entry names it (under the lock).
        entry = LedgerEntry.objects.filter(account=account).order_by("-id").values("id").first()
        currency = str(account.currency)
        publish(
            organisation_id=account.organisation_id,
            type="balance.zero",
            key=f"balance.zero:{account.pk}:{entry['id'] if entry else 0}",
            data={"balance": amount_text(account.balance, currency), "currency": currency},
        )
    alerts_check(account=account, balance_before=balance_before)


@receiver(credited)
def after_credit(sender, account: CreditAccount, **kwargs) -> None:
    """Funds added: the alerts the balance is back above re-arm (under the credit's lock)."""
    alerts_check(account=account)
