class PortalError(Exception):
    """A request the portal refuses; the message is shown to the person or client as it is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class AlreadyExists(PortalError):
    pass
