from credits_portal.exceptions import PortalError


class BillingError(PortalError):
    """A billing operation the portal refuses; the message says why."""
