from __future__ import annotations

from django.db import IntegrityError, transaction

from billing.exceptions import BillingError
from billing.models import BillingContact
from credits_portal.models import Organisation


def billing_contact_add(
    *, organisation: Organisation, email: str, name: str = ""
) -> BillingContact:
    email = email.strip()
    try:
        with transaction.atomic():
            return BillingContact.objects.create(
                organisation=organisation, email=email, name=name.strip()
            )
    except IntegrityError as exc:
        raise BillingError(f"{email} is already a billing contact.", field="email") from exc


def billing_contact_remove(*, contact: BillingContact) -> None:
    contact.delete()
