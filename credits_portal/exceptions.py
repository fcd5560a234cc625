class PortalError(Exception):
    """A request the portal refuses; the message is shown to the person or client as it is."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        conflict: bool = False,
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # Every invalid field's problems when several were checked (`message` names the first).
        if errors is not None:
            self.errors = errors
        # A conflict with the current state (409), rather than an invalid value (422).
        self.conflict = conflict


class AlreadyExists(PortalError):
    pass
