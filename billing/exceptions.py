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


class NoCredits(BillingError):
    """The organisation holds no credits (new commerce, Organisation.holds_credits): nothing
    that buys, recharges or spends them applies to it."""

    code = "new_commerce"
    MESSAGE = "New-commerce organisations cannot buy credits: their overage is billed after use."

    def __init__(self, *, field: str | None = None, conflict: bool = True) -> None:
        super().__init__(self.MESSAGE, field=field, conflict=conflict)

    @classmethod
    def unless_held(cls, organisation, *, field: str | None = None, conflict: bool = True) -> None:
        if not organisation.holds_credits:
            raise cls(field=field, conflict=conflict)
