"""Ephemeral client secrets: ``POST /v1/realtime/client_secrets`` (and the translation
endpoint's ``/v1/realtime/translations/client_secrets``) mint an ``ek_...`` key that a browser
or phone app presents on the WebSocket instead of the real key.

The answer has the official ``ClientSecretCreateResponse`` shape (``value``, ``expires_at``,
``session``); the session is the one the key's WebSocket sessions start with. A key is good until
``expires_at`` on the fake's clock, for as many sessions as are opened before then.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._errors import ClientError
from ._ids import IdFactory
from ._serve import HttpRequest, HttpResponse
from ._session import (
    SESSION_DURATION_S,
    apply_session_update,
    default_session,
    default_transcription_session,
    expect_object,
)
from ._translation import apply_translation_update, default_translation_session

__all__ = [
    "REALTIME_SECRETS_PATH",
    "TRANSLATION_SECRETS_PATH",
    "ClientSecrets",
    "Minted",
]

REALTIME_SECRETS_PATH = "/v1/realtime/client_secrets"
TRANSLATION_SECRETS_PATH = "/v1/realtime/translations/client_secrets"
DEFAULT_EXPIRES_AFTER = 600
MIN_EXPIRES_AFTER = 10
MAX_EXPIRES_AFTER = 7200
DEFAULT_MODEL = "gpt-realtime"
DEFAULT_TRANSLATION_MODEL = "gpt-realtime-translate"


@dataclass(frozen=True, repr=False)
class Minted:
    """One minted key: when it expires, and the session its connections start with."""

    expires_at: int
    session: dict[str, Any]
    translation: bool

    def __repr__(self) -> str:
        return f"Minted(expires_at={self.expires_at}, translation={self.translation})"


def _error(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> HttpResponse:
    error = {"message": message, "type": "invalid_request_error", "code": code, "param": param}
    return HttpResponse(status, json.dumps({"error": error}).encode())


def _expires_after(value: object) -> int:
    given = expect_object(value, "expires_after")
    unknown = set(given) - {"anchor", "seconds"}
    if unknown:
        name = sorted(unknown)[0]
        raise ClientError(
            "unknown_parameter",
            f"Unknown parameter: 'expires_after.{name}'.",
            param=f"expires_after.{name}",
        )
    if given.get("anchor", "created_at") != "created_at":
        raise ClientError(
            "invalid_value",
            "Invalid value for 'expires_after.anchor': only 'created_at' is supported.",
            param="expires_after.anchor",
        )
    seconds = given.get("seconds", DEFAULT_EXPIRES_AFTER)
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise ClientError(
            "invalid_type",
            "Invalid type for 'expires_after.seconds': expected an integer.",
            param="expires_after.seconds",
        )
    if not MIN_EXPIRES_AFTER <= seconds <= MAX_EXPIRES_AFTER:
        raise ClientError(
            "integer_out_of_range",
            f"Invalid 'expires_after.seconds': expected a value between {MIN_EXPIRES_AFTER} "
            f"and {MAX_EXPIRES_AFTER}, got {seconds}.",
            param="expires_after.seconds",
        )
    return seconds


class ClientSecrets:
    """The keys one fake minted, and the two endpoints that mint them.

    Args:
        ids: Session ids come from here.
        clock: The fake's clock (Unix seconds): ``expires_at`` and expiry are measured on it.
    """

    def __init__(self, ids: IdFactory, clock: Callable[[], float]) -> None:
        self._ids = ids
        self._clock = clock
        self._minted: dict[str, Minted] = {}

    def clear(self) -> None:
        """Forget every minted key."""
        self._minted.clear()

    def lookup(self, key: str) -> Minted | None:
        """The minted key ``key``, if it exists and has not expired."""
        minted = self._minted.get(key)
        if minted is None or self._clock() >= minted.expires_at:
            return None
        return minted

    def session_for(self, minted: Minted) -> dict[str, Any]:
        """The session a connection made with ``minted`` starts with: the minted configuration,
        with a session id and an expiry of its own."""
        session = copy.deepcopy(minted.session)
        session["id"] = self._ids.session()
        session["expires_at"] = int(self._clock()) + SESSION_DURATION_S
        return session

    def mint(self, request: HttpRequest, *, translation: bool) -> HttpResponse:
        """Answer one mint request (the caller has checked the credentials)."""
        if request.method != "POST":
            return _error(405, f"Invalid method for this path: use POST, not {request.method}.")
        try:
            body: Any = json.loads(request.body.decode("utf-8")) if request.body else {}
        except (UnicodeDecodeError, ValueError, RecursionError):
            return _error(400, "The request body is not valid JSON.", code="invalid_json")
        try:
            if not isinstance(body, dict):
                raise ClientError("invalid_type", "Invalid type for the body: expected an object.")
            unknown = set(body) - {"session", "expires_after"}
            if unknown:
                name = sorted(unknown)[0]
                raise ClientError("unknown_parameter", f"Unknown parameter: '{name}'.", param=name)
            seconds = _expires_after(body.get("expires_after") or {})
            if translation:
                session = self._translation_session(body.get("session"))
            else:
                session = self._realtime_session(body.get("session"))
        except ClientError as refusal:
            return _error(400, refusal.message, code=refusal.code, param=refusal.param)
        value = "ek_" + secrets.token_hex(16)
        expires_at = int(self._clock()) + seconds
        self._minted[value] = Minted(expires_at, session, translation)
        answer = {"value": value, "expires_at": expires_at, "session": session}
        return HttpResponse(200, json.dumps(answer).encode())

    def _realtime_session(self, given: object) -> dict[str, Any]:
        now = self._clock()
        if given is None:
            return default_session(self._ids.session(), DEFAULT_MODEL, now)
        config = expect_object(given, "session")
        if config.get("type") == "transcription":
            base = default_transcription_session(self._ids.session(), now)
        else:
            model = config.get("model", DEFAULT_MODEL)
            base = default_session(self._ids.session(), str(model), now)
        return apply_session_update(base, config)

    def _translation_session(self, given: object) -> dict[str, Any]:
        if given is None:
            raise ClientError(
                "missing_required_parameter",
                "Missing required parameter: 'session'.",
                param="session",
            )
        config = dict(expect_object(given, "session"))
        model = config.pop("model", None)
        if not isinstance(model, str) or not model:
            raise ClientError(
                "missing_required_parameter",
                "Missing required parameter: 'session.model'.",
                param="session.model",
            )
        base = default_translation_session(self._ids.session(), model, self._clock())
        return apply_translation_update(base, config)
