"""Card purchases through Stripe: the saved card, the payment, and recording its success once.

The card is entered in Stripe.js and saved with a SetupIntent (never seen by our server); the
purchase is a PaymentIntent on that card, confirmed on our server and, when the bank asks for
authentication, finished in the browser. Funds are added by `payment_reconcile`, which re-reads
the PaymentIntent from Stripe; the browser's return, the `payment_intent.succeeded` webhook and a
retry all end there, and the lot's unique reference (the PaymentIntent id) adds them once.
Network calls happen outside database transactions.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from billing import gateway
from billing.exceptions import BillingError
from billing.models import Card, CreditAccount, FundLot, LedgerEntry, Payment
from billing.money import format_money, from_minor_units, to_minor_units
from billing.services.invoices import invoice_issue
from billing.services.ledger import lock_account, lot_add
from billing.services.purchases import CREDITS_LINE, purchase_amount
from credits_portal.models import Organisation

log = logging.getLogger(__name__)
Status = Payment.Status


def plain(obj) -> dict:
    """A StripeObject (metadata, errors) as a dict; stripe 16's objects have no `.get`."""
    return obj.to_dict() if obj is not None and hasattr(obj, "to_dict") else dict(obj or {})


def customer_ensure(account: CreditAccount) -> str:
    """The account's Stripe customer id, created the first time it is needed."""
    if account.stripe_customer_id:
        return account.stripe_customer_id
    organisation = account.organisation
    customer = gateway.client().v1.customers.create(
        params={
            "name": organisation.name,
            "metadata": {"organisation": organisation.slug},
        },
        options={"idempotency_key": f"customer-{account.pk}"},
    )
    # Another request may have created one meanwhile: the first one saved wins.
    CreditAccount.objects.filter(pk=account.pk, stripe_customer_id="").update(
        stripe_customer_id=customer.id
    )
    account.refresh_from_db(fields=["stripe_customer_id"])
    return account.stripe_customer_id


def card_current(account: CreditAccount) -> Card | None:
    return Card.objects.filter(account=account, removed_at__isnull=True).first()


def card_setup_intent(*, account: CreditAccount, payment: Payment | None = None) -> tuple[str, str]:
    """A SetupIntent for entering a card in Stripe.js: (id, client secret)."""
    metadata = {"organisation": account.organisation.slug}
    if payment is not None:
        metadata["payment"] = str(payment.code)
    intent = gateway.client().v1.setup_intents.create(
        params={
            "customer": customer_ensure(account),
            "usage": "off_session",
            "payment_method_types": ["card"],
            "metadata": metadata,
        }
    )
    return intent.id, intent.client_secret


def card_save_from_setup(*, account: CreditAccount, setup_intent_id: str) -> Card:
    """The card a succeeded SetupIntent of this account saved, now the account's card."""
    stripe = gateway.client().v1
    try:
        intent = stripe.setup_intents.retrieve(setup_intent_id)
    except gateway.GatewayError as exc:
        raise BillingError("The card could not be confirmed; enter it again.") from exc
    customer = customer_ensure(account)
    if (
        intent.customer != customer
        or plain(intent.metadata).get("organisation") != account.organisation.slug
    ):
        raise BillingError("The card could not be confirmed; enter it again.")
    if intent.status != "succeeded" or not intent.payment_method:
        raise BillingError("The card was not saved: it was declined or not authenticated.")
    method = stripe.payment_methods.retrieve(intent.payment_method)
    if method.customer != customer:
        method = stripe.payment_methods.attach(method.id, params={"customer": customer})
    card = _card_replace(account=account, method=method)
    # A new card is what a suspended auto-recharge waits for.
    from billing.services.recharge import recharge_resume

    recharge_resume(account=account)
    return card


def _card_replace(*, account: CreditAccount, method) -> Card:
    card = method.card
    with transaction.atomic():
        lock_account(account)
        current = card_current(account)
        if current and current.stripe_payment_method_id == method.id:
            return current
        if current:
            current.removed_at = timezone.now()
            current.save(update_fields=["removed_at"])
        saved = Card.objects.create(
            account=account,
            stripe_payment_method_id=method.id,
            brand=card.brand or "card",
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )
    if current:
        _detach(current)
    return saved


def _detach(card: Card) -> None:
    try:
        gateway.client().v1.payment_methods.detach(card.stripe_payment_method_id)
    except gateway.GatewayError:
        # Stripe keeps an unused card; we no longer charge it either way.
        log.warning("could not detach %s at Stripe", card.stripe_payment_method_id, exc_info=True)


def card_remove(*, account: CreditAccount, card: Card) -> None:
    """The card is no longer used; auto-recharge by card stops until a new one is saved."""
    with transaction.atomic():
        lock_account(account)
        updated = Card.objects.filter(pk=card.pk, removed_at__isnull=True).update(
            removed_at=timezone.now()
        )
    if updated:
        _detach(card)


def payment_start(
    *, account: CreditAccount, amount: object, form_token: uuid.UUID, actor=None
) -> Payment:
    """A card payment for `amount`; the same form submitted twice is the same payment."""
    if account.organisation.commerce == Organisation.Commerce.NEW:
        raise BillingError(
            "New-commerce organisations cannot buy credits: their overage is billed after use."
        )
    value = purchase_amount(account, amount)
    payment, created = Payment.objects.get_or_create(
        account=account,
        form_token=form_token,
        defaults={"amount": value, "created_by": actor},
    )
    if not created and payment.amount != value:
        raise BillingError("This form was already used for another amount; start again.")
    return payment


def payment_charge(*, payment: Payment, card: Card) -> Payment:
    """Charge `card` for the payment, once: a second request finds it charging or done."""
    if card.account_id != payment.account_id or card.removed_at is not None:
        raise BillingError("Choose the organisation's saved card.")
    won = Payment.objects.filter(pk=payment.pk, status=Status.PENDING).update(
        status=Status.CHARGING, failure_code="", failure_message=""
    )
    payment.refresh_from_db()
    if not won:
        return payment
    account = payment.account
    currency = str(account.currency)
    try:
        intent = gateway.client().v1.payment_intents.create(
            params={
                "amount": to_minor_units(payment.amount, currency),
                "currency": currency.lower(),
                "customer": customer_ensure(account),
                "payment_method": card.stripe_payment_method_id,
                "payment_method_types": ["card"],
                "confirm": True,
                "metadata": {
                    "payment": str(payment.code),
                    "organisation": account.organisation.slug,
                },
            },
            options={"idempotency_key": f"payment-{payment.code}"},
        )
    except gateway.CardError as exc:
        return _fail(payment, exc.code or "card_declined", exc.user_message or str(exc))
    except gateway.ConnectionFailed:
        # Not a decline: the charge may have happened. It stays "charging" until reconciled.
        log.warning("Stripe unreachable while charging payment %s", payment.code, exc_info=True)
        return payment
    Payment.objects.filter(pk=payment.pk).update(stripe_payment_intent_id=intent.id)
    payment.stripe_payment_intent_id = intent.id
    return _apply(payment, intent)


def payment_reconcile(*, payment: Payment) -> Payment:
    """Bring the payment in line with its PaymentIntent (browser return, webhook, sweep)."""
    if payment.status in (Status.SUCCEEDED, Status.FAILED) or not payment.stripe_payment_intent_id:
        return payment
    intent = gateway.client().v1.payment_intents.retrieve(payment.stripe_payment_intent_id)
    return _apply(payment, intent)


def payment_intent_client_secret(payment: Payment) -> str:
    return (
        gateway.client().v1.payment_intents.retrieve(payment.stripe_payment_intent_id).client_secret
    )


def _apply(payment: Payment, intent) -> Payment:
    if intent.status == "succeeded":
        return _record_success(payment, intent)
    if intent.status == "requires_action":
        Payment.objects.filter(pk=payment.pk, status=Status.CHARGING).update(
            status=Status.REQUIRES_ACTION
        )
    elif intent.status in ("requires_payment_method", "canceled"):
        error = plain(intent.last_payment_error)
        return _fail(
            payment,
            error.get("code") or intent.status,
            error.get("message") or "The card was declined.",
        )
    payment.refresh_from_db()
    return payment


def _fail(payment: Payment, code: str, message: str) -> Payment:
    Payment.objects.filter(
        pk=payment.pk, status__in=[Status.CHARGING, Status.REQUIRES_ACTION, Status.PENDING]
    ).update(status=Status.FAILED, failure_code=code[:100], failure_message=message[:500])
    payment.refresh_from_db()
    return payment


def _record_success(payment: Payment, intent) -> Payment:
    account = payment.account
    currency = str(account.currency)
    paid = from_minor_units(intent.amount, currency)
    if (
        plain(intent.metadata).get("payment") != str(payment.code)
        or intent.currency.upper() != currency
        or paid != payment.amount
    ):
        # Never add funds that do not match what was asked: leave it for a person to look at.
        log.error("PaymentIntent %s does not match payment %s", intent.id, payment.code)
        return payment
    card = Card.objects.filter(
        account=account, stripe_payment_method_id=intent.payment_method
    ).first()

    def issue(locked: CreditAccount):
        return invoice_issue(
            account=locked,
            total=paid,
            description=CREDITS_LINE,
            payment_description=f"Paid by {card}" if card else "Paid by card",
            payment_intent_id=intent.id,
        )

    with transaction.atomic():
        lock_account(account)
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        lot = lot_add(
            account=account,
            amount=paid,
            source=FundLot.Source.CARD,
            kind=LedgerEntry.Kind.PURCHASE,
            reference=f"stripe:{intent.id}",
            invoice_issuer=issue,
            actor=locked.created_by.email if locked.created_by else "",
            description=f"Card purchase of {format_money(paid, currency)}",
        )
        if locked.status != Status.SUCCEEDED:
            locked.status = Status.SUCCEEDED
            locked.lot = lot
            locked.failure_code = locked.failure_message = ""
            locked.save(
                update_fields=["status", "lot", "failure_code", "failure_message", "updated_at"]
            )
    payment.refresh_from_db()
    return payment


def row_for_intent(model, intent_id: str, code: str | None):
    """The Payment or RechargeAttempt a PaymentIntent was made for: by the saved id, else by the
    code in its metadata, saving the id then (a request that died before saving it)."""
    found = model.objects.filter(stripe_payment_intent_id=intent_id).first()
    if found is not None or not code:
        return found
    try:
        found = model.objects.filter(code=uuid.UUID(code)).first()
    except ValueError:
        return None
    if found is not None and not found.stripe_payment_intent_id:
        model.objects.filter(pk=found.pk, stripe_payment_intent_id="").update(
            stripe_payment_intent_id=intent_id
        )
        found.refresh_from_db()
    return found


def payment_for_intent(intent_id: str, metadata: dict) -> Payment | None:
    return row_for_intent(Payment, intent_id, metadata.get("payment"))


def amount_display(payment: Payment) -> str:
    return format_money(payment.amount, str(payment.account.currency))
