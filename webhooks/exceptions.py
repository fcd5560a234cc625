from credits_portal.exceptions import PortalError


class WebhookError(PortalError):
    """A webhook operation the portal refuses; the message says why."""
