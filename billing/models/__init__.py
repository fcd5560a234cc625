"""Billing: the credit account, fund lots, the append-only ledger, payments and invoices.

The invariants of DESIGN.md "The ledger" are held by PostgreSQL where it can (check constraints,
unique references, PROTECT foreign keys, a trigger that refuses UPDATE and DELETE on ledger
entries) and checked as a whole by `billing.services.ledger.ledger_verify`.

One module a concern: accounts (contacts, agreements, the credit account, cards), invoices, the
ledger (lots, entries, reservations), payments (card payments, recharges, charges, Stripe
events) and the notifications outbox; alerts in `billing.alert_models`.
"""

from billing.alert_models import AlertKind, BalanceAlert, BalanceAlertSent
from billing.models.accounts import AMOUNT, BillingContact, Card, CreditAccount, EnterpriseAgreement
from billing.models.invoices import Invoice, InvoiceLine
from billing.models.ledger import FundLot, LedgerEntry, Reservation
from billing.models.notifications import Notification
from billing.models.payments import Charge, Payment, RechargeAttempt, StripeEvent

__all__ = [
    "AMOUNT",
    "AlertKind",
    "BalanceAlert",
    "BalanceAlertSent",
    "BillingContact",
    "Card",
    "Charge",
    "CreditAccount",
    "EnterpriseAgreement",
    "FundLot",
    "Invoice",
    "InvoiceLine",
    "LedgerEntry",
    "Notification",
    "Payment",
    "RechargeAttempt",
    "Reservation",
    "StripeEvent",
]
