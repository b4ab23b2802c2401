"""Client mistakes, answered with an ``error`` server event (the connection stays open)."""

from __future__ import annotations

from typing import Any

__all__ = ["ClientError", "error_event"]


class ClientError(Exception):
    """A client event the real service would refuse; becomes an ``error`` server event.

    The connection stays open, as with the real service.
    """

    def __init__(
        self,
        code: str | None,
        message: str,
        *,
        param: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.error_type = error_type

    def event(self, client_event_id: str | None) -> dict[str, Any]:
        return error_event(
            self.error_type, self.code, self.message, param=self.param, event_id=client_event_id
        )


def error_event(
    error_type: str,
    code: str | None,
    message: str,
    *,
    param: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """An ``error`` server event (without its own ``event_id``, which sending adds)."""
    return {
        "type": "error",
        "error": {
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id,
        },
    }
