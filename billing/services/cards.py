"""Card purchases: the saved card, the payment, and bringing it in line with the gateway.

The card is entered in Stripe.js and saved with a SetupIntent (never seen by our server); the
purchase is a payment on that card, confirmed on our server and, when the bank asks for
authentication, finished in the browser. The funds are recorded by `billing.services.payments`,
which honours only the payment saved on our row (or our customer's, naming the row); the browser's
return, the webhook and a retry all end there, and the lot's unique reference adds them once.
The gateway is reached through `billing.gateway`'s interface, outside database transactions.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from billing import gateway
from billing.exceptions import BillingError, NoCredits
from billing.gateway import GatewayCard, GatewayPayment, PaymentStatus
from billing.models import Card, CreditAccount, Payment
from billing.money import format_money, to_minor_units
from billing.services import payments
from billing.services.ledger import lock_account
from billing.services.purchases import purchase_amount

log = logging.getLogger(__name__)
Status = Payment.Status


def customer_ensure(account: CreditAccount) -> str:
    """The account's customer id at the gateway, created the first time it is needed."""
    if account.stripe_customer_id:
        return account.stripe_customer_id
    organisation = account.organisation
    customer = gateway.active().customer_create(
        name=organisation.name,
        metadata={"organisation": organisation.slug},
        key=f"customer-{account.pk}",
    )
    # Another request may have created one meanwhile: the first one saved wins.
    CreditAccount.objects.filter(pk=account.pk, stripe_customer_id="").update(
        stripe_customer_id=customer
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
    setup = gateway.active().setup_create(customer=customer_ensure(account), metadata=metadata)
    return setup.id, setup.client_secret


def card_save_from_setup(*, account: CreditAccount, setup_intent_id: str) -> Card:
    """The card a succeeded SetupIntent of this account saved, now the account's card."""
    gw = gateway.active()
    try:
        setup = gw.setup_retrieve(setup_intent_id)
    except gateway.GatewayError as exc:
        raise BillingError("The card could not be confirmed; enter it again.") from exc
    customer = customer_ensure(account)
    if (
        setup.customer != customer
        or setup.metadata.get("organisation") != account.organisation.slug
    ):
        raise BillingError("The card could not be confirmed; enter it again.")
    if not setup.succeeded or not setup.payment_method:
        raise BillingError("The card was not saved: it was declined or not authenticated.")
    method = gw.card_retrieve(setup.payment_method)
    if method.customer != customer:
        method = gw.card_attach(method.id, customer=customer)
    return _card_replace(account=account, method=method)


def _card_replace(*, account: CreditAccount, method: GatewayCard) -> Card:
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
            brand=method.brand,
            last4=method.last4,
            exp_month=method.exp_month,
            exp_year=method.exp_year,
        )
    if current:
        _detach(current)
    return saved


def _detach(card: Card) -> None:
    try:
        gateway.active().card_detach(card.stripe_payment_method_id)
    except gateway.GatewayError:
        # The gateway keeps an unused card; we no longer charge it either way.
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
    NoCredits.unless_held(account.organisation, conflict=False)
    value = purchase_amount(account, amount)
    payment, created = Payment.objects.get_or_create(
        account=account,
        form_token=form_token,
        defaults={"amount": value, "created_by": actor},
    )
    if not created and payment.amount != value:
        raise BillingError("This form was already used for another amount; start again.")
    return payment


def payment_charge(*, payment: Payment, card: Card, off_session: bool = False) -> Payment:
    """Charge `card` for the payment, once: a second request finds it charging or done.
    `off_session` when no cardholder is there to authenticate (the API): the bank's request
    for it is then a decline."""
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
        answer = gateway.active().charge_create(
            amount_minor=to_minor_units(payment.amount, currency),
            currency=currency,
            customer=customer_ensure(account),
            payment_method=card.stripe_payment_method_id,
            metadata=payments.payment_metadata(row=payment, account=account),
            key=f"payment-{payment.code}",
            off_session=off_session,
        )
    except gateway.CardError as exc:
        return _fail(payment, exc.code or "card_declined", exc.message)
    except gateway.ConnectionFailed:
        # Not a decline: the charge may have happened. It stays "charging" until reconciled.
        log.warning("gateway unreachable while charging payment %s", payment.code, exc_info=True)
        return payment
    payments.payment_id_save(row=payment, payment_id=answer.id)
    return _apply(payment, answer)


def payment_reconcile(*, payment: Payment) -> Payment:
    """Bring the payment in line with its gateway payment (browser return, API retry, webhook).

    A payment left `charging` with no id saved (the request died between the gateway's answer
    and saving it) is looked for at the gateway: our customer's payment naming this row."""
    if payment.status in (Status.SUCCEEDED, Status.FAILED):
        return payment
    gw = gateway.active()
    if payment.stripe_payment_intent_id:
        return _apply(payment, gw.payment_retrieve(payment.stripe_payment_intent_id))
    if payment.status != Status.CHARGING:
        return payment
    account = CreditAccount.objects.get(pk=payment.account_id)
    found = gw.payment_find(
        customer=account.stripe_customer_id,
        metadata={payments.PURPOSES[Payment].metadata_key: str(payment.code)},
    )
    return payment if found is None else _apply(payment, found)


def payment_apply(*, payment: Payment, answer: GatewayPayment) -> Payment:
    """Bring the payment in line with a gateway's answer, if it is the payment's own (webhook)."""
    if payment.status in (Status.SUCCEEDED, Status.FAILED):
        return payment
    return _apply(payment, answer)


def payment_intent_client_secret(payment: Payment) -> str:
    return gateway.active().payment_retrieve(payment.stripe_payment_intent_id).client_secret


def _apply(payment: Payment, answer: GatewayPayment) -> Payment:
    if not payments.payment_owned(row=payment, answer=answer):
        payment.refresh_from_db()
        return payment
    if answer.status == PaymentStatus.SUCCEEDED:
        return payments.payment_succeeded(row=payment, answer=answer)
    if answer.status == PaymentStatus.REQUIRES_ACTION:
        Payment.objects.filter(pk=payment.pk, status=Status.CHARGING).update(
            status=Status.REQUIRES_ACTION
        )
    elif answer.status == PaymentStatus.FAILED:
        return _fail(
            payment,
            answer.error_code or "card_declined",
            answer.error_message or "The card was declined.",
        )
    payment.refresh_from_db()
    return payment


def _fail(payment: Payment, code: str, message: str) -> Payment:
    Payment.objects.filter(
        pk=payment.pk, status__in=[Status.CHARGING, Status.REQUIRES_ACTION, Status.PENDING]
    ).update(status=Status.FAILED, failure_code=code[:100], failure_message=message[:500])
    payment.refresh_from_db()
    return payment


def amount_display(payment: Payment) -> str:
    return format_money(payment.amount, str(payment.account.currency))
