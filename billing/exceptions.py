from credits_portal.exceptions import PortalError


class BillingError(PortalError):
    """A billing operation the portal refuses; the message says why."""


class AgreementNotRegistered(BillingError):
    """The agreement is not one an operator registered (and approved) for the organisation."""

    code = "agreement_not_registered"

    def __init__(self, message: str, *, field: str | None = "agreement") -> None:
        super().__init__(message, field=field, conflict=True)


class CreditLimitExceeded(BillingError):
    """The due invoices on the agreement plus this purchase would pass its credit limit."""

    code = "credit_limit_exceeded"

    def __init__(self, message: str, *, field: str | None = "amount") -> None:
        super().__init__(message, field=field, conflict=True)
