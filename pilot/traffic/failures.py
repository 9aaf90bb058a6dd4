"""How an exchange through the recording proxy breaks off, and whose doing it was."""


class Failure(Exception):
    """An exchange broken off: the client connection ends. The message is its `error`."""


class ClientFailure(Failure):
    """The client went away, stayed silent too long, or sent a malformed request (`status` is
    then the error answer due to it)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class UpstreamFailure(Failure):
    """The service closed the connection or answered malformed HTTP."""
