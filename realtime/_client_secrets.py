"""Ephemeral client secrets: a backend mints a short-lived ``ek_...`` key for a browser or
phone app, which connects with it instead of the real key.

``POST /v1/realtime/client_secrets`` (``/v1/realtime/translations/client_secrets`` for
translation sessions) on the host of ``ModelConfig.url``, over HTTPS (HTTP for a ``ws://``
URL), with httpx. The same credential rules as the WebSocket handshake apply (no key in clear
text to a remote host), and neither the key nor the minted secret ever shows in a repr or an
error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._config import ModelConfig, build_request, credentials
from ._errors import ConnError, mask_secrets

__all__ = ["ClientSecret", "create_client_secret"]


@dataclass(frozen=True, repr=False)
class ClientSecret:
    """A minted ephemeral key: connect with ``ModelConfig(api_key=secret.value)``.

    Attributes:
        value: The key (``ek_...``). Never shown by ``repr``.
        expires_at: When the key stops opening sessions, in Unix seconds (sessions opened
            before then go on).
        session: The session configuration the key's sessions start with, as the service
            answered it (a ``realtime``, ``transcription`` or ``translation`` session).
    """

    value: str
    expires_at: int
    session: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        kind = self.session.get("type") if isinstance(self.session, Mapping) else None
        return f"ClientSecret(value='ek_***', expires_at={self.expires_at}, session_type={kind!r})"


def _endpoint(ws_url: str, translation: bool) -> str:
    """The REST URL beside the WebSocket URL: ``wss://h/v1/realtime`` →
    ``https://h/v1/realtime/client_secrets``."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    path = parts.path.rstrip("/")
    if path.endswith("/translations"):
        path = path.removesuffix("/translations")
    path += "/translations/client_secrets" if translation else "/client_secrets"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


async def create_client_secret(
    config: ModelConfig | None = None,
    *,
    session: Mapping[str, Any] | None = None,
    expires_after: Mapping[str, Any] | None = None,
    translation: bool = False,
) -> ClientSecret:
    """Mint an ephemeral client secret for a browser or phone app.

    Args:
        config: Where and with which key (``ModelConfig.url`` names the Realtime endpoint; the
            secret is minted on the same host). ``None`` is ``ModelConfig()``.
        session: The session configuration the secret's sessions start with (a ``realtime``
            or ``transcription`` session; for ``translation=True`` a translation session,
            whose ``model`` is required).
        expires_after: ``{"anchor": "created_at", "seconds": 10..7200}`` (default 600 s).
        translation: Mint a key for live translation sessions.

    Returns:
        The minted secret; ``repr`` masks its value.

    Raises:
        ConnError: The service refused (``status_code`` and the parsed ``body`` set), could not
            be reached, answered something that is not a client secret, or the request would
            send the key in clear text to a remote host. The key and any minted value are
            masked in its text and body.
    """
    # httpx is imported here: importing the core never loads a concrete HTTP stack.
    import httpx

    config = config if config is not None else ModelConfig()
    request = await build_request(config, None)
    url = _endpoint(request.url, translation)
    secrets = credentials(request.headers)
    body: dict[str, Any] = {}
    if session is not None:
        body["session"] = dict(session)
    if expires_after is not None:
        body["expires_after"] = dict(expires_after)
    headers = [*request.headers, ("Content-Type", "application/json")]
    timeout = httpx.Timeout(config.connect_timeout)
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            answer = await client.post(url, headers=headers, content=json.dumps(body).encode())
    except httpx.HTTPError as exc:
        # httpx's messages can hold the URL, never the headers; mask all the same.
        error = ConnError(
            f"creating a client secret at {url} failed: {type(exc).__name__}: {exc}",
            secrets=secrets,
        )
        error.mask(secrets)
        raise error from None
    try:
        parsed: Any = answer.json()
    except ValueError:
        parsed = mask_secrets(answer.text[:2000], secrets)
    if not answer.is_success:
        raise ConnError(
            f"creating a client secret was refused with HTTP {answer.status_code}",
            status_code=answer.status_code,
            body=parsed,
            secrets=secrets,
        )
    value = parsed.get("value") if isinstance(parsed, dict) else None
    expires_at = parsed.get("expires_at") if isinstance(parsed, dict) else None
    minted_session = parsed.get("session") if isinstance(parsed, dict) else None
    if (
        not isinstance(value, str)
        or isinstance(expires_at, bool)
        or not isinstance(expires_at, int)
        or not isinstance(minted_session, dict)
    ):
        # The answer may still hold a secret: only its shape is reported.
        shape = sorted(parsed) if isinstance(parsed, dict) else type(parsed).__name__
        raise ConnError(
            f"the answer to creating a client secret is not a client secret "
            f"(HTTP {answer.status_code}, fields: {shape})",
            status_code=answer.status_code,
            secrets=secrets,
        )
    return ClientSecret(value=value, expires_at=expires_at, session=minted_session)
