from credits_portal.exceptions import PortalError


class LicensingError(PortalError):
    """A licensing operation the portal refuses; the message says why."""

    # Every field's problems, when a whole record was checked (a CSV row, an API body).
    errors: dict[str, list[str]] | None = None


class AssignmentRefused(LicensingError):
    """Some users' changes cannot be applied, so none was.

    `by_sku` maps a UPN to {SKU the reason is about (or "" for the user): [reasons]}; `problems`
    flattens it to the reasons per UPN.
    """

    def __init__(self, by_sku: dict[str, dict[str, list[str]]]) -> None:
        self.by_sku = by_sku
        self.problems = {
            upn: [m for msgs in skus.values() for m in msgs] for upn, skus in by_sku.items()
        }
        first_upn, first = next(iter(self.problems.items()))
        super().__init__(f"{first_upn}: {first[0]}", conflict=True)
